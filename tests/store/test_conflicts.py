"""A PostgreSQL deadlock or serialization failure is retried, or answered 409: never a 500.

Two real transactions deadlock: one holds a row the other needs while waiting for a row the
other holds. PostgreSQL aborts one of them (the one whose wait passed ``deadlock_timeout``
first; the test's own transaction sets a long one so the store's is the victim)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import modelyard as my
from modelyard.errors import WriteConflict
from modelyard.registry.entities import Manifest
from modelyard.store.database import open_database
from modelyard.store.retry import ATTEMPTS, retry_on_conflict

pytestmark = pytest.mark.postgres

LiveServer = Any


def _wait_for_lock_wait(engine: sa.Engine, not_pid: int, deadline_s: float = 60) -> None:
    """Until another backend of this database waits for a lock."""
    deadline = time.monotonic() + deadline_s
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> :me"), {"me": not_pid}).scalar()
            conn.commit()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("no transaction ever waited for the lock")


@pytest.fixture
def pg_yard(pg_url: str, tmp_path: Path) -> Iterator[my.Yard]:
    y = my.connect(pg_url, artifacts=str(tmp_path / "a"),
                   settings=my.Settings.load({}, home=tmp_path / "home"))
    digest = y.backend.blobs.put_bytes(b"w")
    y.backend.registry.create_model_version(
        name="m", manifest=Manifest(flavor="pyfunc", options={"class": "m:C"},
                                    files={"s.json": digest}))
    yield y
    y.close()


def test_two_deadlocked_transactions_give_a_write_conflict(pg_url: str) -> None:
    db = open_database(pg_url)
    with db.write() as conn:
        conn.execute(sa.text("CREATE TABLE t (id int primary key, v int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 0), (2, 0)"))
    first_locked, errors = threading.Event(), []

    def other() -> None:
        try:
            with db.write() as conn:
                conn.execute(sa.text("UPDATE t SET v = 1 WHERE id = 2"))
                first_locked.set()
                _wait_for_lock_wait(db.engine, conn.connection.driver_connection.info.backend_pid)
                conn.execute(sa.text("UPDATE t SET v = 1 WHERE id = 1"))
        except BaseException as exc:  # noqa: BLE001 - looked at below
            errors.append(exc)

    thread = threading.Thread(target=other)
    with db.write() as conn:
        conn.execute(sa.text("SET LOCAL deadlock_timeout = '30s'"))  # the other is the victim
        conn.execute(sa.text("UPDATE t SET v = 2 WHERE id = 1"))
        thread.start()
        assert first_locked.wait(60)
        conn.execute(sa.text("UPDATE t SET v = 2 WHERE id = 2"))  # waits: the other holds 2
    thread.join(60)
    [error] = errors
    assert isinstance(error, WriteConflict), repr(error)
    assert "collided with a concurrent one" in error.message and error.status_code == 409
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT v FROM t ORDER BY id")).scalars().all() == [2, 2]
    db.dispose()


def test_a_deadlocked_request_is_retried_not_a_500(
    pg_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> None:
    srv = server_factory(pg_yard)
    engine = sa.create_engine(pg_yard.backend.db.engine.url)
    answer: dict[str, Any] = {}
    with engine.connect() as blocker:
        blocker.execute(sa.text("SET deadlock_timeout = '30s'"))  # the request is the victim
        blocker.execute(sa.text("UPDATE registered_models SET description = 'x' WHERE name = 'm'"))
        me = blocker.connection.driver_connection.info.backend_pid

        def request() -> None:
            answer["r"] = httpx.put(f"{srv.url}/api/v1/models/m/aliases/prod",
                                    json={"version": 1}, timeout=120)

        thread = threading.Thread(target=request)
        thread.start()
        _wait_for_lock_wait(engine, me)  # the request holds version 1, waits for the model row
        blocker.execute(sa.text("SELECT 1 FROM model_versions WHERE name = 'm' AND version = 1 "
                                "FOR UPDATE"))  # waits for the request: a deadlock
        blocker.commit()
        thread.join(120)
    engine.dispose()
    assert answer["r"].status_code == 200, answer["r"].text
    assert pg_yard.models.get("m@prod").version == 1
    assert pg_yard.backend.audit.verify().ok


def test_a_conflict_left_after_the_retries_is_409() -> None:
    calls = []

    @retry_on_conflict
    def always() -> None:
        calls.append(1)
        raise WriteConflict("The database aborted this write.")

    with pytest.raises(WriteConflict, match=f"Tried {ATTEMPTS} times") as info:
        always()
    assert len(calls) == ATTEMPTS and info.value.status_code == 409
