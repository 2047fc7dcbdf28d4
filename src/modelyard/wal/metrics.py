"""Prometheus metrics of the write-ahead log, on a registry the process gives (the model
server's): write errors by errno, whether the log takes writes now, quarantined segments."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["WalMetrics"]


class WalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.write_errors = Counter(
            "modelyard_wal_write_errors", "Failed writes or fsyncs of the prediction log",
            ("errno",), registry=registry)
        self.writable = Gauge(
            "modelyard_wal_writable", "1 while the prediction log takes writes, 0 while the "
            "disk refuses them", registry=registry, multiprocess_mode="min")
        self.writable.set(1)
        self.quarantined = Counter(
            "modelyard_wal_quarantined_segments", "Segments the compactor could not read "
            "completely and moved to the quarantine folder", registry=registry)
