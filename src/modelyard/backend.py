"""What a :class:`~modelyard.yard.Yard` stands on: one store per domain plus a blob store.

``LocalBackend`` builds the SQL stores over a database and an fsspec artifact store;
``client.RemoteBackend`` builds the same stores as HTTP clients of ``modelyard server``.
Domain code above (``Runs``, ``Models`` …) sees only these attributes.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .artifacts.store import ArtifactStore
from .clock import Clock
from .config import Settings
from .store.database import Database

__all__ = ["LocalBackend"]


class LocalBackend:
    """Stores over a local or shared database and an artifact store."""

    is_remote = False

    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings
        self.clock = clock

    @property
    def blobs(self) -> ArtifactStore:
        return self.artifacts

    @cached_property
    def tracking(self) -> Any:
        from .tracking.store import TrackingStore

        return TrackingStore(self.db, self.clock)

    @cached_property
    def registry(self) -> Any:
        from .registry.store import RegistryStore

        return RegistryStore(self.db, self.clock)

    def close(self) -> None:
        self.db.dispose()
