"""Tracking: modelyard vs MLflow 3.17.2, both on SQLite, the same work in one run.

    .venv/bin/python bench/tracking.py [--runs 200]

1. ``--runs`` runs x 10 params x 50 metric values, logged one call at a time (start, 60 log
   calls, end): log calls per second.
2. The same logged in batches (one params call, one metrics batch per run): values per second.
3. A search over every run (2 x ``--runs``), best of 3.
4. A filtered search, ``metrics.m0 > 0.5 and params.p1 = 'v1'``, best of 5.

MLflow runs in ``bench/.venv-mlflow`` (installed on first use) with
``MLFLOW_TRACKING_URI=sqlite:///…`` in a temporary folder; modelyard in this interpreter with
``my.connect("sqlite:///…")``. Timings on a shared machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peer_venv, print_table, ratio, run_in_venv

FILTER = "metrics.m0 > 0.5 and params.p1 = 'v1'"

# The workload, shared word for word by both sides (values depend only on the indexes).
WORKLOAD = '''
N_PARAMS, N_METRICS, N_KEYS = 10, 50, 10
def param_items(i):
    return [(f"p{j}", f"v{(i + j) % 7}") for j in range(N_PARAMS)]
def metric_items(i):
    return [(f"m{s % N_KEYS}", ((i * 31 + s * 17) % 100) / 100, s // N_KEYS) for s in range(N_METRICS)]
def best(fn, repeat):
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter(); fn(); out = min(out, time.perf_counter() - t)
    return out
'''

MLFLOW_SIDE = '''
import json, sys, time
import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
''' + WORKLOAD + '''
runs, flt = int(sys.argv[1]), sys.argv[2]
exp_id = mlflow.set_experiment("bench").experiment_id  # creates the database first, untimed
client = MlflowClient()
t = time.perf_counter()
for i in range(runs):
    with mlflow.start_run():
        for k, v in param_items(i):
            mlflow.log_param(k, v)
        for k, v, step in metric_items(i):
            mlflow.log_metric(k, v, step=step)
single = time.perf_counter() - t
t = time.perf_counter()
for i in range(runs):
    with mlflow.start_run() as run:
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id,
                         metrics=[Metric(k, v, now, step) for k, v, step in metric_items(i)],
                         params=[Param(k, v) for k, v in param_items(i)])
batch = time.perf_counter() - t
n_all = len(client.search_runs([exp_id], max_results=1000))
search = best(lambda: client.search_runs([exp_id], max_results=1000), 3)
n_found = len(client.search_runs([exp_id], flt, max_results=1000))
filtered = best(lambda: client.search_runs([exp_id], flt, max_results=1000), 5)
print(json.dumps({"single_s": single, "batch_s": batch, "search_s": search, "n_all": n_all,
                  "filtered_s": filtered, "n_found": n_found}))
'''


def ours(runs: int, folder: Path) -> dict[str, float]:
    import modelyard as my
    from modelyard.tracking.entities import Metric

    scope: dict[str, object] = {"time": time}
    exec(WORKLOAD, scope)  # noqa: S102 - the shared workload text above
    param_items, metric_items, best = scope["param_items"], scope["metric_items"], scope["best"]

    yard = my.connect(f"sqlite:///{folder / 'modelyard.db'}", artifacts=str(folder / "artifacts"))
    yard.experiments.create("bench")  # creates the database first, untimed
    t = time.perf_counter()
    for i in range(runs):
        with yard.start_run("bench") as run:
            for k, v in param_items(i):  # type: ignore[operator]
                run.log_param(k, v)
            for k, v, step in metric_items(i):  # type: ignore[operator]
                run.log_metric(k, v, step=step)
    single = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(runs):
        with yard.start_run("bench") as run:
            run.log_params(dict(param_items(i)))  # type: ignore[operator]
            run.log_batch([Metric(key=k, value=v, step=step) for k, v, step in metric_items(i)])  # type: ignore[operator]
    batch = time.perf_counter() - t
    n_all = len(yard.runs.search(experiment="bench"))
    search = best(lambda: yard.runs.search(experiment="bench"), 3)  # type: ignore[operator]
    n_found = len(yard.runs.search(FILTER, experiment="bench"))
    filtered = best(lambda: yard.runs.search(FILTER, experiment="bench"), 5)  # type: ignore[operator]
    yard.close()
    return {"single_s": single, "batch_s": batch, "search_s": search, "n_all": n_all,
            "filtered_s": filtered, "n_found": n_found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    # the same list as the registry/serving benches, so all share one bench/.venv-mlflow
    python = peer_venv("mlflow", ["mlflow==3.17.2", "pandas<3", "scikit-learn==1.9.1"])
    values = args.runs * 60  # 10 params + 50 metric values per run
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        folder = Path(tmp)
        (folder / "mlflow").mkdir()
        theirs = run_in_venv(
            python, MLFLOW_SIDE, str(args.runs), FILTER, cwd=folder / "mlflow",
            env={"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}",
                 "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"},
        )
        mine = ours(args.runs, folder)
    assert mine["n_all"] == theirs["n_all"] == 2 * args.runs
    assert mine["n_found"] == theirs["n_found"], (mine["n_found"], theirs["n_found"])
    rows = [
        ("log calls/s, one at a time", values / mine["single_s"], values / theirs["single_s"],
         ratio(values / mine["single_s"], values / theirs["single_s"])),
        ("values/s, batched", values / mine["batch_s"], values / theirs["batch_s"],
         ratio(values / mine["batch_s"], values / theirs["batch_s"])),
        (f"search {mine['n_all']} runs, s", mine["search_s"], theirs["search_s"],
         ratio(mine["search_s"], theirs["search_s"], higher_is_better=False)),
        (f"filtered search ({mine['n_found']} runs), s", mine["filtered_s"], theirs["filtered_s"],
         ratio(mine["filtered_s"], theirs["filtered_s"], higher_is_better=False)),
    ]
    print_table(f"Tracking, SQLite, {args.runs} runs x 10 params x 50 metric values",
                rows, ["figure", "modelyard", "MLflow 3.17.2", "ratio"])
    if args.json:
        args.json.write_text(json.dumps({"modelyard": mine, "mlflow": theirs}, indent=2))


if __name__ == "__main__":
    main()
