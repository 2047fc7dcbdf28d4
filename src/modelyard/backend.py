"""What a :class:`~modelyard.yard.Yard` stands on: one store per domain plus a blob store.

``LocalBackend`` builds the SQL stores over a database and an fsspec artifact store;
``client.remote.RemoteBackend`` builds the same stores as HTTP clients of ``modelyard server``.
Domain code above (``Runs``, ``Models``, ``Datasets`` …) sees only ``backend.<store>`` and
``backend.blobs``.

Every store class is built as ``Store(db, artifacts, settings, clock)`` and marks the methods
that the REST server exposes with :func:`modelyard.transport.endpoint`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .artifacts.store import ArtifactStore
from .clock import Clock
from .config import Settings
from .store.database import Database

__all__ = ["LocalBackend", "STORE_CLASSES", "store_class"]

# name on the backend -> "module:Class". The REST server mounts each one under /api/v1.
STORE_CLASSES: dict[str, str] = {
    "tracking": "modelyard.tracking.store:TrackingStore",
    "registry": "modelyard.registry.store:RegistryStore",
    "datasets": "modelyard.datasets.store:DatasetStore",
    "predictions": "modelyard.predictions.store:PredictionStore",
    "monitoring": "modelyard.monitoring.store:MonitorStore",
    "monitor_service": "modelyard.monitoring.service:MonitorService",
    "auth": "modelyard.governance.tokens:TokenStore",
    "users": "modelyard.governance.users:UserStore",
    "promotions": "modelyard.registry.promotions:PromotionStore",
    "validation": "modelyard.validation.store:ValidationStore",
    "automation": "modelyard.automation.store:AutomationStore",
    "pipelines": "modelyard.pipelines.store:PipelineStore",
    "audit": "modelyard.governance.audit:AuditStore",
    "explain": "modelyard.explain.store:ExplainStore",
    "compliance": "modelyard.governance.compliance:ComplianceStore",
}


def store_class(name: str) -> type:
    module, _, attr = STORE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


class LocalBackend:
    """Stores over a local or shared database and an artifact store."""

    is_remote = False

    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings
        self.clock = clock
        self._stores: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.db.engine.url.render_as_string(hide_password=True)

    @property
    def blobs(self) -> ArtifactStore:
        return self.artifacts

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in STORE_CLASSES:
            raise AttributeError(name)
        store = self._stores.get(name)
        if store is None:
            store = store_class(name)(self.db, self.artifacts, self.settings, self.clock)
            self._stores[name] = store
        return store

    def close(self) -> None:
        self.db.dispose()
