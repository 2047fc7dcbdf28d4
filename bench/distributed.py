"""Distributed execution: batch scoring, a 24-trial hyperparameter search and a 52-step
backtest, in this process, on local processes and on a Dask LocalCluster.

    .venv/bin/python bench/distributed.py                       # 10M rows, workers = cores
    .venv/bin/python bench/distributed.py --quick               # 1M rows, smaller search/backtest
    .venv/bin/python bench/distributed.py --workers 2,4,8,16 --executors serial,dask \\
        --out results.jsonl                                     # the 2 -> 16 scaling

The workloads (data made once, in a temporary yard, before any timing):

1. **scoring**: ``automation.scoring.score`` of N rows of Parquet (files of 1M rows) with a
   registered HistGradientBoosting classifier (30 trees of depth 6), written with predictions,
   probabilities and a prediction id per row; partitions of N/40 rows (at least 50k);
2. **search**: ``run.search`` of a RandomForest (40 trees) over a random space, 24 trials x
   3 folds, each trial a child run;
3. **backtest**: ``yard.backtest`` of 52 weekly steps over 2025, a sudden change on 1 July,
   five policies (never, every 4w, every 8w, on drift, on accuracy < 0.75) that share the
   trainings where they coincide (every 8w's retrains are every 4w's; the first model is every
   policy's): trainings run vs. asked.

Each case (workload x executor x workers) runs in its own process, so its peak memory is its
own: the peak of the summed resident memory of that process and its children (pool workers,
Dask nannies and workers), sampled every 0.1 s. ``start s`` is opening the executor and one
trivial task per worker (processes started); ``work s`` is the workload after that;
``speedup`` is serial's work time over the case's. Every case runs with one OpenMP/BLAS
thread per process, so a worker is a core. Nothing here asserts a time: the figures
are printed with the machine's cores and load average (other processes share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Self

BENCH = Path(__file__).resolve().parent
# this file's name would shadow the `distributed` package: take bench/ off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent / "src"))

WORKLOADS = ("scoring", "search", "backtest")
MODEL = "bench-loans"
POLICIES = ["never", "every:4w", "every:8w", "drift:0.3", "performance:accuracy<0.75"]
BT_START, BT_END = "2025-01-06", "2026-01-05"        # Mondays: 52 weekly steps
DRIFT_AT = "2025-07-01"
FEATURES = ["income", "age", "debt", "grade"]
# every case: one thread per process for OpenMP and BLAS (Dask's workers set this themselves;
# a process with all cores' threads in a pool of one per core oversubscribes them)
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

TRAINING = textwrap.dedent('''
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from modelyard.automation.retrain import TrainingResult

    FEATURES = ["income", "age", "debt", "grade"]

    def train(params, data, run):
        frame = data["train"].to_pandas(columns=[*FEATURES, "target"])
        X, y = frame[FEATURES], frame["target"]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        return TrainingResult(model.fit(X, y), example=X.head(5))
''')


def sizes(quick: bool, rows: int | None) -> dict[str, int]:
    if quick:
        out = {"scoring_rows": 1_000_000, "search_rows": 8_000, "backtest_rows": 100_000}
    else:
        out = {"scoring_rows": 10_000_000, "search_rows": 40_000, "backtest_rows": 400_000}
    if rows:
        out["scoring_rows"] = rows
    return out


def _override(size: dict[str, int], args: Any) -> dict[str, int]:
    for key in ("search_rows", "backtest_rows"):
        if getattr(args, key):
            size[key] = getattr(args, key)
    return size


def loans(n: int, start: str, end: str, *, seed: int, drift_at: str | None = None) -> Any:
    """Loan-like rows with event times spread over [start, end); from ``drift_at`` the
    population moves and the target's rule flips (a model trained before is wrong after)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ts = pd.date_range(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"),
                       periods=n + 1)[:-1]
    income = rng.integers(10, 90, n).astype(float)
    age = rng.integers(18, 70, n).astype(float)
    debt = rng.integers(0, 60, n).astype(float)
    grade = rng.integers(0, 5, n).astype(float)
    target = (income - debt + rng.normal(0, 8, n) > 25).astype(int)
    if drift_at is not None:
        after = np.asarray(ts >= pd.Timestamp(drift_at, tz="UTC"))
        income = np.where(after, income - 15, income)
        debt = np.where(after, debt + 10, debt)
        flipped = (debt - income + 0.5 * (age - 40) + rng.normal(0, 8, n)) > -20
        target = np.where(after, flipped.astype(int), target)
    return pd.DataFrame({"ts": ts, "income": income, "age": age, "debt": debt,
                         "grade": grade, "target": target})


