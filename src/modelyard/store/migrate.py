"""Alembic migrations, applied on ``connect``/``init`` and by ``modelyard db upgrade``.

Each domain keeps its own branch of migrations (branch label = the domain: ``tracking``,
``registry``, ``datasets`` …) so they evolve independently; ``upgrade`` goes to all heads.
Concurrent first connects are serialised: a file lock on SQLite, an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

__all__ = ["upgrade", "alembic_config", "pending"]

_HERE = Path(__file__).parent / "migrations"
_ADVISORY_KEY = 0x6D6F64656C  # "model"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("version_locations", str(_HERE / "versions"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


_SCRIPT: ScriptDirectory | None = None


def _script() -> ScriptDirectory:
    global _SCRIPT
    if _SCRIPT is None:
        _SCRIPT = ScriptDirectory.from_config(alembic_config())
    return _SCRIPT


def pending(engine: Engine) -> bool:
    """True when some head revision is not applied yet (cheap: one query).

    A branch that others only ``depends_on`` (``core``) is not recorded in ``alembic_version``
    once a dependent head is, so "applied" means: the recorded heads and all their ancestors,
    dependencies included."""
    script = _script()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    if not current:
        return True
    applied = {
        rev.revision
        for rev in script.revision_map.iterate_revisions(
            current, "base", implicit_base=True, inclusive=True,
            assert_relative_length=False, select_for_downgrade=True,
        )
    }
    return not set(script.get_heads()) <= applied


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        lock_path = Path(str(engine.url.database) + ".migrate.lock")
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                conn.commit()
    else:
        yield


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version; a no-op (one query) when it already is."""
    if not pending(engine):
        return
    with _migration_lock(engine):
        if not pending(engine):
            return
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "heads")
