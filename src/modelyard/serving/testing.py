"""Run a model server on loopback inside the current process (tests, notebooks).

    with serve_in_thread(create_app(yard, [endpoint_from_ref("loans@production")])) as url:
        httpx.post(f"{url}/predict/loans", json={"records": [...]})
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

__all__ = ["free_port", "serve_in_thread", "wait_ready"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    """Wait until ``GET {url}/readyz`` answers 200 (every model loaded)."""
    import httpx

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/readyz", timeout=2.0)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"model server at {url} not ready after {timeout} s: {last}")


@contextmanager
def serve_in_thread(app: Any, *, port: int | None = None, ready: bool = True,
                    timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yields the base URL
    once it answers (and, with ``ready``, once every model is loaded); stops it on exit."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="modelyard-serve", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the model server stopped while starting (see its log)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"model server did not start within {timeout} s")
        time.sleep(0.02)
    try:
        if ready:
            wait_ready(url, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
