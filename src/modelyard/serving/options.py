"""How a model server behaves: one object, built at the entry point (the CLI, a test) and
passed down."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter

__all__ = ["ServerOptions"]

_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


@dataclass
class ServerOptions:
    """How a model server behaves. ``durability``: ``durable`` (answer after fsync),
    ``async`` (log without waiting) or ``off`` (no prediction log). ``scope``: endpoints
    declared through the API of a server are stored under its scope and served by every
    server started with the same scope (its workers, other replicas, later restarts)."""

    durability: str = "durable"
    max_request_bytes: int = 64 * 1024 * 1024
    auth_enabled: bool = False
    poll_interval: float = 2.0
    compact_interval: float = 30.0
    # "process": sealed segments are compacted by a child process, off the request path's
    # GIL (see compaction.py); "thread": in a thread of the server
    compaction: str = "process"
    # the interpreter's thread switch interval while serving (None: leave the default 5 ms),
    # and freezing what exists after each model load out of garbage collection (timing.py)
    switch_interval_ms: float | None = 0.5
    freeze_gc: bool = True
    seal_bytes: int = 64 << 20
    seal_seconds: float = 300.0
    wal_lanes: int = 1
    log_dir: Path | None = None
    access_log: bool = False
    scope: str = "default"
    # how long a request waits for its endpoint's first load (a worker that has just started)
    # before it is answered 503
    first_load_wait: float = 30.0
    # several worker processes share metrics through prometheus-client's multiprocess files
    # (the CLI sets PROMETHEUS_MULTIPROC_DIR, which the library itself reads)
    multiprocess_metrics: bool = False
    # the Open Inference Protocol over gRPC on this port too (0: any free port); None: off
    grpc_port: int | None = None
    grpc_host: str = "127.0.0.1"
    # TLS: the PEM certificate (chain) and key the gRPC port serves with (uvicorn gets the same
    # files for HTTPS from the CLI); None: plain text
    tls_cert: Path | None = None
    tls_key: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.durability not in ("durable", "async", "off"):
            raise InvalidParameter(
                "durability must be 'durable', 'async' or 'off'. "
                f"Got {self.durability!r} instead.", field="durability")
        if self.compaction not in ("process", "thread"):
            raise InvalidParameter("compaction must be 'process' or 'thread'. Got "
                                   f"{self.compaction!r} instead.", field="compaction")
        if not _SCOPE.fullmatch(self.scope):
            raise InvalidParameter(
                "A scope must be 1-128 letters, digits and '._-', starting with a letter or "
                f"digit. Got {self.scope!r} instead.", field="scope")
