"""Concurrent writers lose nothing: two processes on one SQLite file, eight threads on
PostgreSQL."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import modelyard as my
from modelyard.config import Settings

from . import _workers

N = 100


def _check(yard: my.Yard, shared: str, own: list[str], workers: int) -> None:
    got = yard.runs.get(shared)
    assert got.metrics == {f"w{w}": float(N - 1) for w in range(workers)}
    for w in range(workers):
        history = yard.runs.metric_history(shared, f"w{w}")
        assert [m.step for m in history] == list(range(N))
    for run_id in own:
        run = yard.runs.get(run_id)
        assert run.status == "FINISHED" and run.metrics == {"own": float(N - 1)}
        assert len(run.params) == len(range(0, N, 10))
        assert len(yard.runs.metric_history(run_id, "own")) == N


def test_two_processes_on_one_sqlite_file_lose_nothing(sqlite_url: str, tmp_path: Path) -> None:
    artifacts, home = str(tmp_path / "artifacts"), str(tmp_path / "home")
    yard = my.connect(sqlite_url, artifacts=artifacts, settings=Settings.load({}, home=home))
    shared = yard.runs.start("concurrent", name="shared")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        own = pool.starmap(
            _workers.log_many_in_process,
            [(sqlite_url, artifacts, home, shared.id, w, N) for w in range(2)],
        )
    shared.end()
    _check(yard, shared.id, own, 2)
    yard.close()


@pytest.mark.postgres
def test_eight_threads_on_postgresql_lose_nothing(pg_url: str, tmp_path: Path) -> None:
    artifacts, home = str(tmp_path / "artifacts"), str(tmp_path / "home")
    yard = my.connect(pg_url, artifacts=artifacts, settings=Settings.load({}, home=home))
    shared = yard.runs.start("concurrent", name="shared")
    with ThreadPoolExecutor(8) as pool:  # one yard, one connection pool, eight writers
        own = list(pool.map(lambda w: _workers.log_many(yard, shared.id, w, N), range(8)))
    shared.end()
    _check(yard, shared.id, own, 8)
    yard.close()
