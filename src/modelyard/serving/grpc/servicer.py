"""The V2 gRPC service over a :class:`ServingRuntime`: the same endpoints, routes, shadows,
canaries, prediction log, auth and metrics as REST, because ``ModelInfer`` calls the same
request path (``RequestPath.predict``) after converting its tensors (``convert.py``).

Errors are mapped in one place (:func:`_rpc`, as MLServer's decorator): a
:class:`ModelyardError` by its HTTP status (``convert.STATUS``: 401 UNAUTHENTICATED, 403
PERMISSION_DENIED, 404 NOT_FOUND, 422 INVALID_ARGUMENT …), a model that raised INTERNAL with
its ``error_id``, an endpoint still loading or a log that cannot be written UNAVAILABLE. The
details say what was wrong; trailing metadata adds ``modelyard-error`` (the error's code),
``modelyard-field`` (the input at fault) and ``modelyard-error-id``.

Auth: with auth on, every RPC but ``ServerLive`` and ``ServerReady`` needs
``authorization: Bearer <token>`` in the call's metadata (the shared check of
``modelyard.access``, looked up on every call) and the ``read`` permission.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from ... import __version__
from ...access import ANONYMOUS, Principal, authenticate, authorize, bearer_token, current_principal
from ...errors import ModelyardError
from ..live import Unavailable
from ..protocol import infer_response, model_metadata, parse_infer
from ..request_path import ModelFailure
from . import grpc_predict_v2_pb2 as pb
from .convert import request_body, response_message, status_of
from .grpc_predict_v2_pb2_grpc import GRPCInferenceServiceServicer

__all__ = ["InferenceServicer"]

log = logging.getLogger("modelyard.serving")

_OPEN = {"ServerLive", "ServerReady"}
R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def _rpc(method: Handler[R]) -> Handler[R]:
    """Authenticate the call, run it, and map every error to a gRPC status (see the module
    docstring); count the call by method and status."""
    name = method.__name__

    @functools.wraps(method)
    async def handler(self: InferenceServicer, request: Any,
                      context: grpc.aio.ServicerContext) -> R:
        rt = self.runtime
        code = grpc.StatusCode.OK
        details = ""
        trailing: list[tuple[str, str]] = []
        endpoint = getattr(request, "model_name", "") or getattr(request, "name", "")
        reset = None
        try:
            principal = await self._authenticate(name, context)
            reset = current_principal.set(principal)
            return await method(self, request, context)
        except ModelyardError as exc:
            code, details = status_of(exc.status_code), exc.message
            trailing = [("modelyard-error", exc.code)]
            if exc.field:
                trailing.append(("modelyard-field", exc.field))
            if name == "ModelInfer":
                rt.metrics.rejected.labels(endpoint, str(exc.status_code)).inc()
        except ModelFailure as exc:
            code, details = grpc.StatusCode.INTERNAL, exc.message
            trailing = [("modelyard-error", "model_error"), ("modelyard-error-id", exc.error_id)]
        except Unavailable as exc:
            code, details = grpc.StatusCode.UNAVAILABLE, str(exc)
            trailing = [("modelyard-error", "unavailable")]
            if name == "ModelInfer":
                rt.metrics.rejected.labels(endpoint, "503").inc()
        except Exception as exc:  # a bug: logged, answered INTERNAL
            log.exception("gRPC %s failed", name, extra={"event": "grpc_error",
                                                          "method": name})
            code, details = grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
        finally:
            if reset is not None:
                current_principal.reset(reset)
            rt.metrics.grpc.labels(name, code.name).inc()
        await context.abort(code, details, trailing_metadata=tuple(trailing))
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return handler


class InferenceServicer(GRPCInferenceServiceServicer):
    """KServe's ``GRPCInferenceService`` answered by ``runtime`` (a :class:`ServingRuntime`)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def _authenticate(self, method: str, context: grpc.aio.ServicerContext) -> Principal:
        if not self.runtime.options.auth_enabled or method in _OPEN:
            return ANONYMOUS
        metadata = dict(context.invocation_metadata() or ())
        value = metadata.get("authorization")
        token = bearer_token(value if isinstance(value, str) else None)
        principal = await asyncio.to_thread(authenticate, self.runtime.tokens.verify, token)
        authorize(principal, "read", f"gRPC {method}")
        return principal

    @_rpc
    async def ServerLive(self, request: pb.ServerLiveRequest,
                         context: grpc.aio.ServicerContext) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @_rpc
    async def ServerReady(self, request: pb.ServerReadyRequest,
                          context: grpc.aio.ServicerContext) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.runtime.ready)

    @_rpc
    async def ModelReady(self, request: pb.ModelReadyRequest,
                         context: grpc.aio.ServicerContext) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.runtime.endpoint(request.name).ready)

    @_rpc
    async def ServerMetadata(self, request: pb.ServerMetadataRequest,
                             context: grpc.aio.ServicerContext) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="modelyard", version=__version__, extensions=[])

    @_rpc
    async def ModelMetadata(self, request: pb.ModelMetadataRequest,
                            context: grpc.aio.ServicerContext) -> pb.ModelMetadataResponse:
        ep = self.runtime.endpoint(request.name)
        served = [(r.name, r.kind, r.handle) for r in ep.all_routes() if r.handle is not None]
        if not served or served[0][1] != "route":
            raise Unavailable(ep.why_unavailable())
        meta = model_metadata(ep.name, served)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=meta["platform"],
            inputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"])
                    for t in meta["inputs"]],
            outputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"])
                     for t in meta["outputs"]])

    @_rpc
    async def ModelInfer(self, request: pb.ModelInferRequest,
                         context: grpc.aio.ServicerContext) -> pb.ModelInferResponse:
        t0 = time.perf_counter()
        requests = self.runtime.requests
        ep = requests.endpoint(request.model_name)
        if not ep.active:  # a worker still on its first load: wait for it
            await requests.loaded(ep)
        route = ep.active[0] if ep.active else None
        if route is None or route.handle is None:
            raise Unavailable(ep.why_unavailable())
        body = request_body(request)
        kind, data = parse_infer(body, route.handle)
        key = body["parameters"].get("request_key")
        if key is None:
            key = dict(context.invocation_metadata() or ()).get("x-request-key")
        res = await requests.predict(ep, kind, data, key if isinstance(key, str) else None, t0)
        wanted = {o["name"] for o in body["outputs"]} if "outputs" in body else None
        answer = infer_response(ep.name, res.handle, request.id or None, res.predictions,
                                res.proba, res.ids, res.route.name, wanted)
        return response_message(answer, raw=bool(request.raw_input_contents))
