"""The model server's side of the prediction log: it starts the write-ahead writer (and, on a
local yard, the compaction of sealed segments into Parquet, in a child process: see
``compaction.py``), turns each answered row into a record, and appends the records, durably
unless configured otherwise."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson

from ..predictions.reader import log_artifacts
from ..wal.metrics import WalMetrics
from ..wal.records import new_prediction_id
from ..wal.segments import encode, wal_dir
from ..wal.writer import LogUnavailable, WalWriter
from .compaction import CompactionWorker
from .models import ModelHandle, Prepared
from .options import ServerOptions

__all__ = ["LogUnavailable", "PredictionRecorder"]


class PredictionRecorder:
    """Records of one server process; ``writer`` is None with durability ``off``."""

    def __init__(self, yard: Any, options: ServerOptions,
                 metrics: WalMetrics | None = None, wait: Any = None) -> None:
        self.yard = yard
        self.clock = yard.clock
        self.options = options
        self.metrics = metrics
        self.wait = wait  # a histogram of durable waits (seconds), or None
        self.log_dir = options.log_dir or yard.settings.resolved_prediction_log_dir
        self.writer: WalWriter | None = None
        self.compactor: CompactionWorker | None = None

    def start(self) -> None:
        opts = self.options
        if opts.durability == "off":
            return
        self.writer = WalWriter(wal_dir(self.log_dir), durability=opts.durability,
                                seal_bytes=opts.seal_bytes, seal_seconds=opts.seal_seconds,
                                lanes=opts.wal_lanes, metrics=self.metrics).start()
        settings = self.yard.settings
        if not self.yard.backend.is_remote or settings.prediction_log_url:
            # a remote yard's server compacts only where it was told to ship its log
            target = log_artifacts(settings, None if self.yard.backend.is_remote
                                   else self.yard.backend.artifacts)
            self.compactor = CompactionWorker(
                wal_dir(self.log_dir), target, interval=opts.compact_interval, clock=self.clock,
                metrics=self.metrics, in_process=opts.compaction == "thread").start()

    def close(self) -> None:
        """Flush and close the writer, then stop the compactor (which compacts once more)."""
        if self.writer is not None:
            self.writer.close()
        if self.compactor is not None:
            self.compactor.stop()

    @property
    def healthy(self) -> bool:
        """False while the disk refuses the log's writes (the server is then not ready)."""
        return self.writer is None or self.writer.error is None

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` says about the log (see ``WalWriter.status``)."""
        if self.writer is None:
            return {"writable": True, "durability": "off"}
        return {**self.writer.status(), "durability": self.options.durability}

    def records(self, endpoint: str, route: str, handle: ModelHandle, prepared: Prepared,
                preds: list[Any], proba: np.ndarray | None, latency: float, key: str | None,
                answered: list[str] | None) -> tuple[list[str], list[bytes]]:
        """A new prediction id per row, and the encoded log frames (none when the log is
        off). ``answered``: for a shadow, the ids the caller got for the same rows (each
        record's ``request_id``; on the answering route a record's own id)."""
        shadow = answered is not None
        ids: list[str] = []
        frames: list[bytes] = []
        classes = handle.classes
        probas = proba.tolist() if proba is not None else None
        base = {"endpoint": endpoint, "route": route, "model_name": handle.name,
                "model_version": handle.version, "latency_ms": round(latency, 3),
                "shadow": shadow, "request_key": key}
        clock = self.clock
        dumps = orjson.dumps
        logging = self.writer is not None
        for i in range(prepared.n):
            pid, t_us = new_prediction_id(clock)
            ids.append(pid)
            if not logging:
                continue
            outputs: dict[str, Any] = {"prediction": preds[i]}
            if probas is not None and classes is not None:
                outputs["proba"] = dict(zip(classes, probas[i]))
            rec = {"id": pid, "time": t_us, **base,
                   "request_id": answered[i] if answered is not None else pid,
                   "inputs": prepared.inputs[i], "outputs": outputs}
            frames.append(encode(dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY), time_us=t_us,
                                 endpoint=endpoint))
        return ids, frames

    async def write(self, frames: list[bytes]) -> None:
        """Append ``frames``; with durability ``durable``, return once they are fsync'd.
        Raises ``LogUnavailable`` when the log cannot be written."""
        if self.writer is None:
            return
        fut = self.writer.append_wait(frames)
        if fut is not None:
            t0 = time.perf_counter()
            await fut
            if self.wait is not None:
                self.wait.observe(time.perf_counter() - t0)

    def write_nowait(self, frames: list[bytes]) -> None:
        """Append ``frames`` without waiting (shadow predictions)."""
        if self.writer is not None and frames:
            self.writer.append(frames)
