"""One domain implementation, two transports.

A domain store (``tracking.store.TrackingStore``, ``registry.store.RegistryStore`` …) is a
plain class over the database. Each public method that should be reachable remotely is marked
with :func:`endpoint`; from these marks

* ``api/rpc.py`` builds the REST routes of ``modelyard server`` (FastAPI, OpenAPI spec), and
* ``client/rpc.py`` builds a client object with the same methods that calls those routes.

The contract for a marked method:

* every parameter and the return value are annotated with JSON-able types: str, int, float,
  bool, None, datetime, lists/dicts of those, or pydantic models (the entities);
* parameters named in the path template (``/runs/{run_id}``) go in the path; for ``GET`` and
  ``DELETE`` the rest go in the query string (scalars only); for ``POST``/``PUT``/``PATCH`` they
  form the JSON body;
* errors are raised as :mod:`modelyard.errors` classes; the server maps them to 4xx JSON and
  the client raises the same class again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["endpoint", "EndpointSpec", "endpoints_of"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class EndpointSpec:
    method: str
    path: str
    name: str
    status_code: int = 200
    summary: str | None = None


def endpoint(method: str, path: str, *, status_code: int = 200) -> Callable[[F], F]:
    """Mark a store method as a REST endpoint at ``method path`` (under ``/api/v1``)."""

    def mark(fn: F) -> F:
        doc = (fn.__doc__ or "").strip().splitlines()
        fn.__modelyard_endpoint__ = EndpointSpec(  # type: ignore[attr-defined]
            method.upper(), path, fn.__name__, status_code, doc[0] if doc else None
        )
        return fn

    return mark


def endpoints_of(cls: type) -> list[tuple[Callable[..., Any], EndpointSpec]]:
    """The marked methods of a store class, in definition order."""
    out = []
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            spec = getattr(value, "__modelyard_endpoint__", None)
            if spec is not None:
                out.append((value, spec))
    seen: dict[str, tuple[Callable[..., Any], EndpointSpec]] = {}
    for fn, spec in out:
        seen[spec.name] = (fn, spec)
    return list(seen.values())