# ---- setup: the data and model, made once ---------------------------------------------------
def setup(root: Path, size: dict[str, int]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.ensemble import HistGradientBoostingClassifier

    import modelyard as my

    yard = my.connect(settings=my.Settings.load({}, home=root / "home"))
    train = loans(50_000, "2024-01-01", "2024-12-31", seed=1)
    model = HistGradientBoostingClassifier(max_iter=30, max_depth=6, random_state=0)
    model.fit(train[FEATURES], train["target"])
    yard.models.register(model, MODEL, example=train[FEATURES].head(10))
    inputs = root / "scoring-in"
    inputs.mkdir()
    left, i = size["scoring_rows"], 0
    while left > 0:
        n = min(left, 1_000_000)
        frame = loans(n, "2025-01-01", "2025-12-31", seed=100 + i).drop(columns="target")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       inputs / f"part-{i:03d}.parquet", row_group_size=25_000)
        left, i = left - n, i + 1
    yard.datasets.add("bench-search", loans(size["search_rows"], "2025-01-01", "2025-06-01",
                                            seed=2), time_column="ts")
    yard.datasets.add("bench-backtest", loans(size["backtest_rows"], "2024-11-01", "2026-01-05",
                                              seed=3, drift_at=DRIFT_AT), time_column="ts")
    (root / "code").mkdir()
    (root / "code" / "bench_bt_model.py").write_text(TRAINING)
    yard.close()


# ---- one case, in its own process -------------------------------------------------------------
class TreeMemory:
    """The peak of this process's and its children's summed resident memory."""

    def __init__(self, every: float = 0.1) -> None:
        import psutil

        self.me = psutil.Process()
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        import psutil

        total = 0
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> Self:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _warm(i: int = 0) -> int:
    """What a long-running worker has done already: the imports the workloads use."""
    import importlib

    for name in ("sklearn.ensemble", "sklearn.linear_model", "modelyard.automation.scoring",
                 "modelyard.automation.backtest.tasks", "modelyard.tracking.tuning"):
        importlib.import_module(name)
    time.sleep(0.2)  # so the warm-up tasks spread over the pool's processes
    return os.getpid()


def open_case_executor(kind: str, workers: int) -> Any:
    """The case's executor with its processes started and warm (counted as start time)."""
    from modelyard.automation.executors import open_executor

    spec = {"serial": "serial", "local": f"local:{workers}", "dask": "dask"}[kind]
    ex = open_executor(spec, workers=workers)
    if kind == "dask":
        ex.client.run(_warm)  # type: ignore[attr-defined]
    else:
        ex.map(_warm, [(i,) for i in range(2 * ex.workers)])
    return ex


