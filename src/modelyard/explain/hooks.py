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


def record_importance(backend: Any, version: Any, loaded: Any = None) -> None:
    """Compute the global importance of ``version`` and store it: on a local yard with
    ``loaded`` (the copy registration just loaded back from the saved files, so nothing is
    loaded again), else where the yard's data is (the server, for a remote yard)."""
    try:
        if loaded is not None and not getattr(backend, "is_remote", False):
            store = backend.explain
            store.save_importance(store.explanations.importance(version.ref, loaded=loaded))
        else:
            backend.explain.compute_importance(name=version.name, version=int(version.version))
    except Exception as exc:  # noqa: BLE001 - registration must not fail because of this
        log.warning("global importance of %s was not computed: %s", version.ref, exc)
