"""Client objects with the same methods as the domain stores, calling ``modelyard server``.

For a store class, :func:`store_client_class` makes a class whose methods have the signatures
of the class's ``@endpoint`` methods; each call binds its arguments like the real method,
sends them where :func:`modelyard.api.contract.describe_endpoint` says (path, query or JSON
body), and decodes the answer with ``pydantic.TypeAdapter(return annotation)``. A server error
comes back as the same :mod:`modelyard.errors` class.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from pydantic import TypeAdapter

from .. import errors
from ..api.contract import API_PREFIX, PATH_PARAM, EndpointInfo, describe_endpoint
from ..transport import endpoints_of

__all__ = ["HttpTransport", "StoreClient", "raise_for_error", "store_client_class"]

_USER_AGENT = "modelyard-client"


_BY_STATUS: dict[int, type[errors.ModelyardError]] = {
    400: errors.InvalidParameter,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.AlreadyExists,
    413: errors.InvalidParameter,
    422: errors.InvalidParameter,
}


def raise_for_error(response: httpx.Response) -> None:
    """Raise the modelyard error a server answered with (nothing for a 2xx/3xx answer)."""
    status = response.status_code
    if status < 400:
        return
    request = response.request
    try:
        body = response.read()
    except httpx.HTTPError:
        body = b""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or "error" not in payload:
        # no JSON error body: a HEAD answer, or something in front of the server
        cls = _BY_STATUS.get(status, errors.RemoteError)
        text = body[:200].decode("utf-8", "replace")
        raise cls(
            f"{request.method} {request.url} answered {status}" + (f": {text}" if text else ".")
        )
    if payload.get("error") == "internal":
        raise errors.RemoteError(
            f"The server failed on {request.method} {request.url.path} "
            f"(error id {payload.get('id')}; its log has the traceback)."
        )
    err = errors.from_dict(payload, status)
    if type(err) is errors.RemoteError and status in _BY_STATUS:
        # codes only the HTTP face has (bad_request, too_large, method_not_allowed …)
        err = _BY_STATUS[status](err.message, field=err.field)
    raise err


class HttpTransport:
    """One shared ``httpx.Client`` (connection reuse, bearer token, timeouts) for a server.

    ``base_url`` is the server's root (``http://host:8080``); ``path`` arguments are relative
    to ``/api/v1``. Connection failures raise :class:`~modelyard.errors.RemoteError`.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._client = client

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"User-Agent": _USER_AGENT}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._client = httpx.Client(
                base_url=self.base_url + API_PREFIX,
                headers=headers,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; a server error is raised as its modelyard class."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        raise_for_error(response)
        return response

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        """``with transport.stream("GET", path) as response:`` — errors raised as above."""
        import contextlib

        @contextlib.contextmanager
        def opened() -> Any:
            try:
                with self.client.stream(method, path, **kwargs) as response:
                    raise_for_error(response)
                    yield response
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from exc

        return opened()

    def _unreachable(self, exc: Exception) -> errors.RemoteError:
        return errors.RemoteError(
            f"Cannot reach the modelyard server at {self.base_url}: {type(exc).__name__}: {exc}"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class StoreClient:
    """Base of the generated clients: ``store_client_class(name, cls)(transport)``."""

    store_name: str = ""
    store_class: type = object

    def __init__(self, transport: HttpTransport) -> None:
        self._transport = transport

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and callable(getattr(self.store_class, name, None)):
            raise AttributeError(
                f"{self.store_class.__name__}.{name} is not available on a remote yard: it is not "
                "marked @endpoint, so modelyard server has no route for it."
            )
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._transport.base_url}>"


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return [_query_value(v) for v in value]
    return value


def _make_method(info: EndpointInfo) -> Callable[..., Any]:
    sig = info.signature
    adapters: dict[str, TypeAdapter[Any]] = {n: TypeAdapter(info.hints[n]) for n in info.hints}
    returns: TypeAdapter[Any] | None = (
        None if info.returns is type(None) else TypeAdapter(info.returns)
    )
    template = info.spec.path
    http_method = info.spec.method

    def dump(name: str, value: Any) -> Any:
        return adapters[name].dump_python(value, mode="json")

    def call(self: StoreClient, *args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        values: Mapping[str, Any] = bound.arguments
        path = PATH_PARAM.sub(
            lambda m: quote(str(dump(m.group(1), values[m.group(1)])), safe=""), template
        )
        request: dict[str, Any] = {}
        if info.query_names:
            request["params"] = {
                n: _query_value(dump(n, values[n]))
                for n in info.query_names
                if values[n] is not None
            }
        if info.body_names:
            body = {n: dump(n, values[n]) for n in info.body_names}
            request["content"] = orjson.dumps(body)
            request["headers"] = {"Content-Type": "application/json"}
        response = self._transport.request(http_method, path, **request)
        if returns is None:
            return None
        return returns.validate_json(response.content)

    call.__name__ = info.spec.name
    call.__qualname__ = f"{info.store}.{info.spec.name}"
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    with_self = sig.replace(parameters=[self_param, *sig.parameters.values()])
    call.__signature__ = with_self  # type: ignore[attr-defined]
    return call


@cache
def store_client_class(name: str, cls: type) -> type[StoreClient]:
    """A :class:`StoreClient` subclass with one HTTP method per ``@endpoint`` of ``cls``."""
    namespace: dict[str, Any] = {"store_name": name, "store_class": cls, "__doc__": cls.__doc__}
    for fn, spec in endpoints_of(cls):
        method = _make_method(describe_endpoint(name, fn, spec))
        method.__doc__ = fn.__doc__
        namespace[spec.name] = method
    return type(f"Remote{cls.__name__}", (StoreClient,), namespace)
