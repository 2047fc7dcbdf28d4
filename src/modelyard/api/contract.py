"""How an ``@endpoint`` method travels over HTTP: shared by the server and the client.

:func:`describe_endpoint` checks a marked method against the contract of
:mod:`modelyard.transport` and splits its parameters into path, query and body parameters.
``api/rpc.py`` builds a FastAPI route from that description, ``client/rpc.py`` the matching
call, so both sides agree by construction. This module imports no web framework.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from ..transport import EndpointSpec

__all__ = ["API_PREFIX", "BODY_METHODS", "EndpointInfo", "describe_endpoint", "path_params"]

API_PREFIX = "/api/v1"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_SCALARS = (str, int, float, bool, datetime, date, Enum)
_UNIONS = (typing.Union, types.UnionType)


def path_params(template: str) -> list[str]:
    """The parameter names of a path template: ``/runs/{run_id}`` -> ``["run_id"]``."""
    return PATH_PARAM.findall(template)


@dataclass(frozen=True)
class EndpointInfo:
    """What both transports need to know about one marked method."""

    store: str  # name in STORE_CLASSES
    spec: EndpointSpec
    signature: inspect.Signature  # without ``self``
    hints: dict[str, Any]  # parameter name -> annotation
    returns: Any  # the return annotation (type(None) for None)
    path_names: tuple[str, ...]
    query_names: tuple[str, ...]
    body_names: tuple[str, ...]

    @property
    def operation_id(self) -> str:
        return f"{self.store}_{self.spec.name}"


def describe_endpoint(store: str, fn: Callable[..., Any], spec: EndpointSpec) -> EndpointInfo:
    """Check a marked method against the contract and split its parameters by location."""
    where = f"{fn.__qualname__} (@endpoint {spec.method} {spec.path})"
    if spec.permission is None:
        raise TypeError(
            f"{where}: declare the permission it needs: @endpoint(..., permission='read', "
            "'write' or 'admin'). An operation that declares none is refused (fail closed)."
        )
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError on an annotation only imported under TYPE_CHECKING
        raise TypeError(f"{where}: its annotations must resolve at run time: {exc}") from exc
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[1:]  # drop self
    if "return" not in hints:
        raise TypeError(f"{where}: the return value must be annotated.")
    in_path = path_params(spec.path)
    path_names: list[str] = []
    query_names: list[str] = []
    body_names: list[str] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{where}: *args/**kwargs cannot be sent over HTTP ({p.name}).")
        if p.name not in hints:
            raise TypeError(f"{where}: parameter {p.name!r} must be annotated.")
        if p.name in in_path:
            path_names.append(p.name)
        elif spec.method in BODY_METHODS:
            body_names.append(p.name)
        else:
            if not _query_type_ok(hints[p.name]):
                raise TypeError(
                    f"{where}: parameter {p.name!r} is {hints[p.name]!r}; a {spec.method} "
                    "takes only scalars or lists of scalars (query string). Use POST for more."
                )
            query_names.append(p.name)
    missing = set(in_path) - set(path_names)
    if missing:
        raise TypeError(f"{where}: the path names {sorted(missing)} which are not parameters.")
    returns = hints["return"]
    return EndpointInfo(
        store=store,
        spec=spec,
        signature=sig.replace(parameters=params),
        hints={p.name: hints[p.name] for p in params},
        returns=type(None) if returns is None else returns,
        path_names=tuple(path_names),
        query_names=tuple(query_names),
        body_names=tuple(body_names),
    )


def _query_type_ok(annotation: Any) -> bool:
    """Scalars, optional scalars and lists of scalars fit in a query string."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _query_type_ok(typing.get_args(annotation)[0])
    if origin in (list, tuple, set, frozenset):
        return all(_scalar(a) for a in typing.get_args(annotation) if a is not Ellipsis)
    if origin in _UNIONS:
        return all(a is type(None) or _query_type_ok(a) for a in typing.get_args(annotation))
    return _scalar(annotation)


def _scalar(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    if origin in _UNIONS:
        return all(a is type(None) or _scalar(a) for a in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, _SCALARS)
