"""What a model server serves right now: each endpoint with its routes (weighted routes, a
canary, shadows), the model handle each route holds, and the choice of a route per request.

Every change to what a route serves is a reference assignment made on the event loop
(``route.handle = new``), after the new model was loaded and warmed in a worker thread: a
request in flight keeps the handle it started with, the next one gets the new one, and no
request ever waits for a load.
"""

from __future__ import annotations

import asyncio
import random
from itertools import accumulate
from typing import Any

from ..errors import NotFound
from .batching import policy_for
from .canary import RouteStats
from .endpoints import CanaryConfig, EndpointConfig, effective_weights, pick
from .models import ModelHandle
from .repository import Canary

__all__ = ["FIRST_LOAD", "LiveEndpoint", "Route", "Unavailable", "find_endpoint", "served"]

FIRST_LOAD = -1  # Route.loading while a route's first model is loading


class Unavailable(Exception):
    """503: an endpoint still loading, or the prediction log could not be written."""


class Route:
    __slots__ = ("error", "handle", "kind", "loading", "metrics", "name", "ref", "stats",
                 "weight")

    def __init__(self, name: str, ref: str, weight: float, kind: str) -> None:
        self.name = name
        self.ref = ref
        self.weight = weight
        self.kind = kind  # route | canary | shadow
        self.handle: ModelHandle | None = None
        self.stats = RouteStats()
        self.metrics: Any = None
        self.loading: int | None = None  # the version being loaded in the background
        self.error: str | None = None  # why the last load failed (cleared by a load)


class LiveEndpoint:
    def __init__(self, config: EndpointConfig, source: str) -> None:
        self.config = config
        self.name = config.name
        self.source = source
        self.revision = 0
        self.routes = [Route(r.name, r.model, r.weight, "route") for r in config.routes]
        self.shadows = [Route(s.name, s.model, 0.0, "shadow") for s in config.shadows]
        self.batch_policy = policy_for(config.batching)
        self.canary: Canary | None = None
        self.canary_spec: CanaryConfig | None = None
        self.canary_route: Route | None = None
        self.active: list[Route] = []
        self.cumulative: list[float] = []
        self._rng = random.Random()
        # set once the first load of every route has finished (loaded or failed)
        self.first_load = asyncio.Event()

    def all_routes(self) -> list[Route]:
        extra = [self.canary_route] if self.canary_route is not None else []
        return self.routes + extra + self.shadows

    @property
    def ready(self) -> bool:
        return all(r.handle is not None for r in self.routes)

    @property
    def state(self) -> str:
        """``ready`` (every route serves), ``failed`` (a route's model could not be loaded;
        it is retried on every poll) or ``loading``."""
        if self.ready:
            return "ready"
        if any(r.handle is None and r.error for r in self.routes):
            return "failed"
        return "loading"

    def problems(self) -> dict[str, str]:
        """Route name -> why its last load failed (a route that serves nothing, or one that
        keeps serving its previous model), for every route, canary and shadow."""
        return {r.name: r.error for r in self.all_routes() if r.error}

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

    def why_unavailable(self) -> str:
        failed = [f"route {r.name!r} {r.error}" for r in self.routes
                  if r.handle is None and r.error]
        if failed:
            return (f"Endpoint {self.name!r} cannot serve: a model could not be loaded: "
                    f"{'; '.join(failed)}. It is retried on every poll.")
        return f"Endpoint {self.name!r} is loading its models."

    def choose(self, key: str | None) -> Route:
        active = self.active
        if not active:
            raise Unavailable(self.why_unavailable())
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
            "state": self.state, "problems": self.problems(),
            "sticky": self.config.sticky,
            "routes": [one(r) for r in self.routes + ([self.canary_route] if self.canary_route
                                                        else [])],
            "shadows": [one(r) for r in self.shadows],
            "canary": self.canary.model_dump(mode="json") if self.canary else None,
            "spec": self.config.model_dump(mode="json"),
        }


def find_endpoint(endpoints: dict[str, LiveEndpoint], name: str) -> LiveEndpoint:
    """The live endpoint called ``name``, or NotFound listing what is served."""
    ep = endpoints.get(name)
    if ep is None:
        raise NotFound(f"No endpoint named {name!r}. Serving: {sorted(endpoints)}.",
                       field="endpoint")
    return ep


def served(ep: LiveEndpoint) -> dict[str, str]:
    """What each route of ``ep`` serves now (route name -> ``name/version``)."""
    return {r.name: r.handle.label for r in ep.all_routes() if r.handle is not None}
