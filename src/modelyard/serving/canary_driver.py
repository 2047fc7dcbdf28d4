"""Driving canaries: on every poll, each endpoint's newest canary is read from the database,
applied to the live endpoint (its route loaded, its traffic share set), and judged with
``canary.decide``; a step, a promotion or a rollback is recorded with a compare-and-set, so
exactly one worker of a server records each step."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from typing import Any

import orjson

from ..errors import InvalidParameter, NotFound
from .background import Background, quietly
from .canary import decide, merged
from .endpoints import CanaryConfig, EndpointConfig
from .live import LiveEndpoint, Route
from .metrics import ServerMetrics
from .repository import Canary, ServingRepository
from .switching import ModelSwitcher

__all__ = ["CanaryDriver"]

log = logging.getLogger("modelyard.serving")


class CanaryDriver:
    """Canaries of one server process; ``repo`` is None on a remote yard (no canaries)."""

    def __init__(self, yard: Any, repo: ServingRepository | None, metrics: ServerMetrics,
                 switcher: ModelSwitcher, background: Background) -> None:
        self.yard = yard
        self.repo = repo
        self.metrics = metrics
        self.switcher = switcher
        self.background = background

    def _repo(self) -> ServingRepository:
        if self.repo is None:
            raise InvalidParameter("Canaries need a local yard (a database).", field="yard")
        return self.repo

    async def drive(self, endpoints: dict[str, LiveEndpoint]) -> None:
        """Apply and judge the newest canary of each endpoint."""
        repo = self._repo()
        latest = await asyncio.to_thread(repo.latest_canaries, list(endpoints))
        clock = self.yard.clock
        for name, canary in latest.items():
            ep = endpoints.get(name)
            if ep is None:
                continue
            self.apply(ep, canary)
            if canary.status != "running" or ep.canary_route is None \
                    or ep.canary_route.handle is None or ep.canary_spec is None:
                continue
            cr = ep.canary_route
            incumbent = merged([r.stats for r in ep.routes])
            d = decide(ep.canary_spec, canary.step, canary.updated_at, clock.now(),
                       cr.stats, incumbent)
            if d.action == "hold":
                continue
            stats = {"canary": cr.stats.summary(), "incumbent": incumbent.summary()}
            won = await asyncio.to_thread(repo.advance, canary.id, canary.step, d.to_step,
                                          d.weight, d.action, d.reason, stats)
            if won:
                log.info("canary %s of %s: %s (%s)", canary.model, name, d.action, d.reason,
                         extra={"event": f"canary_{d.action}", "endpoint": name,
                                "canary": canary.id, "weight": d.weight, "stats": stats})
                if d.action == "promote" and ep.canary_spec.promote_alias:
                    await self._promote_alias(ep, cr)
            self.apply(ep, await asyncio.to_thread(repo.get_canary, canary.id))

    async def _promote_alias(self, ep: LiveEndpoint, cr: Route) -> None:
        assert ep.canary_spec is not None and cr.handle is not None
        try:
            await asyncio.to_thread(
                self.yard.backend.registry.set_alias, cr.handle.name,
                ep.canary_spec.promote_alias, cr.handle.version,
                f"canary promoted on endpoint {ep.name}")
        except Exception as exc:  # noqa: BLE001
            log.error("could not move alias %s@%s: %s", cr.handle.name,
                      ep.canary_spec.promote_alias, exc)

    def apply(self, ep: LiveEndpoint, canary: Canary) -> None:
        """Make the live endpoint follow ``canary``: its route (loaded in the background),
        its weight, and fresh statistics when the canary or its step changed."""
        previous = ep.canary
        ep.canary = canary
        ep.canary_spec = CanaryConfig.model_validate(canary.spec)
        if canary.status in ("rolled_back", "aborted") or (
                canary.status == "promoted" and ep.canary_spec.promote_alias):
            ep.canary_route = None
        elif ep.canary_route is None or ep.canary_route.ref != canary.model:
            ep.canary_route = Route(canary.route, canary.model, 0.0, "canary")
            self.background.spawn(self.switcher.load_route(ep, ep.canary_route))
        if previous is None or previous.id != canary.id or previous.step != canary.step:
            for r in ep.routes:
                r.stats.reset()
            if ep.canary_route is not None:
                ep.canary_route.stats.reset()
        self.metrics.canary_weight.labels(ep.name, canary.route).set(
            canary.weight if canary.status == "running" else 0.0)
        ep.recompute()

    async def start(self, ep: LiveEndpoint, spec: CanaryConfig) -> Canary:
        """Start a canary of ``spec.model`` on ``ep`` (through the API)."""
        repo = self._repo()
        if ep.canary is not None and ep.canary.status == "running":
            raise InvalidParameter(
                f"Endpoint {ep.name!r} already has a running canary ({ep.canary.model}); abort "
                "it first.", field="canary")
        if spec.route in {r.name for r in ep.routes + ep.shadows}:
            raise InvalidParameter(f"The canary route name {spec.route!r} is taken on endpoint "
                                   f"{ep.name!r}.", field="route")
        canary = await asyncio.to_thread(repo.start_canary, ep.name, spec.route, spec.model,
                                         spec.model_dump(mode="json"), spec.steps[0])
        self.apply(ep, canary)
        if ep.canary_route is not None and ep.canary_route.handle is None:
            await self.switcher.load_route(ep, ep.canary_route)
        return canary

    async def abort(self, ep: LiveEndpoint, reason: str | None) -> Canary:
        repo = self._repo()
        c = ep.canary
        if c is None or c.status != "running":
            raise NotFound(f"Endpoint {ep.name!r} has no running canary.", field="canary")
        await asyncio.to_thread(repo.advance, c.id, c.step, c.step, 0.0, "abort",
                                reason or "aborted through the API", {})
        canary = await asyncio.to_thread(repo.get_canary, c.id)
        self.apply(ep, canary)
        return canary

    def start_from_config(self, cfg: EndpointConfig) -> None:
        """Record the canary declared in ``cfg`` (once: its id is derived from the spec, so
        every worker and every restart with the same spec finds the same canary)."""
        assert self.repo is not None and cfg.canary is not None
        spec = cfg.canary.model_dump(mode="json")
        key = orjson.dumps([cfg.name, spec], option=orjson.OPT_SORT_KEYS)
        cid = "cfg-" + hashlib.blake2b(key, digest_size=14).hexdigest()
        quietly(functools.partial(self.repo.start_canary, canary_id=cid), cfg.name,
                cfg.canary.route, cfg.canary.model, spec, cfg.canary.steps[0])
