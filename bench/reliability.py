"""Reliability under load and faults: the longer runs of ``tests/reliability/``, one run.

    .venv/bin/python bench/reliability.py [--duration 60] [--skip-postgres]

1. Load: ``modelyard serve`` (1 worker, durable prediction log) on iris; saturation measured
   by 8 closed-loop Python clients for 5 s, then an open loop at 80% of it for ``--duration``
   seconds; RSS (server + children) sampled every 5 s; the log's count against the answers.
2. Crash and restart (kill -9 of the process group): the model server under 8 clients (time to
   ready, then until every answered prediction is compacted), the REST server under 4 writers
   (time to answer again, acknowledged writes kept), the scheduler mid-job (SQLite, lease 3 s:
   time from the kill until the next scheduler has finished the job).
3. Recovery: PostgreSQL cut for 10 s under traffic (answers meanwhile, then time to follow an
   alias moved once it is back), blobs of the new version away during a hot switch (time to
   switch once they return), the log's disk full (a 512 KiB tmpfs, root: time to ready once
   space returns).

Clients share the 2 cores with the servers; note the load average printed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import sqlalchemy as sa
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier  # noqa: F401 - the scheduler's training imports it
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, print_table

sys.path.insert(0, str(ROOT / "tests" / "reliability"))
import harness  # the tests' process, traffic and proxy helpers

import modelyard as my
from modelyard.predictions import reader
from modelyard.tracking.entities import Metric

START, END = "2000-01-01", "2100-01-01"
PG_ADMIN = os.environ.get("MODELYARD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def iris_yard(where: str | None, home: Path, artifacts: Path | None = None) -> my.Yard:
    kwargs: dict[str, Any] = {"settings": my.Settings.load({}, home=home)}
    yard = my.connect(where, artifacts=str(artifacts), **kwargs) if where else my.connect(**kwargs)
    X, y = load_iris(return_X_y=True, as_frame=True)
    yard.models.register(LogisticRegression(max_iter=500).fit(X, y), "iris", example=X[:5])
    yard.models.register(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), "iris",
                         example=X[:5])
    yard.models.set_alias("iris", "production", 1)
    return yard


def row() -> dict[str, Any]:
    X, _ = load_iris(return_X_y=True, as_frame=True)
    return {"records": X.iloc[:1].to_dict(orient="records")}


def load_run(tmp: Path, duration: float) -> list[list[Any]]:
    home = tmp / "load"
    yard = iris_yard(None, home)
    port = harness.free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    server = harness.model_server(home, port, tmp / "load.log")
    samples: list[tuple[float, int]] = []
    try:
        server.wait_answering(url, "/readyz")
        ready_s = time.monotonic() - t0
        body = row()
        warm = harness.closed_loop(f"{url}/predict/iris", body, 2.0)
        sat = harness.closed_loop(f"{url}/predict/iris", body, 5.0)
        rate = 0.8 * sat.rate
        samples.append((0.0, server.rss()))

        def sample(elapsed: float) -> None:
            if elapsed >= 5.0 * len(samples):
                samples.append((elapsed, server.rss()))

        load = harness.open_loop(f"{url}/predict/iris", body, rate, duration, during=sample)
        samples.append((load.elapsed, server.rss()))
    finally:
        server.stop()
    answered = len(warm.answered) + len(sat.answered) + len(load.answered)
    logged = yard.predictions.query("iris", START, END).height
    yard.close()
    lat = sorted(load.latencies)
    mb = [s[1] / 2**20 for s in samples]
    return [
        ["model server start to ready (durable log)", f"{ready_s:.1f} s"],
        ["saturation, 8 closed-loop clients, 5 s", f"{sat.rate:,.0f} req/s"],
        [f"open loop at 80% ({rate:,.0f} req/s) for {duration:.0f} s",
         f"{load.sent:,} sent, {len(load.answered):,} answered, {len(load.failures)} failed; "
         f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms"
         if lat else "nothing answered"],
        ["RSS (server + children) start / end / max, every 5 s",
         f"{mb[0]:.0f} / {mb[-1]:.0f} / {max(mb):.0f} MB ({len(mb)} samples)"],
        ["prediction log rows vs answered (all phases)", f"{logged:,} vs {answered:,}"],
    ]


def crash_model_server(tmp: Path) -> list[list[Any]]:
    home = tmp / "crash-serve"
    yard = iris_yard(None, home)
    port = harness.free_port()
    url = f"http://127.0.0.1:{port}"
    server = harness.model_server(home, port, tmp / "crash-serve.log", workers=2)
    acked: list[str] = []
    stop = threading.Event()
    body = row()
    try:
        server.wait_answering(url, "/readyz")

        def client() -> None:
            with httpx.Client(timeout=10) as c:
                while not stop.is_set():
                    try:
                        r = c.post(f"{url}/predict/iris", json=body)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        acked.extend(r.json()["ids"])

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        harness.wait_for(lambda: len(acked) >= 1000, "1000 answers")
        server.kill9()
        killed = time.monotonic()
        stop.set()
        for t in threads:
            t.join()
        server = harness.model_server(home, port, tmp / "crash-serve.log", workers=1)
        server.wait_answering(url, "/readyz")
        ready = time.monotonic() - killed
        answered = set(acked)
        art = yard.backend.artifacts
        harness.wait_for(lambda: answered <= set(reader.scan(art, "iris", START, END,
                                                             include_wal=False)
                                                 .select("id").collect()["id"].to_list()),
                         "every answered prediction compacted", 300)
        compacted = time.monotonic() - killed
    finally:
        stop.set()
        server.stop()
    torn = yard.backend.predictions.quarantined()
    yard.close()
    return [[("model server (2 workers, 8 clients): kill -9 to ready / to every answered "
             "prediction compacted"),
             (f"{ready:.1f} s / {compacted:.1f} s; {len(answered):,} answered, 0 lost, "
             f"{len(torn)} torn segments")]]


def crash_rest_server(tmp: Path) -> list[list[Any]]:
    home = tmp / "crash-rest"
    yard = my.connect(settings=my.Settings.load({}, home=home))
    run = yard.runs.start("crash", name="shared")
    port = harness.free_port()
    url = f"http://127.0.0.1:{port}"
    where = ["--home", str(home)]
    server = harness.rest_server(where, port, tmp / "crash-rest.log")
    acked: list[tuple[int, int]] = []
    try:
        server.wait_answering(url, "/healthz")
        remote = my.connect(url, settings=my.Settings.load({}, home=tmp / "client"))

        def writer(w: int) -> None:
            for step in range(10**6):
                try:
                    remote.backend.tracking.log_metrics(
                        run.id, [Metric(key=f"w{w}", value=step, step=step)])
                except Exception:  # noqa: BLE001 - the server is gone
                    return
                acked.append((w, step))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        harness.wait_for(lambda: len(acked) >= 500, "500 writes")
        server.kill9()
        killed = time.monotonic()
        for t in threads:
            t.join()
        server = harness.rest_server(where, port, tmp / "crash-rest.log")
        server.wait_answering(url, "/healthz")
        back = time.monotonic() - killed
    finally:
        server.stop()
    lost = sum(1 for w, s in acked
               if s not in {m.step for m in yard.runs.metric_history(run.id, f"w{w}")})
    yard.close()
    return [["REST server (SQLite, 4 writers): kill -9 to answering again",
             f"{back:.1f} s; {len(acked):,} acknowledged writes, {lost} lost"]]


TRAINING = textwrap.dedent('''
    import os, time
    from sklearn.dummy import DummyClassifier
    from modelyard.automation.retrain import TrainingResult

    def train(params, data, run):
        with open(params["started"], "a") as fh:
            fh.write("started\\n")
        while not os.path.exists(params["release"]):
            time.sleep(0.05)
        frame = data["train"].to_pandas()
        X, y = frame.drop(columns=["ts", "target"]), frame["target"]
        return TrainingResult(DummyClassifier(strategy="constant", constant=0).fit(X, y),
                              example=X.head(5))
''')


def crash_scheduler(tmp: Path) -> list[list[Any]]:
    folder = tmp / "project"
    folder.mkdir()
    module = f"bench_train_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(TRAINING)
    sys.path.insert(0, str(folder))
    started, release = tmp / "started.txt", tmp / "release"
    home = tmp / "crash-sched"
    yard = my.connect(settings=my.Settings.load({}, home=home))
    now = datetime.now(UTC)
    yard.datasets.add("tiny", pd.DataFrame({
        "ts": pd.date_range(now - timedelta(days=2), periods=20, freq="2h", tz="UTC"),
        "x": range(20), "target": [0, 1] * 10}), time_column="ts")
    yard.automation.policy(
        "p", model="m", entry_point=f"{module}:train", code_path=str(folder),
        params={"started": str(started), "release": str(release)},
        data={"train": {"dataset": "tiny", "last": "30d"}},
        triggers=[{"type": "cron", "cron": "0 3 1 1 *"}], retries=0)
    job = yard.automation.run_now("p")

    def scheduler(name: str) -> harness.Process:
        return harness.Process(["--home", str(home), "scheduler", "--name", name, "--interval",
                                "0.1", "--lease", "3"], tmp / f"{name}.log")

    first = scheduler("s0")
    harness.wait_for(started.exists, "the job to start", 300)
    first.kill9()
    killed = time.monotonic()
    release.touch()
    second = scheduler("s1")
    try:
        done = harness.wait_for(lambda: (j := yard.automation.job(job.id)).done and j,
                                "the job done", 300)
        took = time.monotonic() - killed
    finally:
        second.stop()
    versions = len(yard.models.versions("m"))
    jobs = len(yard.automation.jobs(policy="p"))
    yard.close()
    return [[("scheduler (SQLite, lease 3 s) killed mid-job: kill -9 to the job finished by the "
             "next one (its start-up, lease expiry, training again)"),
             (f"{took:.1f} s; {done.status}, {jobs} job, attempt {done.attempt}, "
             f"{versions} model version")]]


class Clients:
    def __init__(self, url: str) -> None:
        self.seen: list[tuple[int, str]] = []
        self._stop = threading.Event()
        body = row()

        def client() -> None:
            with httpx.Client(timeout=60) as c:
                while not self._stop.is_set():
                    try:
                        r = c.post(f"{url}/predict/iris", json=body)
                        self.seen.append((r.status_code, r.json().get("model", "")))
                    except httpx.HTTPError as exc:
                        self.seen.append((0, repr(exc)))

        self._threads = [threading.Thread(target=client) for _ in range(4)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def postgres_outage(tmp: Path) -> list[list[Any]]:
    name = f"bench_rel_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN).set(database=name)
    proxy = harness.CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    direct = iris_yard(url.render_as_string(hide_password=False), tmp / "pg-home", tmp / "pg-a")
    yard = my.connect(url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False), artifacts=str(tmp / "pg-a"),
        settings=my.Settings.load({}, home=tmp / "pg-home"))
    try:
        with harness.serving(yard, poll_interval=0.5) as server_url:
            clients = Clients(server_url)
            try:
                harness.wait_for(lambda: len(clients.seen) > 20, "answers")
                proxy.cut()
                n0, t0 = len(clients.seen), time.monotonic()
                while time.monotonic() - t0 < 10:
                    time.sleep(0.1)  # the outage lasts 10 s
                during = clients.seen[n0:]
                proxy.restore()
                direct.models.set_alias("iris", "production", 2)
                moved = time.monotonic()
                harness.wait_for(lambda: clients.seen[-1][1] == "iris/2", "alias followed", 300)
                follow = time.monotonic() - moved
            finally:
                clients.stop()
    finally:
        yard.close()
        direct.close()
        proxy.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    failed = sum(1 for code, _ in during if code != 200)
    return [[("PostgreSQL cut for 10 s under 4 clients (poll 0.5 s): answers during / failed; "
             "alias moved once it is back: followed in"),
             f"{len(during):,} / {failed}; {follow:.2f} s"]]


def blobs_away(tmp: Path) -> list[list[Any]]:
    yard = iris_yard(None, tmp / "blobs")
    art = yard.backend.artifacts
    blobs = [Path(art.blob_path(d)) for d in yard.models.get("iris/2").files.values()]
    with harness.serving(yard, poll_interval=0.5) as url:
        clients = Clients(url)
        try:
            for b in blobs:
                b.rename(b.with_name(b.name + ".away"))
            yard.models.set_alias("iris", "production", 2)
            harness.wait_for(lambda: httpx.get(f"{url}/readyz").json()["problems"],
                             "the failed load reported")
            for b in blobs:
                b.with_name(b.name + ".away").rename(b)
            back = time.monotonic()
            harness.wait_for(lambda: clients.seen[-1][1] == "iris/2", "the switch", 300)
            took = time.monotonic() - back
        finally:
            clients.stop()
    failed = sum(1 for code, _ in clients.seen if code != 200)
    yard.close()
    return [[("blobs of the new version away during a hot switch (poll 0.5 s): old version "
             "serves; switched after they return in"),
             f"{took:.2f} s; {len(clients.seen):,} answers, {failed} failed"]]


def disk_full(tmp: Path) -> list[list[Any]]:
    import subprocess

    mount = tmp / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [["log disk full", f"skipped: cannot mount a tmpfs ({done.stderr.strip()})"]]
    try:
        yard = iris_yard(None, tmp / "disk-home")
        (mount / "filler").write_bytes(b"\0" * (256 << 10))
        with harness.serving(yard, log_dir=mount / "log") as url, \
                httpx.Client(base_url=url, timeout=30) as c:
            body = {"records": row()["records"] * 20}
            answered = 0
            while (r := c.post("/predict/iris", json=body)).status_code == 200:
                answered += 1
            refused = r.status_code
            (mount / "filler").unlink()
            freed = time.monotonic()
            harness.wait_for(lambda: c.get("/readyz").status_code == 200, "ready again", 300)
            took = time.monotonic() - freed
        yard.close()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    return [[("prediction log's disk full (512 KiB tmpfs): answered until full, then; space "
             "freed to ready"), f"{answered} requests, then {refused}; {took:.2f} s"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    loads = [os.getloadavg()]
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as d:
        tmp = Path(d)
        for step in (lambda: load_run(tmp, args.duration), lambda: crash_model_server(tmp),
                     lambda: crash_rest_server(tmp), lambda: crash_scheduler(tmp),
                     None if args.skip_postgres else (lambda: postgres_outage(tmp)),
                     lambda: blobs_away(tmp), lambda: disk_full(tmp)):
            if step is None:
                continue
            rows += step()
            loads.append(os.getloadavg())
            print(rows[-1], f"(load {loads[-1][0]:.1f})", file=sys.stderr, flush=True)
    print_table("reliability", rows, ["what", "measured"])
    print(f"\nload average (1 min) over the run: {min(x[0] for x in loads):.1f}-"
          f"{max(x[0] for x in loads):.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
