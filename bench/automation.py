"""Automation: the scheduler's own overhead, and one closed loop's wall time by stage.

    .venv/bin/python bench/automation.py [--jobs 500] [--workers 4] [--pg postgresql+psycopg://…]

1. **Dispatch**: ``--jobs`` due jobs (one per policy, queued at once) on PostgreSQL, taken by
   one scheduler with ``--workers`` workers whose jobs finish at once (a no-op runner: what is
   measured is planning, claiming with leases, and recording the outcome): jobs per second.
   The peer, procrastinate 3.10 (``bench/.venv-procrastinate``), runs the same number of no-op
   tasks with the same concurrency on its own fresh database (its worker claims with
   ``FOR UPDATE SKIP LOCKED`` too).
2. **Latency from due time to start**: 20 policies with an ``every 1s`` trigger, a scheduler
   ticking every 50 ms for ``--seconds``: ``started_at - due_at`` of every job (p50, p95, max).
3. **One closed loop** (SQLite, a model server in a thread, the scheduler in this process):
   a manual trigger → train + register → validate (suite: accuracy, champion by McNemar,
   signature) → canary (steps 50/100 %, 0.5 s, 5 requests each) → watch (2 s of realised
   accuracy): the wall time of each stage, taken from the job's own record. The canary and
   watch stages last as long as configured; train and validate are the work.

Timings on a shared machine are noisy; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import peer_venv, print_table, ratio, run_in_venv

import modelyard as my
from modelyard.automation.entities import PolicySpec
from modelyard.automation.loop import Collaborators
from modelyard.automation.scheduler import Scheduler
from modelyard.clock import SystemClock

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LATENCY_POLICIES = 20  # 20 jobs due a second: well under the dispatch rate measured in 1.

PROCRASTINATE_SIDE = '''
import asyncio, json, sys, time
import procrastinate
dsn, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

@app.task(name="noop", queue="bench")
def noop(i):
    return None

async def main():
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        t = time.perf_counter()
        await noop.batch_defer_async(*[{"i": i} for i in range(n)])
        deferred = time.perf_counter() - t
        t = time.perf_counter()
        await app.run_worker_async(concurrency=concurrency, wait=False, queues=["bench"],
                                   install_signal_handlers=False)
        ran = time.perf_counter() - t
    print(json.dumps({"defer_s": deferred, "run_s": ran, "jobs_per_s": n / ran}))

asyncio.run(main())
'''


class _Database:
    """A fresh PostgreSQL database on the test server, dropped afterwards."""

    def __init__(self, admin_url: str, prefix: str) -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    @property
    def dsn(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://")

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


class _NoopRunner:
    """Finishes every job it is given at once: the scheduler's own cost is what remains."""

    def __init__(self, store: Any, owner: str) -> None:
        self.store, self.owner = store, owner

    def run(self, job: Any) -> Any:
        self.store.update_job(job.id, self.owner, status="succeeded", stage="done",
                              finished_at=datetime.now(UTC), next_at=None)
        return job


def _spec(i: int, **extra: Any) -> PolicySpec:
    return PolicySpec.model_validate({
        "model": f"m{i}", "entry_point": "bench_noop:train",
        "data": {"train": {"dataset": "none"}}, "retries": 0, **extra})


def _noop_scheduler(yard: Any, workers: int, owner: str) -> Scheduler:
    store = yard.backend.automation
    collab = Collaborators(train=None, models=None, datasets=None, validation=None,  # type: ignore[arg-type]
                           monitoring=None, serving=None, clock=SystemClock())
    sched = Scheduler(store, collab, owner=owner, workers=workers)
    sched.runner = _NoopRunner(store, owner)  # type: ignore[assignment]
    return sched


@contextmanager
def _pg_yard(pg: str, tmp: Path, tag: str) -> Iterator[tuple[Any, Any]]:
    """A yard on a fresh PostgreSQL database (dropped afterwards) and its automation store."""
    db = _Database(pg, "bench_auto")
    yard = my.connect(db.url, artifacts=str(tmp / f"a-{tag}"),
                      settings=my.Settings.load({}, home=tmp / f"h-{tag}"))
    try:
        yield yard, yard.backend.automation
    finally:
        yard.close()
        db.drop()


