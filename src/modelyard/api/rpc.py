"""REST routes built from the ``@endpoint`` marks of the domain stores.

For each store named in :data:`modelyard.backend.STORE_CLASSES`, every marked method becomes one
FastAPI route under ``/api/v1`` (see :mod:`modelyard.transport` for the contract):

* parameters named in the path template are path parameters;
* for ``GET``/``DELETE``/``HEAD`` the other parameters are query parameters;
* for ``POST``/``PUT``/``PATCH`` they form one JSON object, a pydantic model made with
  :func:`pydantic.create_model` (unknown keys are refused);
* the return annotation is the response model (a ``None`` return with status 204 sends no body).

So the OpenAPI spec describes each route exactly as the Python method, and the client
(:mod:`modelyard.client.rpc`) can call it knowing only the same method.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic_core import PydanticSerializationError
from starlette.responses import Response

from ..access import resource_value
from ..backend import STORE_CLASSES
from ..errors import InvalidParameter
from ..transport import endpoints_of
from .auth import authorize_resource
from .contract import API_PREFIX, PATH_PARAM, EndpointInfo, describe_endpoint
from .errors import ERROR_RESPONSES

__all__ = ["API_PREFIX", "load_store_classes", "store_router", "stores_router"]


def load_store_classes(
    store_classes: Mapping[str, str] | None = None,
) -> tuple[dict[str, type], list[str]]:
    """The importable store classes, and the names skipped because their module does not exist
    yet (a domain still being written). Any other import error is raised."""
    import importlib

    found: dict[str, type] = {}
    skipped: list[str] = []
    for name, target in (STORE_CLASSES if store_classes is None else store_classes).items():
        module, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
                skipped.append(name)
                continue
            raise
        found[name] = getattr(mod, attr)
    return found, skipped


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\W]+", text) if part)


def _safe_field(name: str) -> str:
    """A pydantic field name for a parameter that would shadow a BaseModel attribute."""
    if name.startswith("model_") or hasattr(BaseModel, name):
        return f"{name}_"
    return name


def _body_model(info: EndpointInfo) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name in info.body_names:
        param = info.signature.parameters[name]
        default = ... if param.default is inspect.Parameter.empty else param.default
        field_name = _safe_field(name)
        if field_name != name:
            fields[field_name] = (info.hints[name], Field(default, alias=name))
        else:
            fields[field_name] = (info.hints[name], default)
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{_camel(info.store)}{_camel(info.spec.name)}Request",
        __config__=ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=True),
        __doc__=info.spec.summary,
        **fields,
    )
    return model


class _Serializer:
    """JSON for a return value: the fast path dumps it as annotated; a value of another shape
    (a dict where a model was declared) is validated first, so the wire always matches the spec."""

    def __init__(self, annotation: Any) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def __call__(self, value: Any) -> bytes:
        try:
            return self.adapter.dump_json(value, warnings="error")
        except PydanticSerializationError:
            return self.adapter.dump_json(self.adapter.validate_python(value))


def _make_handler(
    info: EndpointInfo, get_store: Callable[[Request, str], Any]
) -> Callable[..., Any]:
    method_name = info.spec.name
    body_model = _body_model(info) if info.body_names else None
    no_content = info.returns is type(None) and info.spec.status_code == 204
    serialize = _Serializer(info.returns)
    status = info.spec.status_code

    known_query = frozenset(info.query_names)
    resource = info.spec.resource

    def handler(request: Request, **kwargs: Any) -> Response:
        unknown = [k for k in request.query_params if k not in known_query]
        if unknown:  # like an unknown body key: refused, never silently ignored
            raise InvalidParameter(
                f"{info.spec.method} {info.spec.path} takes the query parameters "
                f"{sorted(known_query) or 'none'}. Got {unknown[0]!r} instead.",
                field=unknown[0],
            )
        store = get_store(request, info.store)
        body = kwargs.pop("body", None)
        if body is not None:
            for name in info.body_names:
                kwargs[name] = getattr(body, _safe_field(name))
        if resource is not None:  # a scoped grant must cover the model/dataset named
            authorize_resource(info.spec.permission or "admin",
                               f"{info.spec.method} {request.url.path}",
                               resource_value(kwargs, resource))
        result = getattr(store, method_name)(**kwargs)
        if no_content:
            return Response(status_code=204)
        return Response(serialize(result), status_code=status, media_type="application/json")

    params = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for name in info.path_names:
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=info.hints[name], default=Path(...)
            )
        )
    for name in info.query_names:
        default = info.signature.parameters[name].default
        query = Query(...) if default is inspect.Parameter.empty else Query(default)
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=info.hints[name], default=query
            )
        )
    if body_model is not None:
        required = any(f.is_required() for f in body_model.model_fields.values())
        params.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=body_model,
                default=Body(...) if required else Body(None),
            )
        )
    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    handler.__name__ = info.operation_id
    handler.__modelyard_permission__ = info.spec.permission  # type: ignore[attr-defined]
    if resource is not None:
        handler.__modelyard_resource__ = resource  # type: ignore[attr-defined]
    return handler


def store_router(name: str, cls: type, get_store: Callable[[Request, str], Any]) -> APIRouter:
    """The routes of one store class (paths relative to ``/api/v1``)."""
    router = APIRouter(tags=[name])
    for fn, spec in endpoints_of(cls):
        info = describe_endpoint(name, fn, spec)
        handler = _make_handler(info, get_store)
        router.add_api_route(
            spec.path,
            handler,
            methods=[spec.method],
            status_code=spec.status_code,
            response_model=None if info.returns is type(None) else info.returns,
            operation_id=info.operation_id,
            summary=spec.summary,
            description=inspect.getdoc(fn),
            responses=ERROR_RESPONSES,
            name=info.operation_id,
            openapi_extra={"x-modelyard-permission": spec.permission,
                           **({"x-modelyard-resource": spec.resource} if spec.resource else {})},
        )
    return router


def stores_router(classes: dict[str, type], get_store: Callable[[Request, str], Any]) -> APIRouter:
    """One router with the routes of every store class (mount it at :data:`API_PREFIX`).
    ``classes`` maps the name on the backend to the class (see :func:`load_store_classes`)."""
    router = APIRouter()
    seen: dict[tuple[str, str], str] = {}
    for name, cls in classes.items():
        for _fn, spec in endpoints_of(cls):
            key = (spec.method, PATH_PARAM.sub("{}", spec.path))
            if key in seen:
                raise TypeError(
                    f"{name}.{spec.name}: {spec.method} {spec.path} is already the route of "
                    f"{seen[key]}. Each endpoint needs its own method and path."
                )
            seen[key] = f"{name}.{spec.name}"
        router.include_router(store_router(name, cls, get_store))
    return router
