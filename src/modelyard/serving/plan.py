"""What a model server will serve, said before it starts: the endpoints of its command line
(``--model``, ``--config``, ``--bundle``), each reference checked against the registry, and the
endpoints declared earlier through the API of a server of the same scope.

The rule (also in the README): a server serves its command line's endpoints plus the endpoints
stored for its scope (``modelyard serve --scope NAME``, default ``default``); an endpoint
declared through ``PUT /endpoints/NAME`` is stored under the scope of the server that took it,
until ``DELETE /endpoints/NAME`` or ``modelyard endpoints delete NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelyardError
from .endpoints import EndpointConfig
from .references import check_references, references
from .repository import ServingRepository

__all__ = ["PlannedEndpoint", "format_plan", "plan_endpoints"]


@dataclass
class PlannedEndpoint:
    """One endpoint a server will serve: ``origin`` says where it comes from; ``problem``
    why a stored endpoint will not serve as it is (it is reported, not fatal)."""

    name: str
    origin: str
    models: list[str] = field(default_factory=list)
    problem: str | None = None


def plan_endpoints(yard: Any, configured: list[tuple[EndpointConfig, str]],
                   scope: str) -> list[PlannedEndpoint]:
    """The endpoints a server started with ``configured`` (each with the option it came
    from) and ``scope`` will serve. A configured reference that does not resolve raises
    InvalidParameter (with a "did you mean")."""
    out = []
    for cfg, origin in configured:
        check_references(yard.models, cfg, where=origin)
        out.append(PlannedEndpoint(cfg.name, origin, [ref for _, _, ref in references(cfg)]))
    if yard.backend.is_remote:
        return out
    names = {cfg.name for cfg, _ in configured}
    repo = ServingRepository(yard.backend.db, yard.clock)
    for stored in repo.list_endpoints("api", scope):
        if stored.name in names:
            continue
        origin = (f"declared through the API (scope {scope!r}, revision {stored.revision}, "
                  f"{stored.updated_at:%Y-%m-%d %H:%M} UTC)")
        try:
            cfg = EndpointConfig.model_validate(stored.spec)
        except ValueError as exc:
            out.append(PlannedEndpoint(stored.name, origin, [], f"invalid spec: {exc}"))
            continue
        planned = PlannedEndpoint(stored.name, origin, [ref for _, _, ref in references(cfg)])
        try:
            check_references(yard.models, cfg, where="stored")
        except ModelyardError as exc:
            planned.problem = exc.message
        out.append(planned)
    return out


def format_plan(plan: list[PlannedEndpoint], scope: str) -> str:
    """The lines ``modelyard serve`` prints before it starts."""
    lines = [f"serving {len(plan)} endpoint{'s' if len(plan) != 1 else ''} (scope {scope!r}):"]
    width = max((len(p.name) for p in plan), default=0)
    for p in plan:
        lines.append(f"  {p.name:<{width}}  {', '.join(p.models)}  <- {p.origin}")
        if p.problem:
            lines.append(f"  {'':<{width}}  warning: {p.problem}")
    if any(p.origin.startswith("declared") for p in plan):
        lines.append("  (endpoints declared through the API: modelyard endpoints list / delete)")
    return "\n".join(lines)
