"""The model server's HTTP face: a lean ASGI application (no framework on the hot path).

    POST /predict/{endpoint}            {"records": [...]} or {"columns": {...}}
    POST /v2/models/{endpoint}/infer    Open Inference Protocol (KServe V2)
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{endpoint}[/ready]
    GET  /healthz  /readyz  /metrics
    GET  /endpoints                     what is served, with traffic shares and canaries
    GET|PUT|DELETE /endpoints/{name}    declare an endpoint through the API
    POST|DELETE /endpoints/{name}/canary, GET /endpoints/{name}/canaries
    POST /feedback                      {"prediction_id": ..., "label": ...}

Permissions (the table of :mod:`modelyard.access`, checked with the REST server's code): every
route needs ``read``; ``/feedback`` needs ``write``; declaring, deleting an endpoint and starting
or aborting its canary need ``admin`` (on the endpoint's name, for a scoped grant).

With ``ServerOptions.grpc_port`` the same runtime also answers the Open Inference Protocol over
gRPC (``grpc/``), started and stopped with this app's lifespan.

Errors are JSON ``{"error", "message", "field"}`` (V2 routes: ``{"error": message}`` plus the
same keys): 400 malformed JSON, 401 no or bad token, 404 unknown endpoint, 413 body over the
limit, 422 input that does not fit the signature (``field`` names the column), 500 a model that
raised (with ``error_id``, logged with the traceback), 503 loading or log unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .. import __version__
from ..access import (
    ANONYMOUS,
    Principal,
    authenticate,
    authorize,
    bearer_token,
    current_principal,
)
from ..errors import Forbidden, InvalidParameter, ModelyardError, Unauthorized
from .build import BUNDLE_PREFIX
from .endpoints import CanaryConfig, EndpointConfig, parse_endpoints
from .live import Unavailable
from .metrics import CONTENT_TYPE_LATEST
from .options import ServerOptions
from .protocol import infer_response, model_metadata, parse_infer
from .references import check_references, references
from .request_path import ModelFailure
from .runtime import ServingRuntime

__all__ = ["ModelServerApp", "create_app"]

log = logging.getLogger("modelyard.serving")
access_log = logging.getLogger("modelyard.serving.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = b"application/json"
_OPEN_PATHS = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"}


class HTTPError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": code, "message": message, "field": field, **extra}


class _TooLarge(Exception):
    pass


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k: v for k, v in scope["headers"]}


async def _read_body(receive: Receive, limit: int, headers: dict[bytes, bytes]) -> bytes:
    length = headers.get(b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks = []
    size = 0
    while True:
        msg = await receive()
        body = msg.get("body", b"")
        if body:
            size += len(body)
            if size > limit:
                raise _TooLarge
            chunks.append(body)
        if not msg.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, content_type: bytes = _JSON) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _error_from(exc: ModelyardError) -> HTTPError:
    return HTTPError(exc.status_code, exc.code, exc.message, exc.field)


class ModelServerApp:
    """The ASGI application around one :class:`ServingRuntime`."""

    def __init__(self, runtime: ServingRuntime) -> None:
        self.runtime = runtime
        self.limit = runtime.options.max_request_bytes
        self.auth = runtime.options.auth_enabled
        self.grpc: Any = None  # the gRPC server (grpc/server.py) when a gRPC port is set

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                    opts = self.runtime.options
                    if opts.grpc_port is not None:
                        from .grpc.server import GrpcServer

                        self.grpc = await GrpcServer(self.runtime, opts.grpc_host,
                                                     opts.grpc_port).start()
                except Exception as exc:
                    log.exception("model server failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self.grpc is not None:
                    await self.grpc.stop()
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        headers = _headers(scope)
        v2 = path.startswith("/v2")
        status = 200
        reset = None
        try:
            principal = ANONYMOUS
            if self.auth and path not in _OPEN_PATHS:
                principal = await self._authenticate(headers)
                self._require(principal, "read", method, path)  # every route reads at least
            reset = current_principal.set(principal)  # who the stores record
            if path.startswith("/predict/") and method == "POST":
                status, body = await self._predict(path[9:], receive, headers, t0)
            elif v2:
                status, body = await self._v2(method, path, receive, headers, t0)
            else:
                status, body, ctype = await self._admin(method, path, receive, headers,
                                                        principal)
                if ctype is not _JSON:
                    await _send(send, status, body, ctype)
                    return
        except HTTPError as exc:
            status = exc.status
            payload = exc.body
            if v2:
                payload = {**payload, "error": payload["message"], "code": payload["error"]}
            body = orjson.dumps(payload)
        finally:
            if reset is not None:
                current_principal.reset(reset)
        await _send(send, status, body)
        if self.runtime.options.access_log:
            access_log.info("%s %s %d", method, path, status,
                            extra={"event": "request", "method": method, "path": path,
                                   "status": status,
                                   "ms": round((time.perf_counter() - t0) * 1000, 3)})

    async def _authenticate(self, headers: dict[bytes, bytes]) -> Principal:
        """The caller's principal: the shared check of ``modelyard.access`` (the token is looked
        up on every request, so a revoked token fails on the next one; through a database
        outage, see ``tokens.py``)."""
        value = headers.get(b"authorization", b"").decode("latin-1") or None
        token = bearer_token(value)
        try:
            return await asyncio.to_thread(authenticate, self.runtime.tokens.verify, token)
        except Unauthorized as exc:
            raise HTTPError(401, exc.code, exc.message) from exc
        except ModelyardError as exc:  # the database cannot check it now: 503
            raise _error_from(exc) from None

    async def _json(self, receive: Receive, headers: dict[bytes, bytes], endpoint: str = "") -> Any:
        try:
            raw = await _read_body(receive, self.limit, headers)
        except _TooLarge:
            self.runtime.metrics.rejected.labels(endpoint, "413").inc()
            raise HTTPError(413, "too_large", f"The request body must be at most {self.limit} "
                            "bytes. Got more.") from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.runtime.metrics.rejected.labels(endpoint, "400").inc()
            raise HTTPError(400, "invalid_json", f"The request body must be JSON. {exc}") \
                from None

    # ---- prediction -----------------------------------------------------------------------
    async def _run(self, name: str, kind: str, data: Any, key: str | None, t0: float) -> Any:
        rt = self.runtime
        try:
            ep = rt.requests.endpoint(name)
            if not ep.active:  # a worker still on its first load: wait for it
                await rt.requests.loaded(ep)
            return ep, await rt.requests.predict(ep, kind, data, key, t0)
        except ModelyardError as exc:
            rt.metrics.rejected.labels(name, str(exc.status_code)).inc()
            raise _error_from(exc) from None
        except ModelFailure as exc:
            raise HTTPError(500, "model_error", exc.message, None, error_id=exc.error_id) \
                from None
        except Unavailable as exc:
            rt.metrics.rejected.labels(name, "503").inc()
            raise HTTPError(503, "unavailable", str(exc)) from None

    async def _predict(self, name: str, receive: Receive, headers: dict[bytes, bytes],
                       t0: float) -> tuple[int, bytes]:
        body = await self._json(receive, headers, name)
        if not isinstance(body, dict):
            raise HTTPError(422, "invalid_parameter", "The body must be an object with "
                            "'records' or 'columns'.", "records")
        if "records" in body:
            kind, data = "records", body["records"]
        elif "columns" in body:
            kind, data = "columns", body["columns"]
        else:
            raise HTTPError(422, "invalid_parameter", "The body must have 'records' (a list of "
                            "rows) or 'columns' (column name -> values). Got keys "
                            f"{sorted(body)[:10]}.", "records")
        key = body.get("request_key")
        if key is None and b"x-request-key" in headers:
            key = headers[b"x-request-key"].decode("latin-1")
        if key is not None and not isinstance(key, str):
            raise HTTPError(422, "invalid_parameter", "request_key must be a string. Got "
                            f"{type(key).__name__}.", "request_key")
        _, res = await self._run(name, kind, data, key, t0)
        out: dict[str, Any] = {"predictions": res.predictions, "ids": res.ids,
                               "model": res.handle.label, "route": res.route.name}
        if body.get("proba") and res.proba is not None:
            classes = res.handle.classes
            out["probabilities"] = [dict(zip(classes, row)) for row in res.proba.tolist()]
        return 200, orjson.dumps(out)

    # ---- Open Inference Protocol ----------------------------------------------------------
    async def _v2(self, method: str, path: str, receive: Receive, headers: dict[bytes, bytes],
                  t0: float) -> tuple[int, bytes]:
        rt = self.runtime
        parts = path.rstrip("/").split("/")[2:]  # after "/v2"
        if method == "GET" and not parts:
            return 200, orjson.dumps({"name": "modelyard", "version": __version__,
                                      "extensions": []})
        if method == "GET" and parts == ["health", "live"]:
            return 200, orjson.dumps({"live": True})
        if method == "GET" and parts == ["health", "ready"]:
            ready = rt.ready
            return (200 if ready else 503), orjson.dumps({"ready": ready})
        if len(parts) >= 2 and parts[0] == "models":
            name = parts[1]
            rest = parts[2:]
            if len(rest) >= 2 and rest[0] == "versions":
                rest = rest[2:]  # /versions/{v}/...: every version of an endpoint answers
            ep = rt.endpoints.get(name)
            if ep is None:
                raise HTTPError(404, "not_found", f"No model (endpoint) named {name!r}.",
                                "model_name")
            if method == "GET" and not rest:
                served = [(r.name, r.kind, r.handle) for r in ep.all_routes()
                          if r.handle is not None]
                if not served or served[0][1] != "route":
                    raise HTTPError(503, "unavailable", ep.why_unavailable())
                return 200, orjson.dumps(model_metadata(name, served))
            if method == "GET" and rest == ["ready"]:
                return (200 if ep.ready else 503), orjson.dumps(
                    {"name": name, "ready": ep.ready, "state": ep.state,
                     "problems": ep.problems()})
            if method == "POST" and rest == ["infer"]:
                body = await self._json(receive, headers, name)
                if not ep.active:
                    await rt.requests.loaded(ep)
                route = ep.active[0] if ep.active else None
                if route is None or route.handle is None:
                    raise HTTPError(503, "unavailable", ep.why_unavailable())
                try:
                    kind, data = parse_infer(body, route.handle)
                except ModelyardError as exc:
                    raise _error_from(exc) from None
                params = body.get("parameters") if isinstance(body, dict) else None
                key = params.get("request_key") if isinstance(params, dict) else None
                if key is None and b"x-request-key" in headers:
                    key = headers[b"x-request-key"].decode("latin-1")
                _, res = await self._run(name, kind, data, key, t0)
                wanted = None
                if isinstance(body.get("outputs"), list):
                    wanted = {o.get("name") for o in body["outputs"] if isinstance(o, dict)}
                rid = body.get("id") if isinstance(body.get("id"), str) else None
                return 200, orjson.dumps(infer_response(name, res.handle, rid, res.predictions,
                                                        res.proba, res.ids, res.route.name,
                                                        wanted))
        raise HTTPError(404, "not_found", f"No route {method} {path}.")

    # ---- operations and the endpoint API --------------------------------------------------
    async def _admin(self, method: str, path: str, receive: Receive,
                     headers: dict[bytes, bytes], principal: Principal) -> tuple[int, bytes, bytes]:
        rt = self.runtime

        def require(permission: str, resource: str | None = None) -> None:
            self._require(principal, permission, method, path, resource)

        if method == "GET" and path == "/healthz":
            return 200, orjson.dumps({"status": "ok"}), _JSON
        if method == "GET" and path == "/openapi.json":
            from .openapi import openapi

            return 200, orjson.dumps(openapi()), _JSON
        if method == "GET" and path == "/readyz":
            health = rt.health()
            return (200 if health["ready"] else 503), orjson.dumps(health), _JSON
        if method == "GET" and path == "/metrics":
            rt.refresh_metrics()
            return 200, rt.metrics.render(), CONTENT_TYPE_LATEST.encode()
        if method == "POST" and path == "/feedback":
            require("write")
            body = await self._json(receive, headers)
            return 200, await self._feedback(body), _JSON
        parts = path.strip("/").split("/")
        if parts[0] != "endpoints":
            raise HTTPError(404, "not_found", f"No route {method} {path}.")
        try:
            if len(parts) == 1 and method == "GET":
                return 200, orjson.dumps([e.describe() for e in rt.endpoints.values()]), _JSON
            name = parts[1] if len(parts) > 1 else ""
            if len(parts) == 2:
                if method == "GET":
                    return 200, orjson.dumps(rt.endpoint(name).describe()), _JSON
                if method == "PUT":
                    require("admin", name)
                    body = await self._json(receive, headers)
                    return 200, orjson.dumps(await self._put_endpoint(name, body)), _JSON
                if method == "DELETE":
                    require("admin", name)
                    return 200, orjson.dumps(await self._delete_endpoint(name)), _JSON
            if len(parts) == 3 and parts[2] == "canary":
                require("admin", name)
                if method == "POST":
                    body = await self._json(receive, headers)
                    try:
                        spec = CanaryConfig.model_validate(body)
                    except Exception as exc:  # noqa: BLE001
                        raise HTTPError(422, "invalid_parameter",
                                        f"Invalid canary: {exc}", "canary") from None
                    canary = await rt.canaries.start(rt.endpoint(name), spec)
                    return 200, orjson.dumps(canary.model_dump(mode="json")), _JSON
                if method == "DELETE":
                    canary = await rt.canaries.abort(rt.endpoint(name), None)
                    return 200, orjson.dumps(canary.model_dump(mode="json")), _JSON
            if len(parts) == 3 and parts[2] == "canaries" and method == "GET":
                rt.endpoint(name)
                if rt.repo is None:
                    return 200, b"[]", _JSON
                cs = await asyncio.to_thread(rt.repo.canaries, name)
                full = [await asyncio.to_thread(rt.repo.get_canary, c.id) for c in cs]
                return 200, orjson.dumps([c.model_dump(mode="json") for c in full]), _JSON
        except ModelyardError as exc:
            raise _error_from(exc) from None
        raise HTTPError(404, "not_found", f"No route {method} {path}.")

    @staticmethod
    def _require(principal: Principal, permission: str, method: str, path: str,
                 resource: str | None = None) -> None:
        try:
            authorize(principal, permission, f"{method} {path}", resource)
        except Forbidden as exc:
            raise HTTPError(403, exc.code, exc.message) from None

    async def _put_endpoint(self, name: str, body: Any) -> dict[str, Any]:
        rt = self.runtime
        if not isinstance(body, dict):
            raise HTTPError(422, "invalid_parameter", "The body must be an endpoint object.",
                            "endpoint")
        cfg: EndpointConfig = parse_endpoints([{**body, "name": name}],
                                              where="the request body")[0]
        if name in {c.name for c in rt.config_endpoints}:
            raise InvalidParameter(f"Endpoint {name!r} comes from the server's configuration "
                                   "file; change it there.", field="name")
        # validate before saving: every reference resolves and every model loads
        for field, kind, ref in references(cfg):
            if ref.startswith(BUNDLE_PREFIX):
                raise InvalidParameter(f"Endpoint {name!r} was not saved: the {kind} names "
                                       f"{ref!r}; a bundle is served from the command line "
                                       "(modelyard serve --bundle), not declared through the "
                                       "API.", field=field)
        await asyncio.to_thread(check_references, rt.yard.models, cfg,
                                where=f"Endpoint {name!r} was not saved")
        ep = await rt.prepare_endpoint(cfg, "api")
        for group, routes in (("routes", ep.routes), ("shadows", ep.shadows)):
            for i, r in enumerate(routes):
                if r.handle is None:
                    raise InvalidParameter(f"Endpoint {name!r} was not saved: the {r.kind} "
                                           f"{r.name!r} {r.error}.", field=f"{group}.{i}.model")
        revision = 0 if rt.sync is None else await rt.sync.save(cfg)
        return (await rt.install(ep, revision)).describe()

    async def _delete_endpoint(self, name: str) -> dict[str, Any]:
        rt = self.runtime
        ep = rt.endpoint(name)
        if ep.source != "api":
            raise InvalidParameter(f"Endpoint {name!r} comes from the server's configuration "
                                   "file; remove it there.", field="name")
        if rt.sync is not None:
            await rt.sync.delete(name)
        rt.remove_endpoint(name)
        return {"deleted": name}

    async def _feedback(self, body: Any) -> bytes:
        """``{"prediction_id", "label"}`` or ``{"items": [{"prediction_id", "label"}, …]}``:
        ground truth for logged predictions, recorded by the yard's monitoring."""
        ok = isinstance(body, dict) and (
            (isinstance(body.get("prediction_id"), str) and "label" in body)
            or isinstance(body.get("items"), list))
        if not ok:
            raise HTTPError(422, "invalid_parameter", "Feedback must be an object with "
                            "'prediction_id' (a string) and 'label', or 'items': a list of "
                            "such objects.", "prediction_id")
        monitoring = self.runtime.yard.monitoring
        try:
            if "items" in body:
                result = await asyncio.to_thread(monitoring.feedback, items=body["items"])
            else:
                result = await asyncio.to_thread(monitoring.feedback, body["prediction_id"],
                                                 body["label"])
        except ModelyardError as exc:
            raise _error_from(exc) from None
        dump = getattr(result, "model_dump", None)
        return orjson.dumps(dump(mode="json") if dump is not None else {"recorded": True})


def create_app(yard: Any, endpoints: list[EndpointConfig], options: ServerOptions | None = None,
               **kwargs: Any) -> ModelServerApp:
    """An ASGI app serving ``endpoints`` from ``yard``; run it with uvicorn (the lifespan
    starts the runtime: log writer, compactor, model loading, control loop)."""
    return ModelServerApp(ServingRuntime(yard, endpoints, options or ServerOptions(), **kwargs))


