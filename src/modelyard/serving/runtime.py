"""The state of a model server process, composed of one part per concern:

    live.py           the endpoints served now, their routes, the route of a request
    switching.py      model loading and the hot switch (alias moves, retried loads)
    sync.py           endpoints in the database (configuration, API, what is served)
    canary_driver.py  canaries: applied, judged and recorded on every poll
    request_path.py   the request path every transport calls (with batching.py, recorder.py)
    auth.py           bearer tokens

``ServingRuntime`` starts and stops them, runs the control loop, and installs endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .auth import TokenCache
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

__all__ = ["ServingRuntime"]

log = logging.getLogger("modelyard.serving")


class ServingRuntime:
    """Everything a model server process holds; the HTTP face (``app.py``) calls into it."""

    def __init__(self, yard: Any, endpoints: list[EndpointConfig], options: ServerOptions,
                 *, loader: Callable[[Any, str], ModelHandle] | None = None) -> None:
        self.yard = yard
        self.config_endpoints = endpoints
        self.options = options
        self.endpoints: dict[str, LiveEndpoint] = {}
        self.metrics = ServerMetrics(multiprocess=options.multiprocess_metrics)
        self.background = Background()
        backend = yard.backend
        self.repo = None if backend.is_remote else ServingRepository(backend.db, yard.clock)
        self.recorder = PredictionRecorder(yard, options)
        self.switcher = ModelSwitcher(yard, loader or (lambda y, ref: load_handle(y, ref)),
                                      self.metrics, self.background, self._changed)
        self.canaries = CanaryDriver(yard, self.repo, self.metrics, self.switcher,
                                     self.background)
        self.sync = None if self.repo is None else EndpointSync(
            self.repo, endpoints, self.canaries, self.background)
        self.requests = RequestPath(self.endpoints, self.recorder, MicroBatcher(), self.metrics,
                                    self.background)
        self.tokens = TokenCache(backend.auth)
        self._control: asyncio.Task[Any] | None = None
        self.started_at = 0.0

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self.recorder.start()
        for cfg in self.config_endpoints:
            self.endpoints[cfg.name] = LiveEndpoint(cfg, "config")
        if self.sync is not None:
            await asyncio.to_thread(self.sync.record_config)
            await self.sync.follow(self.endpoints, self.add_endpoint, self.remove_endpoint)
        for ep in list(self.endpoints.values()):
            self.background.spawn(self.switcher.load_endpoint(ep))
        self._control = asyncio.create_task(self._control_loop())
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        if self._control is not None:
            self._control.cancel()
        self.background.cancel()
        await asyncio.to_thread(self.recorder.close)

    @property
    def ready(self) -> bool:
        return all(ep.ready for ep in self.endpoints.values()) and self.recorder.healthy

    def endpoint(self, name: str) -> LiveEndpoint:
        return find_endpoint(self.endpoints, name)

    # ---- endpoints ------------------------------------------------------------------------
    def _changed(self, ep: LiveEndpoint) -> None:
        if self.sync is not None and self.endpoints.get(ep.name) is ep:
            self.background.spawn(self.sync.record_served(ep))

    async def add_endpoint(self, cfg: EndpointConfig, source: str,
                           revision: int = 0) -> LiveEndpoint:
        """Load every model of ``cfg`` in the background, then serve it (replacing an endpoint
        of that name at once, so it never stops answering)."""
        ep = LiveEndpoint(cfg, source)
        ep.revision = revision
        old = self.endpoints.get(cfg.name)
        if old is not None:  # reuse what is loaded already
            loaded = {r.ref: r.handle for r in old.all_routes() if r.handle is not None}
            for r in ep.all_routes():
                if r.ref in loaded and "@" not in r.ref:
                    self.switcher.swap(ep, r, loaded[r.ref])  # type: ignore[arg-type]
        await self.switcher.load_endpoint(ep)
        if old is not None:
            ep.canary, ep.canary_spec, ep.canary_route = old.canary, old.canary_spec, old.canary_route
            ep.recompute()
        self.endpoints[cfg.name] = ep
        if self.sync is not None:
            await self.sync.record_served(ep)
            if cfg.canary is not None:
                await asyncio.to_thread(self.canaries.start_from_config, cfg)
        return ep

    def remove_endpoint(self, name: str) -> None:
        self.endpoints.pop(name, None)

    # ---- the control loop -----------------------------------------------------------------
    async def _control_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.poll_interval)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("serving control loop failed; retrying")

    async def poll_once(self) -> None:
        """One pass: follow API endpoints, move to new alias targets, drive canaries."""
        if self.sync is not None:
            await self.sync.follow(self.endpoints, self.add_endpoint, self.remove_endpoint)
        await self.switcher.follow_aliases(self.endpoints.values())
        if self.repo is not None:
            await self.canaries.drive(self.endpoints)
