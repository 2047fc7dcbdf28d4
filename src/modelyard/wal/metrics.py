"""Prometheus metrics of the write-ahead log, on a registry the process gives (the model
server's): write errors by errno, whether the log takes writes now, quarantined segments, how
long each fsync took."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        self.fsync = Histogram(
            "modelyard_wal_fsync_seconds", "Duration of each fdatasync of the prediction log",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015,
                     0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=registry)
