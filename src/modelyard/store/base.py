"""The base of every domain store listed in ``backend.STORE_CLASSES``."""

from __future__ import annotations

from ..access import acting_principal
from ..artifacts.store import ArtifactStore
from ..clock import Clock
from ..config import Settings
from .database import Database

__all__ = ["DomainStore"]


class DomainStore:
    """A domain's store over the database (and the artifact store, settings and clock).

    Built as ``Store(db, artifacts, settings, clock)``; the constructor only keeps them. Methods
    marked with :func:`modelyard.transport.endpoint` become REST routes and client methods.
    """

    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings,
                 clock: Clock) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings
        self.clock = clock

    @property
    def actor(self) -> str:
        """Who is doing what the store is asked now (the request's principal, or the OS user in
        the embedded mode): what ``created_by``, ``moved_by``, ``author`` … record. Never a
        parameter: a client cannot claim a name."""
        return acting_principal().name