def dispatch(pg: str, jobs: int, workers: int, tmp: Path) -> dict[str, float]:
    with _pg_yard(pg, tmp, "dispatch") as (yard, store):
        for i in range(jobs):
            store.save_policy(f"p{i}", _spec(i))
        t = time.perf_counter()
        for i in range(jobs):
            store.run_policy(f"p{i}")
        queued = time.perf_counter() - t
        sched = _noop_scheduler(yard, workers, "bench")
        t = time.perf_counter()
        done = len(sched.tick())
        while done < jobs:
            done += len(sched.tick(plan=False))
        ran = time.perf_counter() - t
        assert len(store.list_jobs(status="succeeded", limit=jobs + 1)) == jobs
        return {"queue_s": queued, "run_s": ran, "jobs_per_s": jobs / ran}


def latency(pg: str, seconds: float, tmp: Path) -> dict[str, float]:
    with _pg_yard(pg, tmp, "latency") as (yard, store):
        for i in range(LATENCY_POLICIES):
            store.save_policy(f"p{i}", _spec(i, triggers=[{"type": "every", "every": "1s"}]))
        sched = _noop_scheduler(yard, 4, "bench")
        stop = threading.Event()
        worker = threading.Thread(target=sched.run_forever, args=(stop,),
                                  kwargs={"interval": 0.05})
        worker.start()
        stop.wait(seconds)
        stop.set()
        worker.join()
        delays = sorted((j.started_at - j.due_at).total_seconds() * 1000
                        for j in store.list_jobs(limit=100_000) if j.started_at is not None)
        return {"jobs": len(delays), "p50_ms": statistics.median(delays),
                "p95_ms": delays[int(0.95 * (len(delays) - 1))], "max_ms": delays[-1]}


def procrastinate(pg: str, jobs: int, workers: int) -> dict[str, Any]:
    python = peer_venv("procrastinate", ["procrastinate==3.10.0", "psycopg[binary]>=3.2"])
    db = _Database(pg, "bench_procr")
    try:
        return run_in_venv(python, PROCRASTINATE_SIDE, db.dsn, str(jobs), str(workers))
    finally:
        db.drop()


TRAINING = '''
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from modelyard.automation.retrain import TrainingResult

def train(params, data, run):
    frame = data["train"].to_pandas()
    X, y = frame.drop(columns=["ts", "target"]), frame["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)
    return TrainingResult(model, example=X.head(5))
'''

SUITE = '''
holdout: {dataset: cancer_holdout, last: 30d}
label: target
against: production
checks:
  - {type: metric, metric: accuracy, min: 0.8}
  - {type: champion, metric: accuracy, max_regression: 0.05, test: mcnemar}
  - {type: signature}
'''