def run_scoring(yard: Any, ex: Any, root: Path, size: dict[str, int]) -> dict[str, Any]:
    from modelyard.automation.scoring import score

    part = max(50_000, size["scoring_rows"] // 40)
    result = score(yard, f"{MODEL}/1", str(root / "scoring-in"), str(root / "scoring-out"),
                   executor=ex, partition_rows=part, overwrite=True)
    return {"rows": result.rows, "partitions": result.partitions,
            "rows_per_s": result.rows / result.seconds}


def run_search(yard: Any, ex: Any, root: Path, size: dict[str, int]) -> dict[str, Any]:
    from sklearn.ensemble import RandomForestClassifier

    space = {"max_depth": {"dist": "randint", "low": 4, "high": 16},
             "min_samples_leaf": {"dist": "randint", "low": 1, "high": 40},
             "max_features": {"dist": "choice", "values": ["sqrt", 0.5, 1.0]}}
    with yard.start_run(experiment="bench-search", name=f"search-{ex.kind}") as run:
        result = run.search(RandomForestClassifier(n_estimators=40, random_state=0, n_jobs=1),
                            space, data=yard.datasets.get("bench-search"), label="target",
                            features=FEATURES, n_trials=24, cv=3, scoring="accuracy",
                            executor=ex)
    return {"trials": len(result.trials), "best_accuracy": result.best_score}


def run_backtest(yard: Any, ex: Any, root: Path, size: dict[str, int]) -> dict[str, Any]:
    sys.path.insert(0, str(root / "code"))
    result = yard.backtest(entry_point="bench_bt_model:train",
                           data={"train": {"dataset": "bench-backtest", "last": "28d"}},
                           start=BT_START, end=BT_END, every="1w", policies=POLICIES,
                           label="target", knowledge="event", executor=ex, save=False)
    means = {s.policy: round(s.mean or 0.0, 4) for s in result.summary}
    return {"steps": len(result.steps) // len(result.policies),
            "trainings_run": result.trainings_run,
            "trainings_requested": result.trainings_requested,
            "saved_seconds": result.saved_seconds, "train_seconds": result.train_seconds,
            "evaluations": result.evaluations_run, "mean_accuracy": means}


RUNNERS = {"scoring": run_scoring, "search": run_search, "backtest": run_backtest}


def case(root: Path, workload: str, kind: str, workers: int, size: dict[str, int]) -> None:
    """Run one case and print its figures as one JSON line."""
    import modelyard as my

    yard = my.connect(settings=my.Settings.load({}, home=root / "home"))
    with TreeMemory() as memory:
        t0 = time.perf_counter()
        ex = open_case_executor(kind, workers)
        t1 = time.perf_counter()
        try:
            extra = RUNNERS[workload](yard, ex, root, size)
            t2 = time.perf_counter()
            described = ex.describe()
        finally:
            ex.close()
    yard.close()
    print(json.dumps({"workload": workload, "executor": kind, "workers": workers,
                      "start_s": t1 - t0, "work_s": t2 - t1, "peak_mb": memory.peak / 2**20,
                      "described": described, **extra}))


# ---- the driver ---------------------------------------------------------------------------------
def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def plan(executors: list[str], workers: list[int]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if "serial" in executors:
        out.append(("serial", 1))
    for kind in ("local", "dask"):
        if kind in executors:
            out += [(kind, w) for w in workers]
    return out


def report(results: list[dict[str, Any]]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_common", BENCH / "_common.py")
    common = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(common)  # type: ignore[union-attr]
    print_table = common.print_table

    for workload in WORKLOADS:
        rows = [r for r in results if r["workload"] == workload]
        if not rows:
            continue
        serial = next((r["work_s"] for r in rows if r["executor"] == "serial"), None)
        table = []
        for r in rows:
            speedup = f"{serial / r['work_s']:.2f}x" if serial else "n/a"
            what = {"scoring": f"{r.get('rows_per_s', 0):,.0f} rows/s",
                    "search": f"{r.get('trials')} trials",
                    "backtest": f"{r.get('trainings_run')} of {r.get('trainings_requested')} "
                                "trainings run"}[workload]
            table.append([r["executor"], r["workers"], round(r["start_s"], 2),
                          round(r["work_s"], 2), speedup, round(r["peak_mb"]), what])
        print_table(workload, table, ["executor", "workers", "start s", "work s",
                                      "speedup vs serial", "peak MB (tree)", "figure"])
    bt = [r for r in results if r["workload"] == "backtest"]
    if bt:
        r = bt[0]
        print(f"\nbacktest: {r['steps']} steps x {len(POLICIES)} policies; "
              f"{r['trainings_run']} trainings run for {r['trainings_requested']} asked "
              f"(shared retrains saved {r['saved_seconds']:.1f} s of "
              f"{r['train_seconds'] + r['saved_seconds']:.1f} s training); "
              f"{r['evaluations']} evaluations; mean accuracy {r['mean_accuracy']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1M rows to score, a smaller search and backtest")
    parser.add_argument("--rows", type=int, default=None, help="rows to score")
    parser.add_argument("--search-rows", type=int, default=None, help="rows the search reads")
    parser.add_argument("--backtest-rows", type=int, default=None,
                        help="rows of the backtest's dataset (over 14 months)")
    parser.add_argument("--workers", default=None,
                        help="comma-separated worker counts (default: the cores)")
    parser.add_argument("--executors", default="serial,local,dask",
                        help="which of serial, local, dask to run")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--out", default=None, help="append each case's JSON line here")
    parser.add_argument("--root", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--case", nargs=3, metavar=("WORKLOAD", "EXECUTOR", "WORKERS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = _override(sizes(args.quick, args.rows), args)
    if args.case:
        case(Path(args.root), args.case[0], args.case[1], int(args.case[2]), size)
        return

    from modelyard.automation.executors import cpu_count

    workers = [int(w) for w in args.workers.split(",")] if args.workers else [cpu_count()]
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-distributed-", dir=args.root) as tmp:
        root = Path(tmp)
        print(f"cores {cpu_count()}, load average {load_average()}; sizes {size}", flush=True)
        t = time.perf_counter()
        setup(root, size)
        print(f"setup {time.perf_counter() - t:.1f} s", flush=True)
        results: list[dict[str, Any]] = []
        for workload in workloads:
            for kind, w in plan(executors, workers):
                cmd = [sys.executable, __file__, "--case", workload, kind, str(w),
                       "--root", str(root)] + (["--quick"] if args.quick else []) \
                    + (["--rows", str(args.rows)] if args.rows else []) \
                    + [f"--{k.replace('_', '-')}={size[k]}" for k in ("search_rows",
                                                                     "backtest_rows")]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                      env={**os.environ, **ONE_THREAD})
                if done.returncode != 0:
                    print(f"[{workload} {kind} {w}] failed:\n{done.stderr[-3000:]}", flush=True)
                    continue
                line = json.loads(done.stdout.strip().splitlines()[-1])
                line["load_average"] = load_average()
                results.append(line)
                print(f"[{workload} {kind} x{w}] start {line['start_s']:.1f} s, work "
                      f"{line['work_s']:.1f} s, peak {line['peak_mb']:.0f} MB, load "
                      f"{line['load_average']}", flush=True)
                if args.out:
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(line) + "\n")
        report(results)
        print(f"\nload average at the end {load_average()}")


if __name__ == "__main__":
    main()
