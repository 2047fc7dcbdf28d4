"""Opening a current database costs one query and no Alembic import; anything else (a new
database, a missing branch, a revision file that is not plain data) goes through Alembic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from modelyard.store.database import create_engine, open_database
from modelyard.store.migrate import alembic_config, is_current, pending, recorded_heads


def _versions(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_recorded_heads_are_what_alembic_records(db_url: str) -> None:
    open_database(db_url).dispose()
    engine = create_engine(db_url)
    try:
        assert _versions(engine) == set(recorded_heads())
        assert is_current(engine) and not pending(engine)
    finally:
        engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert set(recorded_heads()) <= heads


def test_a_database_missing_a_branch_is_not_current_and_gets_migrated(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "core@head")
    assert not is_current(engine) and pending(engine)
    open_database(sqlite_url).dispose()
    assert is_current(engine) and _versions(engine) == set(recorded_heads())
    engine.dispose()


def test_a_new_database_is_not_current(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    assert not is_current(engine)
    engine.dispose()


def test_graph_from_files_follows_down_revision_and_depends_on(tmp_path: Path) -> None:
    def rev(name: str, down: str | None, depends: str | None, annotated: bool = False) -> None:
        ann = ": str" if annotated else ""
        (tmp_path / f"{name}.py").write_text(
            f"revision{ann} = {name!r}\ndown_revision = {down!r}\ndepends_on = {depends!r}\n"
        )

    rev("core_1", None, None)
    rev("core_2", "core_1", None, annotated=True)
    rev("data_1", None, "core_1")
    rev("data_2", "data_1", None)
    rev("serve_1", None, "core_2")
    # core_2 is a head that serve_1 depends on: alembic records serve_1 and data_2 only
    assert recorded_heads(tmp_path) == {"data_2", "serve_1"}
    (tmp_path / "odd.py").write_text("revision = make_id()\ndown_revision = None\n")
    assert recorded_heads(tmp_path) == {"?"}  # held by no database: Alembic decides


def test_opening_a_current_yard_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'yard.db'}"
    open_database(url).dispose()
    script = (
        "import sys, json\n"
        "from modelyard.store.database import open_database\n"
        f"open_database({url!r}).dispose()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120, env=os.environ.copy())
    assert json.loads(done.stdout) == []
