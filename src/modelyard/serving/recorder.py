"""The model server's side of the prediction log: it starts the write-ahead writer (and, on a
local yard, the compaction of sealed segments into Parquet, in a child process: see
``compaction.py``), turns each answered row into a record — masking the input columns the
endpoint's ``privacy`` says, before the record is encoded (``predictions/privacy.py``) — and
appends the records, durably unless configured otherwise."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from ..artifacts.store import open_artifact_store
from ..errors import NotFound
from ..predictions.erase import record_retention
from ..predictions.privacy import MaskPlan, load_secret, mask_plan, sensitive_columns
from ..wal.metrics import WalMetrics
from ..wal.records import new_prediction_id
from ..wal.retention import RetentionResult
from ..wal.segments import encode, wal_dir
from ..wal.writer import LogUnavailable, WalWriter
from .compaction import CompactionWorker
from .models import ModelHandle, Prepared
from .options import ServerOptions

__all__ = ["LogUnavailable", "PredictionRecorder"]

log = logging.getLogger("modelyard.serving")

_RETRY_LOOKUP_S = 60.0  # a failed look-up of a model's flagged columns is tried again after


class PredictionRecorder:
    """Records of one server process; ``writer`` is None with durability ``off``."""

    def __init__(self, yard: Any, options: ServerOptions,
                 metrics: WalMetrics | None = None, wait: Any = None, *,
                 endpoints: Mapping[str, Any] | None = None) -> None:
        self.yard = yard
        # the live endpoints by name (their ``config.privacy`` says how to mask and retain)
        self.endpoints: Mapping[str, Any] = endpoints if endpoints is not None else {}
        self._secret: bytes | None = None
        self._flagged: dict[str, tuple[dict[str, str] | None, float]] = {}
        self._plans: dict[tuple[str, str, int], MaskPlan] = {}
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
            url = settings.prediction_log_url  # else the yard's own (local) store
            target = open_artifact_store(url) if url else self.yard.backend.artifacts
            self.compactor = CompactionWorker(
                wal_dir(self.log_dir), target, interval=opts.compact_interval, clock=self.clock,
                metrics=self.metrics, in_process=opts.compaction == "thread",
                retention=self.retention_policies,
                on_retention=self._record_retention).start()

    def close(self) -> None:
        """Flush and close the writer, then stop the compactor (which compacts once more)."""
        if self.writer is not None:
            self.writer.close()
        if self.compactor is not None:
            self.compactor.stop()

    # ---- retention ----------------------------------------------------------------------
    def retention_policies(self) -> dict[str, int]:
        """``privacy.retention_days`` of the live endpoints that set it."""
        out = {}
        for name, ep in list(self.endpoints.items()):
            privacy = getattr(getattr(ep, "config", None), "privacy", None)
            if privacy is not None and privacy.retention_days:
                out[name] = int(privacy.retention_days)
        return out

    def _record_retention(self, result: RetentionResult) -> None:
        """The labels of the dropped predictions and the audit record (local yards; a
        remote yard's server only logs what it dropped)."""
        if self.yard.backend.is_remote:
            return
        record_retention(self.yard.backend.db, self.compactor.target if self.compactor
                         else self.yard.backend.artifacts, self.log_dir, result)

    # ---- masking ------------------------------------------------------------------------
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_secret(self.yard.settings)
        return self._secret

    def _flagged_columns(self, handle: ModelHandle) -> dict[str, str] | None:
        """The flagged input columns of ``handle``'s model (cached per model version); None
        when they could not be found out (then every column is masked: fail closed)."""
        cached = self._flagged.get(handle.label)
        now = time.monotonic()
        if cached is not None and (cached[0] is not None or now - cached[1] < _RETRY_LOOKUP_S):
            return cached[0]
        found: dict[str, str] | None
        try:
            found = sensitive_columns(self.yard, handle.name, handle.version)
        except NotFound:
            found = {}
        except Exception as exc:  # noqa: BLE001 - mask everything rather than fail requests
            log.warning("the data dictionary of %s could not be read (%s): every input column "
                        "is masked until it can", handle.label, exc,
                        extra={"event": "privacy_lookup_failed", "model": handle.label})
            found = None
        self._flagged[handle.label] = (found, now)
        self._plans.clear()
        return found

    def plan(self, endpoint: str, handle: ModelHandle) -> MaskPlan:
        """How the inputs of ``handle`` are masked on ``endpoint`` (see ``PrivacyConfig``)."""
        ep = self.endpoints.get(endpoint)
        privacy = getattr(getattr(ep, "config", None), "privacy", None)
        key = (endpoint, handle.label, id(privacy))
        plan = self._plans.get(key)
        if plan is None or (handle.label in self._flagged
                            and self._flagged[handle.label][0] is None):
            mask = privacy.mask if privacy is not None else "hash"
            columns = dict(privacy.columns) if privacy is not None else {}
            flagged = self._flagged_columns(handle)
            plan = self._plans[key] = mask_plan(flagged, mask, columns)
        return plan

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
        plan = self.plan(endpoint, handle) if logging else None
        secret = self.secret if plan is not None and not plan.empty else b""
        for i in range(prepared.n):
            pid, t_us = new_prediction_id(clock)
            ids.append(pid)
            if not logging:
                continue
            outputs: dict[str, Any] = {"prediction": preds[i]}
            if probas is not None and classes is not None:
                outputs["proba"] = dict(zip(classes, probas[i]))
            inputs = prepared.inputs[i]
            if plan is not None and not plan.empty:
                inputs = plan.apply(inputs, secret)
            rec = {"id": pid, "time": t_us, **base,
                   "request_id": answered[i] if answered is not None else pid,
                   "inputs": inputs, "outputs": outputs}
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
