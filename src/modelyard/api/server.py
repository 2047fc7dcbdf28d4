"""Running an ASGI app with uvicorn: in the foreground (``modelyard server``) or in a background
thread on a free loopback port (tests, notebooks, the demo).

    with BackgroundServer(create_app(yard)) as srv:
        remote = my.connect(srv.url)
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import uvicorn

from ..errors import RemoteError

__all__ = ["BackgroundServer", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for a server started a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """Serve ``app`` from a daemon thread until :meth:`stop` (or the ``with`` block ends).

    The socket is bound before the thread starts, so ``url`` is valid as soon as :meth:`start`
    returns; ``start`` also waits until uvicorn accepts connections.
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.uvicorn_options = uvicorn_options
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.uvicorn_options.get("ssl_certfile") else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        self._socket = sock
        options = {"log_level": "warning", "access_log": False, "lifespan": "on"}
        options.update(self.uvicorn_options)
        config = uvicorn.Config(self.app, host=self.host, port=self.port, **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            daemon=True,
            name=f"modelyard-server-{self.port}",
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RemoteError(f"The server on {self.url} did not start within {timeout}s.")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
