"""What the registry calls when a version is registered: compute and store its global
importance (:meth:`~modelyard.explain.store.ExplainStore.compute_importance`).

Registration never depends on it: any failure (an old server without the route, a database
error) is logged and the version stays registered; a model that cannot be explained is stored
as ``unavailable`` with the reason, so the model card says why.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["record_importance"]

log = logging.getLogger("modelyard.explain")


def record_importance(backend: Any, version: Any) -> None:
    """Compute the global importance of ``version`` where the yard's data is (on the server
    for a remote yard) and store it."""
    try:
        backend.explain.compute_importance(name=version.name, version=int(version.version))
    except Exception as exc:  # noqa: BLE001 - registration must not fail because of this
        log.warning("global importance of %s was not computed: %s", version.ref, exc)
