"""The model server when what it depends on fails while it serves.

- The metadata database goes away (PostgreSQL behind a TCP proxy the test cuts; SQLite's write
  lock held by another process): it keeps answering with the models it has, logs every prediction
  locally, and catches up when the database returns (follows an alias moved meanwhile).
- The artifact store cannot give the new version during a hot switch: the old version keeps
  serving, ``/readyz`` and ``/metrics`` say the load failed, and the switch happens when the
  blobs are back.

The disk under the prediction log filling up (503 in durable mode, recovery by itself) is
``tests/serving/test_log_disk.py`` on a real tmpfs, and the writer's ENOSPC/EIO handling is
``tests/wal/test_disk_errors.py``."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import modelyard as my

from .conftest import iris_rows
from .harness import CuttableProxy, serving, wait_for

START, END = "2000-01-01", "2100-01-01"


class Clients:
    """Four clients sending single-row predictions until stopped; every status and model."""

    def __init__(self, url: str, row: list[dict[str, Any]]) -> None:
        self.seen: list[tuple[int, str]] = []
        self.ids: list[str] = []
        self._stop = threading.Event()

        def client() -> None:
            with httpx.Client(timeout=60) as c:
                while not self._stop.is_set():
                    try:
                        r = c.post(f"{url}/predict/iris", json={"records": row})
                    except httpx.HTTPError as exc:
                        self.seen.append((0, repr(exc)))
                        continue
                    if r.status_code == 200:
                        self.ids += r.json()["ids"]
                        self.seen.append((200, r.json()["model"]))
                    else:
                        self.seen.append((r.status_code, r.text))

        self._threads = [threading.Thread(target=client) for _ in range(4)]
        for t in self._threads:
            t.start()

    def more(self, n: int) -> int:
        """The count of answers now plus ``n`` (to wait for)."""
        return len(self.seen) + n

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def _register_iris(yard: my.Yard, iris: Any) -> None:
    X, y = iris
    yard.models.register(LogisticRegression(max_iter=500).fit(X, y), "iris", example=X[:5])
    yard.models.register(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), "iris",
                         example=X[:5])
    yard.models.set_alias("iris", "production", 1)


def _outage_then_catch_up(yard: my.Yard, direct: my.Yard, iris: Any, cut: Any, restore: Any,
                          caplog: pytest.LogCaptureFixture, *, notice: bool = True) -> None:
    """Serve through ``yard``; cut its database, keep serving, restore it, move the alias
    with ``direct`` and wait for the server to follow. ``notice``: wait until the server's
    poll has failed (SQLite's busy timeout makes a poll wait a minute on a lock instead)."""
    with caplog.at_level(logging.WARNING, logger="modelyard.serving"), \
            serving(yard, poll_interval=0.1) as url:
        clients = Clients(url, iris_rows(iris, 1))
        try:
            wait_for(lambda: len(clients.seen) >= 20, "answers before the outage")
            cut()
            caplog.clear()
            notice and wait_for(lambda: any("could not resolve" in r.getMessage()
                                 or "control loop failed" in r.getMessage()
                                 for r in caplog.records),
                     "the server to notice the database is gone")
            n = clients.more(200)
            wait_for(lambda: len(clients.seen) >= n, "200 answers during the outage")
            assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
            restore()
            direct.models.set_alias("iris", "production", 2)
            wait_for(lambda: clients.seen[-1][1] == "iris/2",
                     "the server to follow the alias moved after the outage")
        finally:
            clients.stop()
    assert {code for code, _ in clients.seen} == {200}, [s for s in clients.seen if s[0] != 200][:5]
    logged = direct.predictions.query("iris", START, END)["id"].to_list()
    assert set(clients.ids) <= set(logged) and len(logged) == len(set(logged))


@dataclass
class BehindProxy:
    """A PostgreSQL yard with the iris models, once directly (``direct``) and once through a
    TCP proxy (``yard``) that ``proxy.cut()`` takes away."""

    direct: my.Yard
    yard: my.Yard
    proxy: CuttableProxy


@pytest.fixture
def behind_proxy(pg_url: str, tmp_path: Path, iris: Any) -> Iterator[BehindProxy]:
    url = sa.engine.make_url(pg_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    artifacts, settings = str(tmp_path / "a"), my.Settings.load({}, home=tmp_path / "home")
    direct = my.connect(pg_url, artifacts=artifacts, settings=settings)
    _register_iris(direct, iris)
    yard = my.connect(via_proxy, artifacts=artifacts, settings=settings)
    yield BehindProxy(direct, yard, proxy)
    yard.close()
    direct.close()
    proxy.close()


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_postgresql_gone_while_serving(behind_proxy: BehindProxy, iris: Any,
                                       caplog: pytest.LogCaptureFixture) -> None:
    b = behind_proxy
    _outage_then_catch_up(b.yard, b.direct, iris, b.proxy.cut, b.proxy.restore, caplog)


@pytest.mark.timeout(300)
def test_sqlite_locked_while_serving(serving_yard: my.Yard, iris: Any,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """Another process holds the database's write lock (a stuck writer): every write waits on
    it, reads go on (WAL); serving goes on meanwhile and follows the alias afterwards."""
    path = str(serving_yard.backend.db.engine.url.database)
    direct = my.connect(settings=serving_yard.settings)  # another yard on the same files
    blocker: list[sqlite3.Connection] = []

    def lock() -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=60)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE registered_models SET description = description")
        blocker.append(conn)

    def unlock() -> None:
        conn = blocker.pop()
        conn.execute("COMMIT")
        conn.close()

    try:
        _outage_then_catch_up(serving_yard, direct, iris, lock, unlock, caplog, notice=False)
    finally:
        direct.close()


@pytest.mark.timeout(300)
def test_blobs_unreachable_during_a_hot_switch(serving_yard: my.Yard, iris: Any) -> None:
    art = serving_yard.backend.artifacts
    blobs = [Path(art.blob_path(d)) for d in serving_yard.models.get("iris/2").files.values()]
    with serving(serving_yard, poll_interval=0.1) as url:
        clients = Clients(url, iris_rows(iris, 1))
        try:
            for b in blobs:
                b.rename(b.with_name(b.name + ".away"))
            serving_yard.models.set_alias("iris", "production", 2)
            ready = wait_for(lambda: (r := httpx.get(f"{url}/readyz", timeout=30).json())
                             ["problems"] and r, "/readyz to report the failed load")
            assert "could not load iris/2" in ready["problems"]["iris"]["main"]
            assert ready["ready"] is True  # the endpoint still serves iris/1
            metrics = httpx.get(f"{url}/metrics", timeout=30).text
            assert 'modelyard_model_load_failures_total{endpoint="iris"' in metrics
            n = clients.more(100)
            wait_for(lambda: len(clients.seen) >= n, "100 answers while the blobs are away")
            for b in blobs:
                b.with_name(b.name + ".away").rename(b)
            wait_for(lambda: clients.seen[-1][1] == "iris/2", "the switch once the blobs return")
            wait_for(lambda: not httpx.get(f"{url}/readyz", timeout=30).json()["problems"],
                     "/readyz to clear the problem")
        finally:
            clients.stop()
    assert {code for code, _ in clients.seen} == {200}
    assert {m for _, m in clients.seen} == {"iris/1", "iris/2"}  # one client's order of
    # switching is tests/serving/test_hot_switch.py; here 4 clients share one list


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_tokens_through_a_postgresql_outage(behind_proxy: BehindProxy, iris: Any) -> None:
    """With tokens on, a token the database accepted recently is still accepted while the
    database is gone; one never seen is answered 503 (not 401, not 500); revocation counts
    again as soon as the database is back."""
    direct, proxy = behind_proxy.direct, behind_proxy.proxy
    used, unused = (direct.backend.auth.create(n, role="viewer") for n in ("app", "other"))
    body = {"records": iris_rows(iris, 1)}
    with serving(behind_proxy.yard, auth_enabled=True) as server, \
            httpx.Client(timeout=120) as c:
        def predict(token: str) -> httpx.Response:
            return c.post(f"{server}/predict/iris", json=body,
                          headers={"authorization": f"Bearer {token}"})

        assert predict(used).status_code == 200
        proxy.cut()
        assert [predict(used).status_code for _ in range(20)] == [200] * 20
        refused = predict(unused)
        assert refused.status_code == 503 and refused.json()["error"] == "unavailable"
        assert "database is unreachable" in refused.json()["message"]
        proxy.restore()
        assert predict(unused).status_code == 200
        direct.backend.auth.revoke("app")
        assert predict(used).status_code == 401


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_the_rest_server_answers_503_while_postgresql_is_gone(
        behind_proxy: BehindProxy, server_factory: Callable[..., Any]) -> None:
    srv = server_factory(behind_proxy.yard)
    with httpx.Client(base_url=srv.url, timeout=120) as c:
        assert c.get("/api/v1/models").status_code == 200
        behind_proxy.proxy.cut()
        r = c.get("/api/v1/models")
        assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
        assert "database is unavailable" in r.json()["message"]
        assert c.get("/healthz").status_code == 200
        behind_proxy.proxy.restore()
        assert c.get("/api/v1/models").status_code == 200
