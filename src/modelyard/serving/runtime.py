"""The state of a model server: live endpoints and their routes, the prediction-log writer,
the compactor, and the control loop that keeps models current (hot alias switch), follows
endpoints declared through the API and drives canaries.

Every change to what a route serves is a reference assignment made on the event loop
(``route.handle = new``), after the new model was loaded and warmed in a worker thread: a
request in flight keeps the handle it started with, the next one gets the new one, and no
request ever waits for a load.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidParameter, NotFound, SchemaMismatch
from ..predlog.compactor import Compactor
from ..predlog.records import new_prediction_id
from ..predlog.segments import encode, wal_dir
from ..predlog.writer import LogUnavailable, WalWriter
from .canary import RouteStats, decide, merged
from .endpoints import CanaryConfig, EndpointConfig, effective_weights, pick
from .metrics import ServerMetrics
from .models import ModelHandle, Prepared, load_handle
from .repository import Canary, ServingRepository

__all__ = [
    "LiveEndpoint",
    "ModelFailure",
    "Result",
    "Route",
    "ServerOptions",
    "ServingRuntime",
    "Unavailable",
]

log = logging.getLogger("modelyard.serving")


@dataclass
class ServerOptions:
    """How a model server behaves. ``durability``: ``durable`` (answer after fsync),
    ``async`` (log without waiting) or ``off`` (no prediction log)."""

    durability: str = "durable"
    max_request_bytes: int = 64 * 1024 * 1024
    auth_enabled: bool = False
    poll_interval: float = 2.0
    compact_interval: float = 30.0
    seal_bytes: int = 64 << 20
    seal_seconds: float = 300.0
    wal_lanes: int = 1
    log_dir: Path | None = None
    access_log: bool = False
    # several worker processes share metrics through prometheus-client's multiprocess files
    # (the CLI sets PROMETHEUS_MULTIPROC_DIR, which the library itself reads)
    multiprocess_metrics: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.durability not in ("durable", "async", "off"):
            raise InvalidParameter(
                "durability must be 'durable', 'async' or 'off'. "
                f"Got {self.durability!r} instead.", field="durability")


class ModelFailure(Exception):
    """The model raised; ``error_id`` is in the server's log with the traceback."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


class Unavailable(Exception):
    """503: an endpoint still loading, or the prediction log could not be written."""


_FIRST_LOAD = -1  # Route.loading while a route's first model is loading


class Route:
    __slots__ = ("handle", "kind", "loading", "metrics", "name", "ref", "stats", "weight")

    def __init__(self, name: str, ref: str, weight: float, kind: str) -> None:
        self.name = name
        self.ref = ref
        self.weight = weight
        self.kind = kind  # route | canary | shadow
        self.handle: ModelHandle | None = None
        self.stats = RouteStats()
        self.metrics: Any = None
        self.loading: int | None = None  # the version being loaded in the background


