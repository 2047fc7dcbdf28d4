"""The dashboard at scale: the server time of every page over a large yard.

    .venv/bin/python bench/ui.py [--runs 10000] [--steps 100] [--predictions 1000000]

Seeds one SQLite yard (a temporary folder) with ``--runs`` runs of ``--steps`` metric steps
each (plus a final metric and five params), 20 model versions, a 20-column dataset, an
endpoint with two routes, a shadow and a running canary in the serving tables,
``--predictions`` logged predictions over the last 7 days (half of them the shadow's, on the
same requests), 24 hourly monitor runs against the dataset and the alerts they opened. Then
it serves the dashboard on loopback and times each page over HTTP: one warm-up request, then
the median and the slowest of 5 (the goal: under 300 ms each). The yard's clock is fixed at
the end of the seeded week, so "the last hour" always holds the same data.

No peer: MLflow's UI has no counterpart of most pages, and seeding MLflow with 1M metric
values takes ~15 minutes on this machine (1,254 values/s batched, README); MLflow's runs
list at this scale is a known complaint (mlflow/mlflow #627, #8277, #21841).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import uuid_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.config import Settings
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.repository import ServingRepository
from modelyard.tracking.entities import Metric, RunEnvironment

END = datetime(2026, 3, 8, tzinfo=UTC)
WEEK = timedelta(days=7)
FEATURES = [f"f{i}" for i in range(5)]
GOAL_MS = 300.0


def seed_runs(yard: my.Yard, runs: int, steps: int) -> list[str]:
    store, ids = yard.backend.tracking, []
    env = RunEnvironment()
    for i in range(runs):
        run = store.create_run(
            experiment=f"exp-{i % 10}", name=f"run-{i}", environment=env,
            params={"lr": str(10 ** -(1 + i % 4)), "depth": str(2 + i % 8), "seed": str(i),
                    "solver": ("adam", "sgd")[i % 2], "batch": str(2 ** (4 + i % 4))})
        loss = [Metric(key="loss", value=1.0 / (s + 1) + (i % 97) / 1000, step=s, timestamp=0)
                for s in range(steps)]
        store.log_metrics(run.id, [*loss, Metric(key="auc", value=0.5 + (i % 500) / 1000,
                                                  step=0, timestamp=0)])
        store.end_run(run.id, "FINISHED")
        ids.append(run.id)
        if (i + 1) % 1000 == 0:
            print(f"[seed] {i + 1} runs", file=sys.stderr)
    return ids


def seed_models(yard: my.Yard, run_ids: list[str]) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 5)), columns=FEATURES)
    y = (X["f0"] > 0).astype(int)
    for i in range(20):
        model = LogisticRegression(C=0.1 * (i + 1)).fit(X, y)
        yard.models.register(model, "loans", example=X.head(3), run_id=run_ids[i])
    yard.models.set_alias("loans", "production", 1)


def seed_dataset(yard: my.Yard) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"c{i}": rng.normal(size=100_000) for i in range(15)})
    for f in FEATURES:
        frame[f] = rng.normal(size=100_000)
    yard.datasets.add("loans", frame)


def seed_serving(yard: my.Yard) -> None:
    (cfg,) = parse_endpoints([{
        "name": "loans",
        "routes": [{"name": "main", "model": "loans@production", "weight": 90},
                   {"name": "challenger", "model": "loans/2", "weight": 10}],
        "shadows": [{"name": "next", "model": "loans/3"}],
        "canary": {"model": "loans/4", "steps": [5, 25, 50]},
    }])
    repo = ServingRepository(yard.backend.db, yard.clock)
    repo.save_endpoint("loans", cfg.model_dump(mode="json"), "config")
    repo.set_served("loans", {"main": "loans/1", "challenger": "loans/2", "next": "loans/3",
                              "canary": "loans/4"})
    c = repo.start_canary("loans", "canary", "loans/4", cfg.canary.model_dump(), 5.0)  # type: ignore[union-attr]
    repo.advance(c.id, 0, 1, 25.0, "step", "held 5% for 300 s without a breach",
                 {"canary": {"requests": 310, "errors": 0, "error_rate": 0.0, "p95_ms": 4.1},
                  "incumbent": {"requests": 5900, "errors": 2, "p95_ms": 3.9}})


def seed_predictions(yard: my.Yard, n: int, chunk: int = 100_000) -> str:
    """``n`` records over the last week: n/2 answered requests (main 90%, challenger 10%)
    and the shadow's prediction of each."""
    rng = np.random.default_rng(2)
    start_ns = int((END - WEEK).timestamp() * 1e9)
    span_ns = int(WEEK.total_seconds() * 1e9)
    requests = n // 2
    times = np.sort(rng.integers(start_ns, start_ns + span_ns, requests))
    last = ""
    for lo in range(0, requests, chunk // 2):
        records = []
        for j in range(lo, min(lo + chunk // 2, requests)):
            x = rng.normal(size=5) + (0.8 if j > requests * 0.9 else 0.0)
            inputs = {f: float(v) for f, v in zip(FEATURES, x)}
            pred = int(x[0] > 0)
            main = rng.random() < 0.9
            u = uuid_utils.uuid7(nanoseconds=int(times[j]))
            answer_id = u.hex
            t_us = u.timestamp * 1000
            records.append({"id": answer_id, "time": t_us, "endpoint": "loans",
                            "route": "main" if main else "challenger", "model_name": "loans",
                            "model_version": 1 if main else 2, "latency_ms": float(rng.gamma(2, 2)),
                            "shadow": False, "request_id": answer_id, "inputs": inputs,
                            "outputs": {"prediction": pred}})
            s = uuid_utils.uuid7(nanoseconds=int(times[j]) + 1_000_000)
            records.append({"id": s.hex, "time": s.timestamp * 1000, "endpoint": "loans",
                            "route": "next", "model_name": "loans", "model_version": 3,
                            "latency_ms": float(rng.gamma(2, 2)), "shadow": True,
                            "request_id": answer_id, "inputs": inputs,
                            "outputs": {"prediction": pred if rng.random() < 0.93 else 1 - pred}})
            last = answer_id
        yard.predictions.log(records)
        print(f"[seed] {min(lo + chunk // 2, requests) * 2} predictions", file=sys.stderr)
    return last


def seed_monitoring(yard: my.Yard, clock: FixedClock) -> None:
    yard.monitoring.alert_rule("drift", metric="drift_share", op=">", threshold=0.3,
                               endpoint="loans", window="2h")
    for h in range(24, 0, -1):
        clock.current = END - timedelta(hours=h - 1)
        yard.monitoring.run("loans", window="1h", reference="dataset:loans")
    clock.current = END


def measure(url: str, paths: list[tuple[str, str]], repeat: int = 5) -> list[list[Any]]:
    rows = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for label, path in paths:
            r = client.get(path)
            r.raise_for_status()
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                r = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            med, worst = statistics.median(times), max(times)
            rows.append([label, f"{med:.0f}", f"{worst:.0f}", f"{len(r.content) / 1024:.0f}",
                         "yes" if worst < GOAL_MS else "NO"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--predictions", type=int, default=1_000_000)
    args = ap.parse_args()

    from modelyard.api.app import create_app
    from modelyard.api.server import BackgroundServer
    from modelyard.ui.app import PREFIX, PUBLIC_PATHS, install

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        clock = FixedClock(END)
        yard = my.connect(settings=Settings.load({}, home=Path(tmp) / "yard"), clock=clock)
        t0 = time.perf_counter()
        run_ids = seed_runs(yard, args.runs, args.steps)
        t_runs = time.perf_counter() - t0
        seed_models(yard, run_ids)
        seed_dataset(yard)
        seed_serving(yard)
        t1 = time.perf_counter()
        last_prediction = seed_predictions(yard, args.predictions)
        t_preds = time.perf_counter() - t1
        seed_monitoring(yard, clock)
        print(f"[seed] runs {t_runs:.0f} s, predictions {t_preds:.0f} s, total "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        app = create_app(yard, yard.settings, extensions=[install], public_paths=PUBLIC_PATHS,
                         login_path=f"{PREFIX}/login")
        compared = "&".join(f"ids={i}" for i in run_ids[:5])
        last_page = (args.runs + 49) // 50
        paths = [
            ("overview", "/ui/"),
            (f"runs, page 1 of {last_page}", "/ui/runs"),
            (f"runs, page {last_page} (last)", f"/ui/runs?page={last_page}"),
            ("runs, filter + order by a metric",
             ("/ui/runs?filter=metrics.auc+%3E+0.9+and+params.solver+%3D+%27adam%27"
             "&order_by=metrics.auc+DESC")),
            (f"run ({args.steps} steps)", f"/ui/runs/{run_ids[-1]}"),
            ("compare 5 runs", f"/ui/runs/compare?{compared}"),
            ("models", "/ui/models"),
            ("model (20 versions)", "/ui/models/loans"),
            ("model version", "/ui/models/loans/1"),
            ("datasets", "/ui/datasets"),
            ("dataset (20 columns, 100k rows)", "/ui/datasets/loans"),
            ("endpoints", "/ui/endpoints"),
            ("endpoint, last 1h", "/ui/endpoints/loans"),
            ("endpoint, last 24h", "/ui/endpoints/loans?window=24h"),
            ("endpoint, last 7d (all predictions)", "/ui/endpoints/loans?window=7d"),
            ("monitoring", "/ui/monitoring"),
            ("prediction", f"/ui/predictions/{last_prediction}"),
        ]
        with BackgroundServer(app) as srv:
            rows = measure(srv.url, paths)
        yard.close()
    title = (f"dashboard server time over HTTP: {args.runs:,} runs x {args.steps} steps, "
             f"{args.predictions:,} predictions (median and slowest of 5, after a warm-up)")
    print_table(title, rows, ["page", "median ms", "max ms", "KiB", f"< {GOAL_MS:.0f} ms"])
    print(f"\nload average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
