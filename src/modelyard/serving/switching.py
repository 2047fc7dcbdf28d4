"""Model loading and the hot switch: a route's model is loaded and warmed in a worker thread,
then swapped in on the event loop (see ``live.py``); routes that follow an alias move to the
alias's new version on every poll, and a route whose load failed is retried on every poll."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ModelyardError
from .background import Background
from .live import FIRST_LOAD, LiveEndpoint, Route
from .metrics import ServerMetrics
from .models import ModelHandle

__all__ = ["ModelSwitcher"]

log = logging.getLogger("modelyard.serving")


class ModelSwitcher:
    """Loads models for routes and swaps them in. ``loader(yard, ref, device)`` builds a
    handle (``device``: the endpoint's, or None);
    ``on_change(ep)`` is told after every swap (the server records what it serves)."""

    def __init__(self, yard: Any, loader: Callable[[Any, str, str | None], ModelHandle],
                 metrics: ServerMetrics, background: Background,
                 on_change: Callable[[LiveEndpoint], None]) -> None:
        self.yard = yard
        self.loader = loader
        self.metrics = metrics
        self.background = background
        self.on_change = on_change

    async def load(self, ref: str, device: str | None = None) -> ModelHandle:
        return await asyncio.to_thread(self.loader, self.yard, ref, device)

    async def load_route(self, ep: LiveEndpoint, route: Route, ref: str | None = None) -> bool:
        """Load ``ref`` (default: the route's reference) and swap it in; False (logged) when
        it cannot be loaded, and the route keeps what it serves."""
        try:
            handle = await self.load(ref or route.ref, ep.config.device)
        except Exception as exc:  # noqa: BLE001 - keep serving what we have; retry on poll
            log.error("could not load %s for %s/%s: %s", ref or route.ref, ep.name, route.name,
                      exc, extra={"event": "load_failed", "endpoint": ep.name,
                                  "route": route.name, "model": ref or route.ref})
            message = exc.message if isinstance(exc, ModelyardError) else str(exc)
            route.error = f"could not load {ref or route.ref}: {message or type(exc).__name__}"
            self.metrics.load_failures.labels(ep.name, route.name).inc()
            self.on_change(ep)
            return False
        route.error = None
        self.swap(ep, route, handle)
        return True

    def swap(self, ep: LiveEndpoint, route: Route, handle: ModelHandle) -> None:
        old = route.handle
        route.handle = handle
        route.metrics = self.metrics.route(ep.name, route.name, handle.name, handle.version)
        ep.recompute()
        if old is not None and old.label != handle.label:
            self.metrics.switches.labels(ep.name, route.name).inc()
            log.info("switched %s/%s from %s to %s", ep.name, route.name, old.label,
                     handle.label, extra={"event": "model_switched", "endpoint": ep.name,
                                          "route": route.name, "from": old.label,
                                          "to": handle.label})
        elif old is None:
            log.info("loaded %s for %s/%s", handle.label, ep.name, route.name,
                     extra={"event": "model_loaded", "endpoint": ep.name, "route": route.name,
                            "model": handle.label})
        self.on_change(ep)

    async def switch(self, ep: LiveEndpoint, route: Route, pinned: str) -> None:
        try:
            await self.load_route(ep, route, pinned)
        finally:
            route.loading = None

    async def load_endpoint(self, ep: LiveEndpoint) -> None:
        """Load every route of ``ep`` that serves nothing yet, concurrently."""
        routes = [r for r in ep.all_routes() if r.handle is None]
        for r in routes:
            r.loading = FIRST_LOAD  # the control loop leaves it alone meanwhile
        try:
            await asyncio.gather(*(self.switch(ep, r, r.ref) for r in routes))
        finally:
            ep.first_load.set()

    async def follow_aliases(self, endpoints: Iterable[LiveEndpoint]) -> None:
        """Start loading the new target of every alias that moved, and retry every route
        whose first load failed."""
        registry = self.yard.backend.registry
        for ep in list(endpoints):
            for route in ep.all_routes():
                if route.loading is not None:
                    continue
                if route.handle is None:  # its first load failed: try again on every poll
                    route.loading = FIRST_LOAD
                    self.background.spawn(self.switch(ep, route, route.ref))
                    continue
                if "/" in route.ref or route.ref.startswith("bundle:"):  # fixed versions
                    continue
                try:
                    mv = await asyncio.to_thread(registry.resolve, route.ref)
                except Exception as exc:  # noqa: BLE001 - e.g. the alias was deleted
                    log.warning("could not resolve %s: %s", route.ref, exc)
                    continue
                if int(mv.version) == route.handle.version:
                    route.error = None  # the alias is back on what the route serves
                else:
                    route.loading = int(mv.version)
                    self.background.spawn(self.switch(ep, route, f"{mv.name}/{mv.version}"))
