"""The data behind the dashboard's endpoint pages and cross-links, gathered from the domain
(the serving tables, the prediction log, monitoring, the registry) by plain functions that
the tests call directly; templates only lay it out.

    endpoint_states(repo, log_endpoints)     # every endpoint: routes, weights, shadows, canary
    endpoint_state(repo, name)               # one, with every canary and its decisions
    serving(states, "loans", 3)              # where model version loans/3 is served
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..errors import NotFound
from ..serving.endpoints import EndpointConfig, effective_weights
from ..serving.repository import Canary, StoredEndpoint

__all__ = [
    "EndpointState",
    "RouteState",
    "ServingTables",
    "endpoint_state",
    "endpoint_states",
    "serving",
]


class ServingTables(Protocol):
    """What is read of the serving tables (``serving.repository.ServingRepository``)."""

    def list_endpoints(self, source: str | None = None) -> list[StoredEndpoint]: ...

    def get_endpoint(self, name: str) -> StoredEndpoint: ...

    def canaries(self, endpoint: str) -> list[Canary]: ...

    def get_canary(self, canary_id: str) -> Canary: ...

    def latest_canaries(self, endpoints: list[str]) -> dict[str, Canary]: ...


class RouteState(BaseModel):
    """A route, shadow or canary of an endpoint: the model it asks for, what it serves now,
    its configured weight and its share of the traffic now (a running canary takes its
    step's share)."""

    name: str
    kind: str  # "route" | "shadow" | "canary"
    model: str
    served: str | None = None  # "name/3" once loaded
    weight: float | None = None
    share: float | None = None  # percent of the answered traffic now


class EndpointState(BaseModel):
    name: str
    source: str  # "config", "api", or "log" (seen only in the prediction log)
    revision: int = 0
    sticky: bool = False
    updated_at: datetime | None = None
    routes: list[RouteState] = Field(default_factory=list)
    canary: Canary | None = None  # the newest canary (with its steps on the detail page)
    canaries: list[Canary] = Field(default_factory=list)  # every canary, newest first
    spec_error: str | None = None  # a stored spec this version cannot read


def _routes(stored: StoredEndpoint, canary: Canary | None) -> tuple[list[RouteState], bool,
                                                                      str | None]:
    try:
        cfg = EndpointConfig.model_validate(stored.spec)
    except ValueError as exc:
        return [], False, str(exc).splitlines()[0]
    served: dict[str, Any] = stored.served or {}
    names = [r.name for r in cfg.routes]
    running = canary is not None and canary.status == "running"
    weights = [r.weight for r in cfg.routes]
    canary_index = None
    canary_route = canary.route if canary is not None else (cfg.canary.route if cfg.canary else None)
    if running and canary_route is not None:
        if canary_route in names:
            canary_index = names.index(canary_route)
        else:
            names.append(canary_route)
            weights.append(0.0)
            canary_index = len(names) - 1
    shares = effective_weights(weights, canary_index, canary.weight if running and canary else 0.0)
    total = sum(shares) or 1.0
    out = []
    for i, name in enumerate(names):
        if i < len(cfg.routes):
            r = cfg.routes[i]
            kind, model, weight = ("canary" if i == canary_index else "route"), r.model, r.weight
        else:  # the canary's own route
            kind, model, weight = "canary", canary.model if canary else "", None
        out.append(RouteState(name=name, kind=kind, model=model, served=served.get(name),
                              weight=weight, share=100.0 * shares[i] / total))
    for s in cfg.shadows:
        out.append(RouteState(name=s.name, kind="shadow", model=s.model, served=served.get(s.name)))
    return out, cfg.sticky, None


def _state(stored: StoredEndpoint, canary: Canary | None) -> EndpointState:
    routes, sticky, problem = _routes(stored, canary)
    return EndpointState(name=stored.name, source=stored.source, revision=stored.revision,
                         sticky=sticky, updated_at=stored.updated_at, routes=routes,
                         canary=canary, spec_error=problem)


def endpoint_states(repo: ServingTables | None, log_endpoints: Iterable[str] = ()) -> list[EndpointState]:
    """Every endpoint the serving tables know, plus those only seen in the prediction log
    (``source="log"``), by name."""
    stored = repo.list_endpoints() if repo is not None else []
    canaries = repo.latest_canaries([s.name for s in stored]) if repo is not None else {}
    out = {s.name: _state(s, canaries.get(s.name)) for s in stored}
    for name in log_endpoints:
        out.setdefault(name, EndpointState(name=name, source="log"))
    return [out[k] for k in sorted(out)]


def endpoint_state(repo: ServingTables | None, name: str,
                   log_endpoints: Iterable[str] = ()) -> EndpointState:
    """One endpoint with every canary it had (newest first) and the steps of the newest:
    each decision (start, step up, promote, roll back) with its reason and statistics."""
    try:
        if repo is None:
            raise NotFound(f"No endpoint named {name!r}.", field="name")
        stored = repo.get_endpoint(name)
    except NotFound:
        if name in set(log_endpoints):
            return EndpointState(name=name, source="log")
        raise
    canaries = repo.canaries(name)
    newest = repo.get_canary(canaries[0].id) if canaries else None
    state = _state(stored, newest)
    state.canaries = canaries
    return state


def serving(states: Iterable[EndpointState], model: str,
            version: int | None = None) -> list[tuple[str, RouteState]]:
    """Where ``model`` (version ``version``, or any) is served now: (endpoint, route) pairs,
    from what each route reports it loaded."""
    out = []
    for ep in states:
        for r in ep.routes:
            if r.served is None:
                continue
            name, _, v = r.served.partition("/")
            if name == model and (version is None or v == str(version)):
                out.append((ep.name, r))
    return out