class LiveEndpoint:
    def __init__(self, config: EndpointConfig, source: str) -> None:
        self.config = config
        self.name = config.name
        self.source = source
        self.revision = 0
        self.routes = [Route(r.name, r.model, r.weight, "route") for r in config.routes]
        self.shadows = [Route(s.name, s.model, 0.0, "shadow") for s in config.shadows]
        self.canary: Canary | None = None
        self.canary_spec: CanaryConfig | None = None
        self.canary_route: Route | None = None
        self.active: list[Route] = []
        self.cumulative: list[float] = []
        self._rng = random.Random()

    def all_routes(self) -> list[Route]:
        extra = [self.canary_route] if self.canary_route is not None else []
        return self.routes + extra + self.shadows

    @property
    def ready(self) -> bool:
        return all(r.handle is not None for r in self.routes)

    def recompute(self) -> None:
        routes = [r for r in self.routes if r.handle is not None]
        weights = [r.weight for r in routes]
        cr = self.canary_route
        c = self.canary
        if cr is not None and cr.handle is not None and c is not None:
            if c.status == "running":
                routes.append(cr)
                weights = effective_weights(weights + [0.0], len(routes) - 1, c.weight)
            elif c.status == "promoted" and self.canary_spec is not None \
                    and self.canary_spec.promote_alias is None:
                routes, weights = [cr], [100.0]
        pairs = [(r, w) for r, w in zip(routes, weights) if w > 0]
        self.active = [r for r, _ in pairs]
        self.cumulative = list(accumulate(w for _, w in pairs))

    def choose(self, key: str | None) -> Route:
        active = self.active
        if not active:
            raise Unavailable(f"Endpoint {self.name!r} is loading its models.")
        if len(active) == 1:
            return active[0]
        return active[pick(self.cumulative, key if self.config.sticky else None, self._rng)]

    def describe(self) -> dict[str, Any]:
        total = self.cumulative[-1] if self.cumulative else 0.0
        shares = {}
        prev = 0.0
        for r, c in zip(self.active, self.cumulative):
            shares[r.name] = round(100.0 * (c - prev) / total, 3) if total else 0.0
            prev = c

        def one(r: Route) -> dict[str, Any]:
            return {"name": r.name, "model": r.ref, "kind": r.kind,
                    "serving": r.handle.label if r.handle else None,
                    "traffic_percent": shares.get(r.name, 0.0)}

        return {
            "name": self.name, "source": self.source, "ready": self.ready,
            "sticky": self.config.sticky,
            "routes": [one(r) for r in self.routes + ([self.canary_route] if self.canary_route
                                                        else [])],
            "shadows": [one(r) for r in self.shadows],
            "canary": self.canary.model_dump(mode="json") if self.canary else None,
            "spec": self.config.model_dump(mode="json"),
        }


@dataclass
class Result:
    route: Route
    handle: ModelHandle
    predictions: list[Any]
    proba: np.ndarray | None
    ids: list[str]


