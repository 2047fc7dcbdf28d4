"""The request path: the one way a prediction request is answered, whatever the transport
(REST today; gRPC calls the same path). Pick a route, check the input against the route's
signature, predict (through the micro-batcher), log the records, count, and start the shadows.

Transports map the outcomes: ``Result``; ``ModelyardError`` (bad input, unknown endpoint);
``ModelFailure`` (the model raised: 500 with an error id); ``Unavailable`` (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidParameter, SchemaMismatch
from ..ids import new_id
from .background import Background
from .batching import MicroBatcher
from .live import LiveEndpoint, Route, Unavailable, find_endpoint
from .metrics import ServerMetrics
from .models import ModelHandle, Prepared
from .recorder import LogUnavailable, PredictionRecorder

__all__ = ["ModelFailure", "RequestPath", "Result", "prepare"]

log = logging.getLogger("modelyard.serving")


class ModelFailure(Exception):
    """The model raised; ``error_id`` is in the server's log with the traceback."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


@dataclass
class Result:
    route: Route
    handle: ModelHandle
    predictions: list[Any]
    proba: np.ndarray | None
    ids: list[str]


def prepare(handle: ModelHandle, kind: str, data: Any) -> Prepared:
    """``data`` checked against ``handle``'s signature; ``kind``: ``records``, ``columns``
    or ``matrix``."""
    if kind == "records":
        return handle.prepare_records(data)
    if kind == "columns":
        return handle.prepare_columns(data)
    return handle.prepare_matrix(data)


class RequestPath:
    """Answers prediction requests for the live ``endpoints`` (shared with the server)."""

    def __init__(self, endpoints: dict[str, LiveEndpoint], recorder: PredictionRecorder,
                 batcher: MicroBatcher, metrics: ServerMetrics, background: Background,
                 first_load_wait: float = 30.0) -> None:
        self.endpoints = endpoints
        self.first_load_wait = first_load_wait
        self.recorder = recorder
        self.batcher = batcher
        self.metrics = metrics
        self.background = background

    def endpoint(self, name: str) -> LiveEndpoint:
        return find_endpoint(self.endpoints, name)

    async def loaded(self, ep: LiveEndpoint) -> LiveEndpoint:
        """``ep`` once it can answer: a request that reaches a worker still on its first load
        (workers share one socket, so a new one takes connections at once) waits for it,
        at most ``first_load_wait`` seconds, instead of failing."""
        if not ep.active and not ep.first_load.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ep.first_load.wait(), self.first_load_wait)
        return ep

    async def predict(self, ep: LiveEndpoint, kind: str, data: Any, key: str | None,
                      t0: float) -> Result:
        """Route, check, predict, log (durably unless configured otherwise), and start the
        shadows. ``t0``: ``time.perf_counter()`` when the request arrived."""
        route = ep.choose(key)
        handle = route.handle
        assert handle is not None
        prepared = prepare(handle, kind, data)
        if prepared.n > ep.config.max_rows:
            raise InvalidParameter(f"A request may hold at most {ep.config.max_rows} rows on "
                                   f"endpoint {ep.name!r}. Got {prepared.n}.", field=kind)
        try:
            preds, proba = await self.batcher.submit(handle, prepared, ep.batch_policy,
                                                     route.metrics.batch_rows)
        except Exception as exc:
            latency = (time.perf_counter() - t0) * 1000.0
            route.stats.record(latency, True)
            route.metrics.errors["model"].inc()
            error_id = new_id()
            log.error("model %s failed on endpoint %s: %s", handle.label, ep.name, exc,
                      exc_info=exc, extra={"event": "model_error", "error_id": error_id,
                                           "endpoint": ep.name, "route": route.name,
                                           "model": handle.label})
            raise ModelFailure(error_id, f"The model {handle.label} failed on this input "
                                         f"({type(exc).__name__}).") from exc
        latency = (time.perf_counter() - t0) * 1000.0
        ids, frames = self.recorder.records(ep.name, route.name, handle, prepared, preds, proba,
                                            latency, key, None)
        try:
            await self.recorder.write(frames)
        except LogUnavailable as exc:
            route.metrics.errors["log"].inc()
            raise Unavailable(str(exc)) from exc
        route.stats.record(latency, False)
        m = route.metrics
        m.requests.inc()
        m.rows.inc(prepared.n)
        m.latency.observe(time.perf_counter() - t0)
        if ep.shadows:
            self.background.spawn(self._shadows(ep, kind, data, key, ids))
        return Result(route, handle, preds, proba, ids)

    async def _shadows(self, ep: LiveEndpoint, kind: str, data: Any, key: str | None,
                       answered: list[str]) -> None:
        for route in ep.shadows:
            handle = route.handle
            if handle is None:
                continue
            t0 = time.perf_counter()
            outcome = "logged"
            try:
                prepared = prepare(handle, kind, data)
                preds, proba = await self.batcher.submit(handle, prepared, ep.batch_policy,
                                                         route.metrics.batch_rows)
                latency = (time.perf_counter() - t0) * 1000.0
                _, frames = self.recorder.records(ep.name, route.name, handle, prepared, preds,
                                                  proba, latency, key, answered)
                self.recorder.write_nowait(frames)
            except SchemaMismatch:
                outcome = "invalid_input"
            except Exception as exc:  # noqa: BLE001 - a shadow never affects the answer
                outcome = "model_error"
                log.warning("shadow %s of %s failed: %s", handle.label, ep.name, exc,
                            extra={"event": "shadow_error", "endpoint": ep.name,
                                   "route": route.name, "model": handle.label})
            self.metrics.shadow.labels(ep.name, route.name, handle.name, str(handle.version),
                                       outcome).inc()
