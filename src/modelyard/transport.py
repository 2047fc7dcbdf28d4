"""One domain implementation, two transports.

A domain store (``tracking.store.TrackingStore``, ``registry.store.RegistryStore`` …) is a
plain class over the database. Each public method that should be reachable remotely is marked
with :func:`endpoint`; from these marks

* ``api/rpc.py`` builds the REST routes of ``modelyard server`` (FastAPI, OpenAPI spec), and
* ``client/rpc.py`` builds a client object with the same methods that calls those routes.

The contract for a marked method:

* it declares the permission it needs, whatever the HTTP verb (``permission="read"`` for a
  search carried by POST), and, when it acts on a named model or dataset, which argument names
  it (``resource="name"``: scoped grants are checked against it); see
  :mod:`modelyard.access`. A mark without a permission is refused when the app or the client
  is built (fail closed);
* every parameter and the return value are annotated with JSON-able types: str, int, float,
  bool, None, datetime, lists/dicts of those, or pydantic models (the entities);
* parameters named in the path template (``/runs/{run_id}``) go in the path; for ``GET`` and
  ``DELETE`` the rest go in the query string (scalars only); for ``POST``/``PUT``/``PATCH`` they
  form the JSON body;
* who calls is never a parameter: the store records it from the principal
  (:func:`modelyard.access.acting_principal`);
* errors are raised as :mod:`modelyard.errors` classes; the server maps them to 4xx JSON and
  the client raises the same class again.

A method that writes (``write``/``approve``/``admin``) is retried when the database aborted it for colliding
with a concurrent write (:func:`modelyard.store.retry.retry_on_conflict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .access import check_permission

__all__ = ["EndpointSpec", "endpoint", "endpoints_of"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class EndpointSpec:
    method: str
    path: str
    name: str
    status_code: int = 200
    summary: str | None = None
    permission: str | None = None  # None: not declared (refused when the app is built)
    resource: str | None = None  # the argument naming the model/dataset acted on (scoped grants)


def endpoint(method: str, path: str, *, permission: str | None = None,
             status_code: int = 200, resource: str | None = None) -> Callable[[F], F]:
    """Mark a store method as a REST endpoint at ``method path`` (under ``/api/v1``) that needs
    ``permission`` (``read``, ``write``, ``approve`` or ``admin``) on the model or dataset named
    by its argument ``resource`` (``"name"``, ``"report.model"``; None: it names none)."""
    if permission is not None:
        check_permission(permission)

    def mark(fn: F) -> F:
        doc = (fn.__doc__ or "").strip().splitlines()
        spec = EndpointSpec(method.upper(), path, fn.__name__, status_code,
                            doc[0] if doc else None, permission, resource)
        target = fn
        if permission is not None and permission != "read":  # a write of some kind
            from .store.retry import retry_on_conflict

            target = retry_on_conflict(fn)
        target.__modelyard_endpoint__ = spec  # type: ignore[attr-defined]
        target.__modelyard_permission__ = permission  # type: ignore[attr-defined]
        if resource is not None:
            target.__modelyard_resource__ = resource  # type: ignore[attr-defined]
        return target

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