def closed_loop(tmp: Path) -> dict[str, float]:
    import httpx
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    from modelyard.automation.retrain import run_training
    from modelyard.serving.app import create_app
    from modelyard.serving.endpoints import EndpointConfig, RouteConfig
    from modelyard.serving.options import ServerOptions
    from modelyard.serving.repository import ServingRepository
    from modelyard.serving.testing import serve_in_thread

    project = tmp / "project"
    project.mkdir()
    (project / "bench_loop_model.py").write_text(TRAINING)
    sys.path.insert(0, str(project))
    yard = my.connect(settings=my.Settings.load({}, home=tmp / "loop"))
    data = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=0)
    data.columns = [c.replace(" ", "_") for c in data.columns]
    now = pd.Timestamp(datetime.now(UTC))
    data.insert(0, "ts", now - pd.to_timedelta(np.arange(len(data))[::-1] * 6 + 1, unit="h"))
    train, holdout = data.iloc[:450], data.iloc[450:]
    yard.datasets.add("cancer", train, time_column="ts")
    yard.datasets.add("cancer_holdout", holdout, time_column="ts")
    window = {"train": yard.datasets.window("cancer", now - pd.Timedelta(days=400), now)}
    v1 = run_training(yard, "bench_loop_model:train", model_name="cancer", data=window,
                      code_path=project)
    yard.models.set_alias("cancer", "production", v1.version)
    yard.validation.set_suite("cancer", yaml=SUITE)
    yard.validation.protect("cancer", "production")
    ServingRepository(yard.backend.db, yard.clock).save_endpoint(
        "cancer", EndpointConfig(name="cancer", routes=[RouteConfig(model="cancer@production")])
        .model_dump(mode="json"), "api")
    yard.automation.policy(
        "loop", model="cancer", endpoint="cancer", entry_point="bench_loop_model:train",
        code_path=str(project), data={"train": {"dataset": "cancer", "last": "400d"}},
        deploy={"mode": "canary", "endpoint": "cancer", "steps": [50, 100], "interval_s": 0.5,
                "min_requests": 5, "latency_slack_ms": 10_000},
        watch={"period": "2s", "every": "0.5s", "min_rows": 5,
               "thresholds": [{"metric": "accuracy", "op": "<", "threshold": 0.5}]},
        poll="0.1s", retries=0)
    rows = holdout.drop(columns=["ts", "target"]).to_dict(orient="records")
    labels = holdout["target"].tolist()
    stop = threading.Event()
    sched = Scheduler.for_yard(yard, owner="bench", workers=2)
    with serve_in_thread(create_app(yard, [], ServerOptions(poll_interval=0.05))) as url:
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v2/models/cancer/ready").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("endpoint not served")
            time.sleep(0.05)

        def traffic() -> None:
            i = 0
            with httpx.Client(base_url=url) as client:
                while not stop.is_set():
                    r = client.post("/predict/cancer", json={"records": [rows[i % len(rows)]]})
                    yard.feedback(r.json()["ids"][0], int(labels[i % len(rows)]))
                    i += 1

        sender = threading.Thread(target=traffic)
        sender.start()
        runner = threading.Thread(target=sched.run_forever, args=(stop,),
                                  kwargs={"interval": 0.05})
        runner.start()
        job = yard.automation.run_now("loop")
        while not yard.automation.job(job.id).done:
            time.sleep(0.1)
        stop.set()
        sender.join()
        runner.join()
    job = yard.automation.job(job.id)
    assert job.status == "succeeded", (job.status, job.logs, job.error)
    out = {"queued_to_start_s": (job.started_at - job.created_at).total_seconds(),
           "total_s": (job.finished_at - job.created_at).total_seconds()}
    for stage, times in job.state["stages"].items():
        out[f"{stage}_s"] = (datetime.fromisoformat(times["end"])
                             - datetime.fromisoformat(times["start"])).total_seconds()
    yard.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pg", default=os.environ.get("MODELYARD_TEST_PG", PG))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-automation-") as tmp_name:
        tmp = Path(tmp_name)
        ours = dispatch(args.pg, args.jobs, args.workers, tmp)
        peer = procrastinate(args.pg, args.jobs, args.workers)
        delay = latency(args.pg, args.seconds, tmp)
        loop = closed_loop(tmp)
    print_table(f"dispatch: {args.jobs} due no-op jobs, {args.workers} workers, PostgreSQL", [
        ["jobs/s", ours["jobs_per_s"], peer["jobs_per_s"],
         ratio(ours["jobs_per_s"], peer["jobs_per_s"])],
        ["queue all (s)", ours["queue_s"], peer["defer_s"], ""],
    ], ["figure", "modelyard", "procrastinate 3.10", "ratio"])
    print_table(f"latency from due time to start ({LATENCY_POLICIES} policies every 1 s, "
                "50 ms ticks, PostgreSQL)", [
        [delay["jobs"], delay["p50_ms"], delay["p95_ms"], delay["max_ms"]],
    ], ["jobs", "p50 ms", "p95 ms", "max ms"])
    print_table("one closed loop (SQLite; canary 2 steps x 0.5 s; watch 2 s)",
                [[k, v] for k, v in loop.items()], ["stage", "seconds"])
    print(f"\nload average: {os.getloadavg()}")
    print(json.dumps({"dispatch": ours, "procrastinate": peer, "latency": delay,
                      "closed_loop": loop}))


if __name__ == "__main__":
    main()
