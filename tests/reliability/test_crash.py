"""kill -9 mid-work, then restart: the REST server keeps every write it acknowledged and the
database is whole; a job whose scheduler died is finished by the next one, once, and none is
lost. Each process is back and ready by a deadline (waited on, not timed).

The model server's kill -9 under 8 clients is ``tests/serving/test_crash.py`` (every answered
prediction in the log, nothing replayed twice, no torn frame)."""

from __future__ import annotations

import textwrap
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import modelyard as my
from modelyard.tracking.entities import Metric

from .harness import Process, answers, free_port, rest_server, wait_for

READY_DEADLINE = 120.0  # seconds a restarted process gets to answer again (a busy 2-core box)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_of_the_rest_server_loses_no_acknowledged_write(sqlite_url: str,
                                                               tmp_path: Path) -> None:
    db_url = sqlite_url  # the embedded default, where a torn write would corrupt the file
    artifacts, home = str(tmp_path / "artifacts"), tmp_path / "home"
    where = ["--db", db_url, "--artifacts", artifacts, "--home", str(home)]
    yard = my.connect(db_url, artifacts=artifacts, settings=my.Settings.load({}, home=home))
    run = yard.runs.start("crash", name="shared")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = rest_server(where, port, tmp_path / "server.log")
    acked: list[tuple[int, int]] = []
    stop = threading.Event()
    try:
        wait_for(lambda: answers(url, "/healthz"), "the REST server to answer", READY_DEADLINE)
        remote = my.connect(url, settings=my.Settings.load({}, home=tmp_path / "client"))

        def writer(w: int) -> None:
            for step in range(100_000):
                if stop.is_set():
                    return
                try:
                    remote.backend.tracking.log_metrics(run.id, [Metric(key=f"w{w}", value=step,
                                                                        step=step)])
                except Exception:  # noqa: BLE001 - the server is gone: not acknowledged
                    return
                acked.append((w, step))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 200, "200 acknowledged writes")
        server.kill9()  # mid-write: requests in flight
        stop.set()
        for t in threads:
            t.join(timeout=60)
        remote.close()
        server = rest_server(where, port, tmp_path / "server.log")
        wait_for(lambda: answers(url, "/healthz"), "the restarted REST server", READY_DEADLINE)
        again = my.connect(url, settings=my.Settings.load({}, home=tmp_path / "client2"))
        again.backend.tracking.log_metrics(run.id, [Metric(key="after", value=1.0, step=0)])
        again.close()
    finally:
        stop.set()
        server.stop()
        run.end()  # not left as this process's active run for the next tests of the worker
    for w in range(4):
        steps = {m.step for m in yard.runs.metric_history(run.id, f"w{w}")}
        mine = {s for ww, s in acked if ww == w}
        assert mine <= steps, f"worker {w}: {len(mine - steps)} acknowledged values lost"
    assert [m.value for m in yard.runs.metric_history(run.id, "after")] == [1.0]
    with yard.backend.db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    assert yard.backend.audit.verify().ok
    yard.close()


TRAINING = textwrap.dedent('''
    import os, time
    from sklearn.dummy import DummyClassifier
    from modelyard.automation.retrain import TrainingResult

    def train(params, data, run):
        with open(params["started"], "a") as fh:
            fh.write("started\\n")
        while not os.path.exists(params["release"]):  # the test kills the scheduler here
            time.sleep(0.05)
        frame = data["train"].to_pandas()
        X, y = frame.drop(columns=["ts", "target"]), frame["target"]
        return TrainingResult(DummyClassifier(strategy="constant", constant=0).fit(X, y),
                              example=X.head(5))
''')


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_kill_9_of_the_scheduler_mid_job_finishes_the_job_once(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_url = pg_url  # where several schedulers share one database
    folder = tmp_path / "project"
    folder.mkdir()
    module = f"crash_train_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(TRAINING)
    monkeypatch.syspath_prepend(str(folder))
    started, release = tmp_path / "started.txt", tmp_path / "release"
    artifacts, home = str(tmp_path / "artifacts"), tmp_path / "home"
    yard = my.connect(db_url, artifacts=artifacts, settings=my.Settings.load({}, home=home))
    now = datetime.now(UTC)
    yard.datasets.add("tiny", pd.DataFrame({
        "ts": pd.date_range(now - timedelta(days=2), periods=20, freq="2h", tz="UTC"),
        "x": range(20), "target": [0, 1] * 10}), time_column="ts")
    yard.automation.policy(
        "p", model="m", entry_point=f"{module}:train", code_path=str(folder),
        params={"started": str(started), "release": str(release)},
        data={"train": {"dataset": "tiny", "last": "30d"}},
        triggers=[{"type": "cron", "cron": "0 3 1 1 *"}], retries=0)
    where = ["--db", db_url, "--artifacts", artifacts, "--home", str(home)]

    def scheduler(name: str) -> Process:
        return Process([*where, "scheduler", "--name", name, "--interval", "0.1",
                        "--lease", "3"], tmp_path / f"{name}.log")

    job = yard.automation.run_now("p", reason="crash test")
    first = scheduler("s0")
    try:
        wait_for(started.exists, "the job to start training", READY_DEADLINE)
        first.kill9()  # mid-training, holding the lease
        assert yard.automation.job(job.id).status == "running"
        release.touch()
        second = scheduler("s1")
        try:
            done = wait_for(lambda: (j := yard.automation.job(job.id)).done and j,
                            "the next scheduler to finish the job", READY_DEADLINE)
        finally:
            log = second.stop()
    finally:
        first.stop()
    assert done.status == "succeeded", (done.logs, log)
    assert [j.id for j in yard.automation.jobs(policy="p")] == [job.id]  # none lost or added
    assert done.attempt == 1 and "taken by s0" in done.logs and "taken by s1" in done.logs
    assert started.read_text().split() == ["started", "started"]  # killed once, resumed once
    assert [v.version for v in yard.models.versions("m")] == [1]  # registered once
    assert yard.backend.automation.update_job(job.id, "s0", log="late") is False
    yard.close()
