"""The model server's own timing, and the process settings that keep its latency tail short.

Where a request's time goes besides the model, as Prometheus histograms (``/metrics``):

    modelyard_event_loop_lag_seconds        how late the loop ran a timer (20 samples a second)
    modelyard_gc_pause_seconds{generation}  every garbage collection of the process
    modelyard_prediction_log_wait_seconds   a durable request's wait for its fsync
    modelyard_wal_fsync_seconds             each fdatasync of the log (the disk's share)

and what the server sets for itself (see :class:`ProcessTuning`): the interpreter's thread
switch interval (a thread that wants the GIL, such as the log writer whose fsync just
returned, waits at most that long for a busy event loop to let go; CPython's default is 5 ms,
which a durable request could pay twice: once to wake the writer and once to hear back), and
the garbage collector's frozen generation (a full collection walks every object the models
and libraries allocated: 220,000 objects, 100-400 ms here; frozen after each model load, they
are no longer walked).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from typing import Any

from .metrics import ServerMetrics

__all__ = ["LoopTimer", "ProcessTuning"]


class LoopTimer:
    """Samples the event loop's lag and times garbage collections into ``metrics``."""

    def __init__(self, metrics: ServerMetrics, interval: float = 0.05) -> None:
        self.metrics = metrics
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._gc_started = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._schedule(loop)
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        due = loop.time() + self.interval
        self._handle = loop.call_at(due, self._tick, loop, due)

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self.metrics.loop_lag.observe(max(0.0, loop.time() - due))
        self._schedule(loop)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.metrics.gc_pause.labels(str(info.get("generation", ""))).observe(
                time.perf_counter() - self._gc_started)
            self._gc_started = 0.0


class ProcessTuning:
    """The thread switch interval and the frozen GC generation of a model server process
    (``switch_interval_ms`` None: the interpreter's default is left alone)."""

    def __init__(self, switch_interval_ms: float | None, freeze_gc: bool) -> None:
        self.switch_interval_ms = switch_interval_ms
        self.freeze_gc = freeze_gc
        self._previous: float | None = None

    def apply(self) -> None:
        if self.switch_interval_ms is not None:
            self._previous = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval_ms / 1000.0)
        self.settled()

    def settled(self) -> None:
        """After a model load: what exists now is long-lived; leave it out of collections."""
        if self.freeze_gc:
            gc.freeze()

    def restore(self) -> None:
        if self._previous is not None:
            sys.setswitchinterval(self._previous)
            self._previous = None
