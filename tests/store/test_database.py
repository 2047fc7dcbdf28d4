"""Transactions: a failed write leaves nothing behind; SQLite runs in WAL mode."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from modelyard.errors import InvalidParameter
from modelyard.store.database import create_engine, open_database
from modelyard.store.schema.tracking import ExperimentRow


def test_failed_write_rolls_back(db_url: str) -> None:
    db = open_database(db_url)
    table = ExperimentRow.__table__
    with pytest.raises(RuntimeError, match="boom"):
        with db.write() as conn:
            conn.execute(sa.insert(table).values(name="e1", tags={}, created_at=sa.func.now()))
            raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
    db.dispose()


def test_sqlite_uses_wal(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    db.dispose()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(InvalidParameter, match="database URL must look like"):
        create_engine("not a url")
