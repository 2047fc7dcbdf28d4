"""Shared fixtures: real backends only (SQLite in a temp dir, the local PostgreSQL server,
``memory://`` fsspec)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import modelyard as my
from modelyard.config import Settings

PG_ADMIN_URL = os.environ.get(
    "MODELYARD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MODELYARD_* variable from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("MODELYARD_") and key != "MODELYARD_TEST_PG":
            monkeypatch.delenv(key, raising=False)


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str]:
    """A migrated template database for this xdist worker; tests clone it (fast)."""
    from modelyard.store.database import open_database

    name = f"my_tpl_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = open_database(url)
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    name = f"my_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'yard.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'yard.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load({}, home=tmp_path / "home")


@pytest.fixture
def yard(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[my.Yard]:
    """A yard on each backend (SQLite and PostgreSQL) with a local artifact folder."""
    y = my.connect(db_url, artifacts=str(tmp_path / "artifacts"), settings=settings)
    yield y
    y.close()


@pytest.fixture
def local_yard(tmp_path: Path, settings: Settings) -> Iterator[my.Yard]:
    """The embedded default only (SQLite + local folder): for tests where the backend is moot."""
    y = my.connect(settings=settings)
    yield y
    y.close()


# ---- REST server and remote client (api/, client/) -----------------------------------------
@dataclass
class LiveServer:
    """A ``modelyard server`` app answering on a free loopback port (uvicorn in a thread)."""

    url: str
    app: Any
    yard: my.Yard  # the local yard the server runs over
    token: str | None  # an admin token when the server checks tokens, else None


@pytest.fixture
def server_factory() -> Iterator[Callable[..., LiveServer]]:
    """``server_factory(yard, auth=False, **create_app_kwargs) -> LiveServer``; every server
    started is stopped at teardown."""
    from modelyard.api.app import create_app
    from modelyard.api.server import BackgroundServer

    running: list[BackgroundServer] = []

    def start(yard: my.Yard, *, auth: bool = False, **kwargs: Any) -> LiveServer:
        settings = yard.settings.model_copy(update={"auth_enabled": auth})
        token = yard.backend.auth.create(f"admin-{uuid.uuid4().hex[:8]}", "admin") if auth else None
        srv = BackgroundServer(create_app(yard, settings, **kwargs)).start()
        running.append(srv)
        return LiveServer(srv.url, srv.app, yard, token)

    yield start
    for srv in running:
        srv.stop()


@pytest.fixture
def server(yard: my.Yard, server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A live server over the ``yard`` fixture (SQLite and PostgreSQL), auth off."""
    return server_factory(yard)


@pytest.fixture
def remote_yard(server: LiveServer, tmp_path: Path) -> Iterator[my.Yard]:
    """``my.connect(server.url)``: the same SDK over HTTP, against the ``server`` fixture."""
    y = my.connect(server.url, token=server.token, settings=Settings.load({}, home=tmp_path / "client"))
    yield y
    y.close()


# ---- a yard whose clock only the test moves (datasets, lineage, retrain …) -------------------
@pytest.fixture
def fixed_clock() -> Any:
    """A :class:`~modelyard.clock.FixedClock` at 2026-03-01T00:00:00Z."""
    from datetime import datetime, timezone

    from modelyard.clock import FixedClock

    return FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))


@pytest.fixture
def clocked_yard(db_url: str, tmp_path: Path, settings: Settings, fixed_clock: Any) -> Iterator[my.Yard]:
    """Like ``yard`` (SQLite and PostgreSQL), with ``fixed_clock`` as its clock."""
    y = my.connect(db_url, artifacts=str(tmp_path / "artifacts"), settings=settings, clock=fixed_clock)
    yield y
    y.close()


# ---- the prediction log: a disk that fills up, segments written by hand (wal/, predictions/) --
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs mounted for the test (needs root), unmounted afterwards."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"needs root to mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def wal_segment(local_yard: my.Yard) -> Callable[[bytes], Path]:
    """``wal_segment(data) -> path``: a sealed segment holding ``data`` in ``local_yard``'s log."""
    from modelyard.ids import new_id
    from modelyard.wal.segments import wal_dir

    directory = wal_dir(local_yard.settings.resolved_prediction_log_dir)

    def write(data: bytes) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{new_id()}.sealed"
        path.write_bytes(data)
        return path

    return write


# ---- a real Dask cluster (automation executors, distributed training, scoring, search) -------
@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """A ``distributed.LocalCluster`` of 2 single-thread workers in this process, listening
    on a loopback TCP port (so ``dask://127.0.0.1:<port>`` reaches it); once per module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       protocol="tcp://", host="127.0.0.1",
                                       dashboard_address=None)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def dask_executor(dask_cluster: Any) -> Iterator[Any]:
    """A :class:`~modelyard.automation.executors.DaskExecutor` over ``dask_cluster``."""
    from distributed import Client

    from modelyard.automation.executors import DaskExecutor

    client = Client(dask_cluster, set_as_default=False)
    executor = DaskExecutor(client, owns_client=True)
    yield executor
    executor.close()


@pytest.fixture(autouse=True)
def _no_active_run_from_an_earlier_test() -> Iterator[None]:
    """Each test starts with no active run in this thread (a run an earlier test of the same
    xdist worker started and never ended would otherwise catch this test's logging)."""
    from modelyard.tracking.runs import _ACTIVE

    token = _ACTIVE.set(None)
    yield
    _ACTIVE.reset(token)
