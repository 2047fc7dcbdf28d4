"""Checking the model references of endpoints against the registry before they are served:
``modelyard serve`` refuses a reference that does not resolve (with a "did you mean"), and an
endpoint declared through the API is not saved until every reference resolves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import InvalidParameter, ModelyardError, NotFound, did_you_mean
from ..registry.refs import LATEST, parse_ref
from .build import BUNDLE_PREFIX
from .endpoints import EndpointConfig

__all__ = ["check_references", "references", "resolve_reference"]


def references(cfg: EndpointConfig) -> Iterator[tuple[str, str, str]]:
    """``(field, kind, ref)`` of every model an endpoint names: routes, shadows, canary.
    ``field`` is the path in the endpoint's spec (``routes.0.model``)."""
    for i, r in enumerate(cfg.routes):
        yield f"routes.{i}.model", f"route {r.name!r}", r.model
    for i, s in enumerate(cfg.shadows):
        yield f"shadows.{i}.model", f"shadow {s.name!r}", s.model
    if cfg.canary is not None:
        yield "canary.model", f"canary {cfg.canary.route!r}", cfg.canary.model


def resolve_reference(registry: Any, ref: str) -> Any:
    """The version ``ref`` means, or the registry's NotFound with a "did you mean" added
    (the closest alias of the model, or the closest model name)."""
    try:
        return registry.resolve(ref)
    except NotFound as exc:
        parsed = parse_ref(ref)
        hint = ""
        try:
            model = registry.get_model(parsed.name)
        except NotFound:
            hint = did_you_mean(parsed.name, [m.name for m in registry.list()])
        else:
            if parsed.alias is not None:
                hint = did_you_mean(parsed.alias, [*model.aliases, LATEST])
        raise NotFound(f"{exc.message.rstrip()}{hint}", field=exc.field) from None


def check_references(registry: Any, cfg: EndpointConfig, *, where: str) -> None:
    """Raise InvalidParameter naming the first reference of ``cfg`` that does not resolve
    (``bundle:`` references are files, checked when they load)."""
    for field, kind, ref in references(cfg):
        if ref.startswith(BUNDLE_PREFIX):
            continue
        try:
            resolve_reference(registry, ref)
        except ModelyardError as exc:
            raise InvalidParameter(f"{where}: the {kind} of endpoint {cfg.name!r} names "
                                   f"{ref!r}, which cannot be served. {exc.message}",
                                   field=field) from None
