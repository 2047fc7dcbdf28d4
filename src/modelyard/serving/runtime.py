"""The state of a model server process, composed of one part per concern:

    live.py           the endpoints served now, their routes, the route of a request
    switching.py      model loading and the hot switch (alias moves, retried loads)
    sync.py           endpoints in the database (configuration, API, what is served)
    canary_driver.py  canaries: applied, judged and recorded on every poll
    request_path.py   the request path every transport calls (with batching.py, recorder.py)

``ServingRuntime`` starts and stops them, runs the control loop, and installs endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..wal.metrics import WalMetrics
from .background import Background
from .batching import MicroBatcher
from .canary_driver import CanaryDriver
from .endpoints import EndpointConfig
from .live import LiveEndpoint, find_endpoint
from .metrics import ServerMetrics
from .models import ModelHandle, load_handle
from .options import ServerOptions
from .recorder import PredictionRecorder
from .repository import ServingRepository
from .request_path import RequestPath
from .switching import ModelSwitcher
from .sync import EndpointSync
from .timing import LoopTimer, ProcessTuning
from .tokens import TokenChecks

__all__ = ["ServingRuntime"]

log = logging.getLogger("modelyard.serving")


class ServingRuntime:
    """Everything a model server process holds; the HTTP face (``app.py``) calls into it."""

    def __init__(self, yard: Any, endpoints: list[EndpointConfig], options: ServerOptions,
                 *, loader: Callable[[Any, str, str | None], ModelHandle] | None = None
                 ) -> None:
        self.yard = yard
        self.config_endpoints = endpoints
        self.options = options
        self.endpoints: dict[str, LiveEndpoint] = {}
        self.metrics = ServerMetrics(multiprocess=options.multiprocess_metrics)
        self.background = Background()
        backend = yard.backend
        self.repo = None if backend.is_remote else ServingRepository(backend.db, yard.clock)
        # tokens accepted through a database outage (looked up lazily: only with auth on)
        self.tokens = TokenChecks(lambda token: backend.auth.verify(token))
        self.recorder = PredictionRecorder(yard, options, WalMetrics(self.metrics.registry),
                                           self.metrics.log_wait, endpoints=self.endpoints)
        self.timer = LoopTimer(self.metrics)
        self.tuning = ProcessTuning(options.switch_interval_ms, options.freeze_gc)
        self.switcher = ModelSwitcher(yard, loader or load_handle,
                                      self.metrics, self.background, self._changed)
        self.canaries = CanaryDriver(yard, self.repo, self.metrics, self.switcher,
                                     self.background)
        self.sync = None if self.repo is None else EndpointSync(
            self.repo, options.scope, endpoints, self.canaries, self.background)
        self.requests = RequestPath(self.endpoints, self.recorder, MicroBatcher(), self.metrics,
                                    self.background, options.first_load_wait)
        self._control: asyncio.Task[Any] | None = None
        self.started_at = 0.0

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self.tuning.apply()
        self.timer.start()
        self.recorder.start()
        for cfg in self.config_endpoints:
            self.endpoints[cfg.name] = LiveEndpoint(cfg, "config")
        if self.sync is not None:  # the API's endpoints count for readiness from the start
            await asyncio.to_thread(self.sync.record_config)
            for cfg, revision in (await self.sync.api_endpoints())[0]:
                ep = self.endpoints[cfg.name] = LiveEndpoint(cfg, "api")
                ep.revision = revision
                if cfg.canary is not None:
                    await asyncio.to_thread(self.canaries.start_from_config, cfg)
        log.info("serving %d endpoints (scope %r): %s", len(self.endpoints), self.options.scope,
                 ", ".join(f"{n} ({e.source})" for n, e in self.endpoints.items()),
                 extra={"event": "endpoints", "scope": self.options.scope,
                        "endpoints": {n: e.source for n, e in self.endpoints.items()}})
        for ep in list(self.endpoints.values()):
            self.background.spawn(self.switcher.load_endpoint(ep))
        self._control = asyncio.create_task(self._control_loop())
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        if self._control is not None:
            self._control.cancel()
        self.background.cancel()
        self.timer.stop()
        await asyncio.to_thread(self.recorder.close)
        self.tuning.restore()

    @property
    def ready(self) -> bool:
        """Ready to take traffic: the prediction log is writable, no endpoint is still on its
        first load, and some endpoint serves (unless there are none). An endpoint whose model
        cannot be loaded does not hold the others hostage: it is reported in ``health()``."""
        if not self.recorder.healthy:
            return False
        states = [ep.state for ep in self.endpoints.values()]
        return "loading" not in states and (not states or "ready" in states)

    def health(self) -> dict[str, Any]:
        """The body of ``/readyz``: readiness, each endpoint's, and every load that failed."""
        self.refresh_metrics()
        return {
            "ready": self.ready,
            "endpoints": {n: e.ready for n, e in self.endpoints.items()},
            "states": {n: e.state for n, e in self.endpoints.items()},
            "problems": {n: p for n, e in self.endpoints.items() if (p := e.problems())},
            "prediction_log": self.recorder.status(),
        }

    def refresh_metrics(self) -> None:
        """Set each endpoint's readiness gauge (also done on every change)."""
        for ep in self.endpoints.values():
            self.metrics.endpoint_ready.labels(ep.name).set(1.0 if ep.ready else 0.0)

    def endpoint(self, name: str) -> LiveEndpoint:
        return find_endpoint(self.endpoints, name)

    # ---- endpoints ------------------------------------------------------------------------
    def _changed(self, ep: LiveEndpoint) -> None:
        self.tuning.settled()  # a model was loaded: it is long-lived
        if self.endpoints.get(ep.name) is not ep:
            return  # not (yet) served: an endpoint being prepared
        self.metrics.endpoint_ready.labels(ep.name).set(1.0 if ep.ready else 0.0)
        if self.sync is not None:
            self.background.spawn(self.sync.record_served(ep))

    async def prepare_endpoint(self, cfg: EndpointConfig, source: str) -> LiveEndpoint:
        """A live endpoint for ``cfg`` with every model loaded (reusing what an endpoint of
        that name has loaded already), not served yet; a route whose model could not be
        loaded serves nothing and says why (``route.error``)."""
        ep = LiveEndpoint(cfg, source)
        old = self.endpoints.get(cfg.name)
        if old is not None:
            loaded = {r.ref: r.handle for r in old.all_routes() if r.handle is not None}
            for r in ep.all_routes():
                if r.ref in loaded and "@" not in r.ref:
                    self.switcher.swap(ep, r, loaded[r.ref])  # type: ignore[arg-type]
        await self.switcher.load_endpoint(ep)
        return ep

    async def install(self, ep: LiveEndpoint, revision: int = 0) -> LiveEndpoint:
        """Serve ``ep`` (replacing an endpoint of that name at once, so it never stops
        answering; a running canary carries over)."""
        ep.revision = revision
        old = self.endpoints.get(ep.name)
        if old is not None:
            ep.canary, ep.canary_spec, ep.canary_route = old.canary, old.canary_spec, old.canary_route
            ep.recompute()
        self.endpoints[ep.name] = ep
        self.metrics.endpoint_ready.labels(ep.name).set(1.0 if ep.ready else 0.0)
        if self.sync is not None:
            await self.sync.record_served(ep)
            if ep.config.canary is not None:
                await asyncio.to_thread(self.canaries.start_from_config, ep.config)
        return ep

    async def add_endpoint(self, cfg: EndpointConfig, source: str,
                           revision: int = 0) -> LiveEndpoint:
        """Load every model of ``cfg`` in the background, then serve it."""
        return await self.install(await self.prepare_endpoint(cfg, source), revision)

    def remove_endpoint(self, name: str) -> None:
        if self.endpoints.pop(name, None) is not None:
            try:
                self.metrics.endpoint_ready.remove(name)
            except KeyError:
                pass

    # ---- the control loop -----------------------------------------------------------------
    async def _control_loop(self) -> None:
        failing = False  # the traceback once per outage, then a line per poll
        while True:
            await asyncio.sleep(self.options.poll_interval)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if failing:
                    log.warning("serving control loop still failing: %s", type(exc).__name__)
                else:
                    log.exception("serving control loop failed; retrying")
                failing = True
            else:
                if failing:
                    log.info("serving control loop recovered")
                failing = False

    async def poll_once(self) -> None:
        """One pass: follow API endpoints, move to new alias targets, drive canaries."""
        if self.sync is not None:
            await self.sync.follow(self.endpoints, self.add_endpoint, self.remove_endpoint)
        await self.switcher.follow_aliases(self.endpoints.values())
        if self.repo is not None:
            await self.canaries.drive(self.endpoints)
