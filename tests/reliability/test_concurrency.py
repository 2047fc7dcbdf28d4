"""Several processes at once register versions of one model, move its aliases, append to one
dataset and log to one run: on SQLite and on PostgreSQL, two on the database and one
through a REST server. No lost update, no gap or duplicate version, no error (a deadlock
would surface as a 500 from the server: it is retried or a 409).

(Threads on one store: ``tests/registry/test_registry_store.py``,
``tests/datasets/test_versions.py``, ``tests/tracking/test_concurrency.py``; a forced deadlock:
``tests/store/test_conflicts.py``.)"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import modelyard as my
from modelyard.clock import FixedClock

from . import _workers

WORKERS, ROUNDS = 3, 4


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_processes_writing_at_once_lose_nothing(db_url: str, tmp_path: Path,
                                                server_factory: Callable[..., Any]) -> None:
    artifacts, home = str(tmp_path / "artifacts"), str(tmp_path / "home")
    yard = my.connect(db_url, artifacts=artifacts, settings=my.Settings.load({}, home=home))
    run = yard.runs.start("concurrency", name="shared")
    yard.datasets.add("events", pd.DataFrame({"ts": [pd.Timestamp("2025-01-01", tz="UTC")],
                                              "value": [-1]}), time_column="ts")
    server = server_factory(yard)
    jobs = [(db_url, artifacts, home, run.id, w, ROUNDS) if w % 2 == 0
            else (server.url, None, str(tmp_path / f"client{w}"), run.id, w, ROUNDS)
            for w in range(WORKERS)]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        results = pool.starmap(_workers.mixed_writes, jobs)  # raises what a worker raised
    run.end()
    total = WORKERS * ROUNDS
    mine = [v for r in results for v in r["versions"]]
    assert sorted(mine) == list(range(1, total + 1))  # each number once, no gap
    assert sorted(v.version for v in yard.models.versions("shared")) == list(range(1, total + 1))
    for w, r in enumerate(results):
        assert r["versions"] == sorted(r["versions"])
        assert yard.models.get(f"shared@w{w}").version == r["versions"][-1]
    assert yard.models.get("shared@moving").version in {r["versions"][-1] for r in results}
    ds = yard.datasets.get("events")
    assert ds.version == 1 + total
    assert sorted(v.version for v in yard.datasets.versions("events")) == list(range(1, total + 2))
    appended = sorted(v for r in results for v in r["values"])
    assert sorted(ds.to_pandas()["value"].tolist()) == [-1, *appended]  # no lost append
    for w in range(WORKERS):
        assert [m.step for m in yard.runs.metric_history(run.id, f"w{w}")] == list(range(ROUNDS))
    assert yard.backend.audit.verify().ok
    yard.close()


def test_an_append_after_one_stamped_by_a_clock_ahead_is_not_refused(db_url: str,
                                                                      tmp_path: Path) -> None:
    """Two writers whose clocks disagree (two hosts, or a version committed between reading
    the clock and taking the lock): an append is stamped no earlier than the latest version,
    so knowledge time still only moves forward, and the append is not refused."""
    t = datetime(2026, 3, 1, tzinfo=UTC)
    settings = my.Settings.load({}, home=tmp_path / "home")
    ahead = my.connect(db_url, artifacts=str(tmp_path / "a"), settings=settings,
                       clock=FixedClock(t + timedelta(seconds=5)))
    behind = my.connect(db_url, artifacts=str(tmp_path / "a"), settings=settings,
                        clock=FixedClock(t))
    first = ahead.datasets.add("events", pd.DataFrame({"value": [1]}))
    second = behind.datasets.append("events", pd.DataFrame({"value": [2]}))
    assert second.version == 2 and second.created_at == first.created_at
    assert sorted(behind.datasets.get("events").to_pandas()["value"]) == [1, 2]
    ahead.close()
    behind.close()
