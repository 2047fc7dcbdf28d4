"""The gRPC server of a model server process: a ``grpc.aio`` server on the same event loop as
the HTTP face, answering through the same runtime. Started and stopped with the app's
lifespan (``modelyard serve --grpc-port 8081``); with several worker processes each binds the
port (gRPC sets ``SO_REUSEPORT``) and the kernel spreads connections over them.

Messages may be as large as the HTTP body limit (``ServerOptions.max_request_bytes``, 64 MiB by
default) in both directions, not gRPC's default of 4 MiB.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from ...errors import InvalidParameter
from .grpc_predict_v2_pb2_grpc import add_GRPCInferenceServiceServicer_to_server
from .servicer import InferenceServicer

__all__ = ["GrpcServer"]

log = logging.getLogger("modelyard.serving")


class GrpcServer:
    """``start()`` binds ``host:port`` (port 0: any free port, then in ``port``)."""

    def __init__(self, runtime: Any, host: str, port: int) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self._server: grpc.aio.Server | None = None

    async def start(self) -> GrpcServer:
        limit = self.runtime.options.max_request_bytes
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ])
        add_GRPCInferenceServiceServicer_to_server(InferenceServicer(self.runtime), server)
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        opts = self.runtime.options
        try:
            if opts.tls_cert is not None and opts.tls_key is not None:
                creds = grpc.ssl_server_credentials(
                    [(opts.tls_key.read_bytes(), opts.tls_cert.read_bytes())])
                bound = server.add_secure_port(address, creds)
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise InvalidParameter(f"The gRPC port {address} could not be bound ({exc}). Give "
                                   "a free --grpc-port.", field="grpc_port") from exc
        if not bound:
            raise InvalidParameter(f"The gRPC port {address} could not be bound (in use?). Give "
                                   "a free --grpc-port.", field="grpc_port")
        await server.start()
        self.port = bound
        self._server = server
        log.info("gRPC (Open Inference Protocol) on %s:%d", self.host, bound,
                 extra={"event": "grpc_started", "port": bound})
        return self

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
