"""Alembic migrations, applied on ``connect``/``init`` and by ``modelyard db upgrade``.

Each domain keeps its own branch of migrations (branch label = the domain: ``tracking``,
``registry``, ``datasets`` …) so they evolve independently; ``upgrade`` goes to all heads.
Concurrent first connects are serialised: a file lock on SQLite, an advisory lock on PostgreSQL.

Opening a yard whose schema is current costs one query and no Alembic import: the revision
files are read as data (:func:`recorded_heads`) and compared with ``alembic_version``; only
when they differ does Alembic itself decide and migrate.
"""

from __future__ import annotations

import ast
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = ["alembic_config", "is_current", "pending", "recorded_heads", "upgrade"]

_HERE = Path(__file__).parent / "migrations"
_ADVISORY_KEY = 0x6D6F64656C  # "model"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

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
        from alembic.script import ScriptDirectory

        _SCRIPT = ScriptDirectory.from_config(alembic_config())
    return _SCRIPT


def pending(engine: Engine) -> bool:
    """True when some head revision is not applied yet (cheap: one query).

    A branch that others only ``depends_on`` (``core``) is not recorded in ``alembic_version``
    once a dependent head is, so "applied" means: the recorded heads and all their ancestors,
    dependencies included."""
    from alembic.runtime.migration import MigrationContext

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


_RECORDED: frozenset[str] | None = None
_UNREADABLE = frozenset({"?"})  # a revision file not plain enough to read without Alembic


def recorded_heads(versions: Path = _HERE / "versions") -> frozenset[str]:
    """The rows ``alembic_version`` holds once every revision under ``versions`` is applied:
    each head but those another head reaches through ``down_revision``/``depends_on`` (Alembic
    drops a head from the table once a revision depending on it is recorded).

    Read from the files' literal ``revision``/``down_revision``/``depends_on`` assignments,
    without importing Alembic; a file that does not state them literally gives a set no
    database holds, so the caller falls back to Alembic."""
    parents: dict[str, set[str]] = {}
    for path in sorted(versions.glob("*.py")):
        fields = _literal_fields(path)
        revision = fields.get("revision")
        if not isinstance(revision, str):
            return _UNREADABLE
        parents[revision] = {
            p for key in ("down_revision", "depends_on") for p in _names(fields.get(key))
        }
        if any(not isinstance(p, str) for p in parents[revision]):
            return _UNREADABLE
    children = {p for ps in parents.values() for p in ps}
    heads = {r for r in parents if r not in children}
    reached: set[str] = set()
    for head in heads:
        todo = list(parents[head])
        while todo:
            rev = todo.pop()
            if rev not in reached:
                reached.add(rev)
                todo.extend(parents.get(rev, ()))
    return frozenset(heads - reached)


def _literal_fields(path: Path) -> dict[str, object]:
    wanted = {"revision", "down_revision", "depends_on"}
    fields: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in wanted:
            try:
                fields[target.id] = ast.literal_eval(value)
            except ValueError:
                fields[target.id] = object()  # not a literal: unreadable
    return fields


def _names(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def is_current(engine: Engine) -> bool:
    """True when ``alembic_version`` holds exactly what a full upgrade records (one query)."""
    global _RECORDED
    if _RECORDED is None:
        _RECORDED = recorded_heads()
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            current = frozenset(rows)
    except sa.exc.DBAPIError:  # no alembic_version table yet: a new database
        return False
    return bool(current) and current == _RECORDED


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version; a no-op (one query) when it already is."""
    if is_current(engine) or not pending(engine):
        return
    with _migration_lock(engine):
        if not pending(engine):
            return
        from alembic import command

        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "heads")
