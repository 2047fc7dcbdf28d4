"""Two scheduler processes against one PostgreSQL database: 50 due jobs, each fires once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import modelyard as my
from modelyard.clock import FixedClock

from .conftest import wait_until
from .processes import SchedulerProcess

N = 50


@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_two_schedulers_fire_each_of_50_due_jobs_once(pg_url: str, tmp_path: Path,
                                                      project: tuple[Path, str]) -> None:
    folder, entry = project
    marker = tmp_path / "fired.txt"
    artifacts, home = str(tmp_path / "artifacts"), tmp_path / "home"
    now = datetime.now(UTC)
    # policies saved an hour ago with an hourly trigger: each is due now, once
    clock = FixedClock(now - timedelta(hours=1))
    yard = my.connect(pg_url, artifacts=artifacts, clock=clock,
                      settings=my.Settings.load({}, home=home))
    rows = pd.DataFrame({"ts": pd.date_range(now - timedelta(days=2), periods=20, freq="2h",
                                             tz="UTC"),
                         "x": range(20), "target": [0, 1] * 10})
    yard.datasets.add("tiny", rows, time_column="ts")
    for i in range(N):
        yard.automation.policy(
            f"p{i:02d}", model=f"m{i:02d}", entry_point=entry, code_path=str(folder),
            params={"marker": str(marker), "name": f"p{i:02d}", "kind": "constant"},
            data={"train": {"dataset": "tiny", "last": "30d"}},
            triggers=[{"type": "every", "every": "1h"}], retries=0, enabled=False)
    where = ["--db", pg_url, "--artifacts", artifacts, "--home", str(home)]
    procs = [SchedulerProcess(where, f"s{k}", tmp_path / f"s{k}.log", "--workers", "2")
             for k in range(2)]
    try:
        wait_until(lambda: all(p.running() for p in procs), 300, "both schedulers running")
        for i in range(N):  # both are up: the 50 jobs come due for both at once
            yard.automation.enable(f"p{i:02d}")
        wait_until(lambda: all(j.done for j in yard.automation.jobs(limit=1000))
                   and len(yard.automation.jobs(limit=1000)) == N, 600, f"{N} jobs done")
    finally:
        logs = [p.stop() for p in procs]
    jobs = yard.automation.jobs(limit=1000)
    assert len(jobs) == N and {j.status for j in jobs} == {"succeeded"}
    assert sorted(j.policy for j in jobs) == [f"p{i:02d}" for i in range(N)]
    assert {j.attempt for j in jobs} == {1}
    fired = marker.read_text().split()
    assert sorted(fired) == [f"p{i:02d}" for i in range(N)]  # each training ran once
    owners = {line.rsplit(" ", 1)[1] for j in jobs for line in j.logs.splitlines()
              if "taken by" in line}
    assert owners <= {"s0", "s1"}, logs
    assert all(j.logs.count("taken by") == 1 for j in jobs)
    assert [len(yard.models.versions(f"m{i:02d}")) for i in range(N)] == [1] * N
    yard.close()