class ServingRuntime:
    """Everything a model server process holds; the HTTP faces (``app.py``) call into it."""

    def __init__(self, yard: Any, endpoints: list[EndpointConfig], options: ServerOptions,
                 *, loader: Callable[[Any, str], ModelHandle] | None = None) -> None:
        self.yard = yard
        self.clock = yard.clock
        self.config_endpoints = endpoints
        self.options = options
        self.loader = loader or (lambda y, ref: load_handle(y, ref))
        self.endpoints: dict[str, LiveEndpoint] = {}
        self.metrics = ServerMetrics(multiprocess=options.multiprocess_metrics)
        backend = yard.backend
        self.repo = None if backend.is_remote else ServingRepository(backend.db, yard.clock)
        self.log_dir = options.log_dir or yard.settings.resolved_prediction_log_dir
        self.writer: WalWriter | None = None
        self.compactor: Compactor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._control: asyncio.Task[Any] | None = None
        self._tokens: dict[str, tuple[float, Any]] = {}
        self.started_at = 0.0

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        opts = self.options
        if opts.durability != "off":
            self.writer = WalWriter(wal_dir(self.log_dir), durability=opts.durability,
                                    seal_bytes=opts.seal_bytes,
                                    seal_seconds=opts.seal_seconds,
                                    lanes=opts.wal_lanes).start()
            if not self.yard.backend.is_remote:
                self.compactor = Compactor(wal_dir(self.log_dir), self.yard.backend.artifacts,
                                           interval=opts.compact_interval).start()
        for cfg in self.config_endpoints:
            self.endpoints[cfg.name] = LiveEndpoint(cfg, "config")
        if self.repo is not None:
            await asyncio.to_thread(self._record_config_endpoints)
            await self._sync_api_endpoints()
        for ep in list(self.endpoints.values()):
            self._spawn(self._load_endpoint(ep))
        self._control = asyncio.create_task(self._control_loop())
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        if self._control is not None:
            self._control.cancel()
        for t in list(self._tasks):
            t.cancel()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        if self.compactor is not None:
            await asyncio.to_thread(self.compactor.stop)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def ready(self) -> bool:
        return all(ep.ready for ep in self.endpoints.values()) and (
            self.writer is None or self.writer._error is None)

    # ---- loading and switching ------------------------------------------------------------
    async def _load(self, ref: str) -> ModelHandle:
        return await asyncio.to_thread(self.loader, self.yard, ref)

    async def _load_route(self, ep: LiveEndpoint, route: Route, ref: str | None = None) -> bool:
        try:
            handle = await self._load(ref or route.ref)
        except Exception as exc:  # noqa: BLE001 - keep serving what we have; retry on poll
            log.error("could not load %s for %s/%s: %s", ref or route.ref, ep.name, route.name,
                      exc, extra={"event": "load_failed", "endpoint": ep.name,
                                  "route": route.name, "model": ref or route.ref})
            return False
        self._swap(ep, route, handle)
        return True

    def _swap(self, ep: LiveEndpoint, route: Route, handle: ModelHandle) -> None:
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
        if self.repo is not None and self.endpoints.get(ep.name) is ep:
            self._spawn(asyncio.to_thread(self._quiet, self.repo.set_served, ep.name,
                                          _served(ep)))

    async def _load_endpoint(self, ep: LiveEndpoint) -> None:
        routes = [r for r in ep.all_routes() if r.handle is None]
        for r in routes:
            r.loading = _FIRST_LOAD  # the control loop leaves it alone meanwhile
        await asyncio.gather(*(self._switch(ep, r, r.ref) for r in routes))

    async def add_endpoint(self, cfg: EndpointConfig, source: str, revision: int = 0) -> LiveEndpoint:
        """Load every model of ``cfg`` in the background, then serve it (replacing an endpoint
        of that name at once, so it never stops answering)."""
        ep = LiveEndpoint(cfg, source)
        ep.revision = revision
        old = self.endpoints.get(cfg.name)
        if old is not None:  # reuse what is loaded already
            loaded = {r.ref: r.handle for r in old.all_routes() if r.handle is not None}
            for r in ep.all_routes():
                if r.ref in loaded and "@" not in r.ref:
                    self._swap(ep, r, loaded[r.ref])  # type: ignore[arg-type]
        await self._load_endpoint(ep)
        if old is not None:
            ep.canary, ep.canary_spec, ep.canary_route = old.canary, old.canary_spec, old.canary_route
            ep.recompute()
        self.endpoints[cfg.name] = ep
        if self.repo is not None:
            await asyncio.to_thread(self._quiet, self.repo.set_served, ep.name, _served(ep))
        if cfg.canary is not None and self.repo is not None:
            await asyncio.to_thread(self._start_config_canary, cfg)
        return ep

    def remove_endpoint(self, name: str) -> None:
        self.endpoints.pop(name, None)

    @staticmethod
    def _quiet(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not break serving
            log.warning("serving bookkeeping failed: %s", exc)
            return None

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
        if self.repo is not None:
            await self._sync_api_endpoints()
        await self._check_aliases()
        if self.repo is not None:
            await self._drive_canaries()

    def _record_config_endpoints(self) -> None:
        assert self.repo is not None
        for cfg in self.config_endpoints:
            self._quiet(self.repo.save_endpoint, cfg.name, cfg.model_dump(mode="json"), "config")
            if cfg.canary is not None:
                self._start_config_canary(cfg)

    def _start_config_canary(self, cfg: EndpointConfig) -> None:
        assert self.repo is not None and cfg.canary is not None
        spec = cfg.canary.model_dump(mode="json")
        key = orjson.dumps([cfg.name, spec], option=orjson.OPT_SORT_KEYS)
        cid = "cfg-" + hashlib.blake2b(key, digest_size=14).hexdigest()
        self._quiet(functools.partial(self.repo.start_canary, canary_id=cid), cfg.name,
                    cfg.canary.route, cfg.canary.model, spec, cfg.canary.steps[0])

    async def _sync_api_endpoints(self) -> None:
        assert self.repo is not None
        stored = await asyncio.to_thread(self.repo.list_endpoints, "api")
        config_names = {c.name for c in self.config_endpoints}
        seen = set()
        for s in stored:
            if s.name in config_names:
                continue
            seen.add(s.name)
            ep = self.endpoints.get(s.name)
            if ep is None or ep.revision != s.revision:
                try:
                    cfg = EndpointConfig.model_validate(s.spec)
                except Exception as exc:  # noqa: BLE001
                    log.error("stored endpoint %s is invalid: %s", s.name, exc)
                    continue
                if ep is not None:
                    ep.revision = s.revision  # do not start the same load twice
                self._spawn(self.add_endpoint(cfg, "api", s.revision))
        for name, ep in list(self.endpoints.items()):
            if ep.source == "api" and name not in seen:
                self.remove_endpoint(name)

    async def _check_aliases(self) -> None:
        registry = self.yard.backend.registry
        for ep in list(self.endpoints.values()):
            for route in ep.all_routes():
                if route.loading is not None:
                    continue
                if route.handle is None:  # its first load failed: try again on every poll
                    route.loading = _FIRST_LOAD
                    self._spawn(self._switch(ep, route, route.ref))
                    continue
                if "/" in route.ref or route.ref.startswith("bundle:"):  # fixed versions
                    continue
                try:
                    mv = await asyncio.to_thread(registry.resolve, route.ref)
                except Exception as exc:  # noqa: BLE001 - e.g. the alias was deleted
                    log.warning("could not resolve %s: %s", route.ref, exc)
                    continue
                if int(mv.version) != route.handle.version:
                    route.loading = int(mv.version)
                    self._spawn(self._switch(ep, route, f"{mv.name}/{mv.version}"))

    async def _switch(self, ep: LiveEndpoint, route: Route, pinned: str) -> None:
        try:
            await self._load_route(ep, route, pinned)
        finally:
            route.loading = None

    async def _drive_canaries(self) -> None:
        assert self.repo is not None
        latest = await asyncio.to_thread(self.repo.latest_canaries, list(self.endpoints))
        for name, canary in latest.items():
            ep = self.endpoints.get(name)
            if ep is None:
                continue
            self._apply_canary(ep, canary)
            if canary.status != "running" or ep.canary_route is None \
                    or ep.canary_route.handle is None or ep.canary_spec is None:
                continue
            cr = ep.canary_route
            incumbent = merged([r.stats for r in ep.routes])
            d = decide(ep.canary_spec, canary.step, canary.updated_at, self.clock.now(),
                       cr.stats, incumbent)
            if d.action == "hold":
                continue
            stats = {"canary": cr.stats.summary(), "incumbent": incumbent.summary()}
            won = await asyncio.to_thread(self.repo.advance, canary.id, canary.step, d.to_step,
                                          d.weight, d.action, d.reason, stats)
            if won:
                log.info("canary %s of %s: %s (%s)", canary.model, name, d.action, d.reason,
                         extra={"event": f"canary_{d.action}", "endpoint": name,
                                "canary": canary.id, "weight": d.weight, "stats": stats})
                if d.action == "promote" and ep.canary_spec.promote_alias:
                    await self._promote_alias(ep, cr)
            self._apply_canary(ep, await asyncio.to_thread(self.repo.get_canary, canary.id))

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

    def _apply_canary(self, ep: LiveEndpoint, canary: Canary) -> None:
        previous = ep.canary
        ep.canary = canary
        ep.canary_spec = CanaryConfig.model_validate(canary.spec)
        if canary.status in ("rolled_back", "aborted") or (
                canary.status == "promoted" and ep.canary_spec.promote_alias):
            ep.canary_route = None
        elif ep.canary_route is None or ep.canary_route.ref != canary.model:
            ep.canary_route = Route(canary.route, canary.model, 0.0, "canary")
            self._spawn(self._load_route(ep, ep.canary_route))
        if previous is None or previous.id != canary.id or previous.step != canary.step:
            for r in ep.routes:
                r.stats.reset()
            if ep.canary_route is not None:
                ep.canary_route.stats.reset()
        self.metrics.canary_weight.labels(ep.name, canary.route).set(
            canary.weight if canary.status == "running" else 0.0)
        ep.recompute()

    async def start_canary(self, name: str, spec: CanaryConfig) -> Canary:
        if self.repo is None:
            raise InvalidParameter("Canaries need a local yard (a database).", field="yard")
        ep = self.endpoint(name)
        if ep.canary is not None and ep.canary.status == "running":
            raise InvalidParameter(
                f"Endpoint {name!r} already has a running canary ({ep.canary.model}); abort it "
                "first.", field="canary")
        if spec.route in {r.name for r in ep.routes + ep.shadows}:
            raise InvalidParameter(f"The canary route name {spec.route!r} is taken on endpoint "
                                   f"{name!r}.", field="route")
        canary = await asyncio.to_thread(self.repo.start_canary, name, spec.route, spec.model,
                                         spec.model_dump(mode="json"), spec.steps[0])
        self._apply_canary(ep, canary)
        if ep.canary_route is not None and ep.canary_route.handle is None:
            await self._load_route(ep, ep.canary_route)
        return canary

    async def abort_canary(self, name: str, reason: str | None) -> Canary:
        if self.repo is None:
            raise InvalidParameter("Canaries need a local yard (a database).", field="yard")
        ep = self.endpoint(name)
        c = ep.canary
        if c is None or c.status != "running":
            raise NotFound(f"Endpoint {name!r} has no running canary.", field="canary")
        await asyncio.to_thread(self.repo.advance, c.id, c.step, c.step, 0.0, "abort",
                                reason or "aborted through the API", {})
        canary = await asyncio.to_thread(self.repo.get_canary, c.id)
        self._apply_canary(ep, canary)
        return canary

    # ---- requests -------------------------------------------------------------------------
    def endpoint(self, name: str) -> LiveEndpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise NotFound(f"No endpoint named {name!r}. Serving: {sorted(self.endpoints)}.",
                           field="endpoint")
        return ep

    async def predict(self, ep: LiveEndpoint, kind: str, data: Any, key: str | None,
                      t0: float) -> Result:
        """Route, check, predict, log (durably unless configured otherwise), and start the
        shadows. ``kind``: ``records``, ``columns`` or ``matrix``."""
        route = ep.choose(key)
        handle = route.handle
        assert handle is not None
        prepared = _prepare(handle, kind, data)
        if prepared.n > ep.config.max_rows:
            raise InvalidParameter(f"A request may hold at most {ep.config.max_rows} rows on "
                                   f"endpoint {ep.name!r}. Got {prepared.n}.", field=kind)
        try:
            preds, proba = await handle.submit(prepared)
        except Exception as exc:
            latency = (time.perf_counter() - t0) * 1000.0
            route.stats.record(latency, True)
            route.metrics.errors["model"].inc()
            error_id = _error_id()
            log.error("model %s failed on endpoint %s: %s", handle.label, ep.name, exc,
                      exc_info=exc, extra={"event": "model_error", "error_id": error_id,
                                           "endpoint": ep.name, "route": route.name,
                                           "model": handle.label})
            raise ModelFailure(error_id, f"The model {handle.label} failed on this input "
                                         f"({type(exc).__name__}).") from exc
        latency = (time.perf_counter() - t0) * 1000.0
        ids, frames = self._records(ep, route, handle, prepared, preds, proba, latency, key,
                                    None)
        if self.writer is not None:
            try:
                fut = self.writer.append_wait(frames)
                if fut is not None:
                    await fut
            except LogUnavailable as exc:
                route.metrics.errors["log"].inc()
                raise Unavailable(str(exc)) from exc
        route.stats.record(latency, False)
        m = route.metrics
        m.requests.inc()
        m.rows.inc(prepared.n)
        m.latency.observe(time.perf_counter() - t0)
        if ep.shadows:
            self._spawn(self._shadows(ep, kind, data, key, ids))
        return Result(route, handle, preds, proba, ids)

    def _records(self, ep: LiveEndpoint, route: Route, handle: ModelHandle, prepared: Prepared,
                 preds: list[Any], proba: np.ndarray | None, latency: float, key: str | None,
                 answered: list[str] | None) -> tuple[list[str], list[bytes]]:
        """The ids and log frames of a request's rows; ``answered``: for a shadow, the ids the
        caller got for the same rows (each record's ``request_id``; on the answering route a
        record's own id)."""
        shadow = answered is not None
        ids: list[str] = []
        frames: list[bytes] = []
        classes = handle.classes
        probas = proba.tolist() if proba is not None else None
        base = {"endpoint": ep.name, "route": route.name, "model_name": handle.name,
                "model_version": handle.version, "latency_ms": round(latency, 3),
                "shadow": shadow, "request_key": key}
        clock = self.clock
        dumps = orjson.dumps
        for i in range(prepared.n):
            pid, t_us = new_prediction_id(clock)
            ids.append(pid)
            if self.writer is None:
                continue
            outputs: dict[str, Any] = {"prediction": preds[i]}
            if probas is not None and classes is not None:
                outputs["proba"] = dict(zip(classes, probas[i]))
            rec = {"id": pid, "time": t_us, **base,
                   "request_id": answered[i] if answered is not None else pid,
                   "inputs": prepared.inputs[i], "outputs": outputs}
            frames.append(encode(dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY)))
        return ids, frames

    async def _shadows(self, ep: LiveEndpoint, kind: str, data: Any, key: str | None,
                       answered: list[str]) -> None:
        for route in ep.shadows:
            handle = route.handle
            if handle is None:
                continue
            t0 = time.perf_counter()
            outcome = "logged"
            try:
                prepared = _prepare(handle, kind, data)
                preds, proba = await handle.submit(prepared)
                latency = (time.perf_counter() - t0) * 1000.0
                _, frames = self._records(ep, route, handle, prepared, preds, proba, latency,
                                          key, answered)
                if self.writer is not None and frames:
                    self.writer.append(frames)
            except SchemaMismatch:
                outcome = "invalid_input"
            except Exception as exc:  # noqa: BLE001 - a shadow never affects the answer
                outcome = "model_error"
                log.warning("shadow %s of %s failed: %s", handle.label, ep.name, exc,
                            extra={"event": "shadow_error", "endpoint": ep.name,
                                   "route": route.name, "model": handle.label})
            self.metrics.shadow.labels(ep.name, route.name, handle.name, str(handle.version),
                                       outcome).inc()

    # ---- auth -----------------------------------------------------------------------------
    async def verify(self, token: str) -> Any:
        """The principal of a bearer token (verified against the yard's tokens, cached 30 s)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit = self._tokens.get(digest)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await asyncio.to_thread(self.yard.backend.auth.verify, token)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[digest] = (now + 30.0, principal)
        return principal


def _served(ep: LiveEndpoint) -> dict[str, str]:
    return {r.name: r.handle.label for r in ep.all_routes() if r.handle is not None}


def _prepare(handle: ModelHandle, kind: str, data: Any) -> Prepared:
    if kind == "records":
        return handle.prepare_records(data)
    if kind == "columns":
        return handle.prepare_columns(data)
    return handle.prepare_matrix(data)


def _error_id() -> str:
    from ..ids import new_id

    return new_id()
