"""Explanations per second: modelyard vs calling shap the way its documentation shows.

    .venv/bin/python bench/explain.py [--rows 200] [--batch 1000] [--skip-peer]

Models: GradientBoostingClassifier, XGBClassifier and LGBMClassifier with 100 trees each (the
libraries' other defaults), trained on the same 5,000 x 30 ``make_classification`` data
(seed 0), binary.

Ours (this process): each model registered in a fresh yard and loaded back by its digest, then

- ``engine``: one row at a time (``--rows`` distinct rows), the engine the explainer chose
  (``xgboost.pred_contribs``, ``lightgbm.pred_contrib``, ``shap.TreeExplainer``) plus the
  additivity check; and a batch of ``--batch`` rows in one call;
- ``yard.explain``: the whole path for a logged prediction, uncached: read the record from the
  prediction log, resolve the version, check the input against the signature, reproduce the
  logged output (predict and predict_proba), attribute, check additivity, store in the cache.

shap (a subprocess of the same interpreter: shap is the project's ``explain`` extra, so both
sides use the same library versions, and a separate process keeps caches and thread pools
apart): ``explainer = shap.TreeExplainer(model)`` once, then ``explainer(X)`` per row and for
the batch, as in shap's documentation; the construction is timed on its own. Both sides train
the same models from the same data and print a checksum of their predicted probabilities,
which must match. One row is also timed in CPU seconds of the process (all its threads): on a
shared machine the wall time is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, print_table, ratio, run_in_venv

OUT = BENCH / "out" / "explain"
TREES = 100
MODELS = ("GradientBoosting", "XGBoost", "LightGBM")

# the models and their data, built the same way on both sides
SETUP = '''
import numpy as np, pandas as pd
from sklearn.datasets import make_classification

def data():
    X, y = make_classification(n_samples=5000, n_features=30, n_informative=12,
                               random_state=0)
    return pd.DataFrame(X, columns=[f"f{i:02d}" for i in range(30)]), y

def train(kind, X, y):
    if kind == "GradientBoosting":
        from sklearn.ensemble import GradientBoostingClassifier
        return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y)
    if kind == "XGBoost":
        import xgboost as xgb
        return xgb.XGBClassifier(n_estimators=100, random_state=0).fit(X, y)
    import lightgbm as lgb
    return lgb.LGBMClassifier(n_estimators=100, random_state=0, verbose=-1).fit(X, y)

def checksum(model, X):
    return float(np.round(model.predict_proba(X.head(500))[:, 1].sum(), 6))
'''

PEER = SETUP + '''
import json, sys, time
import shap

rows, batch = int(sys.argv[1]), int(sys.argv[2])
X, y = data()
out = {}
for kind in ("GradientBoosting", "XGBoost", "LightGBM"):
    model = train(kind, X, y)
    start = time.perf_counter()
    explainer = shap.TreeExplainer(model)          # as in shap's documentation
    build = time.perf_counter() - start
    explainer(X.iloc[[0]])                         # warm
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(rows):
        explainer(X.iloc[[i + 1]])
    one = (time.perf_counter() - start) / rows
    one_cpu = (time.process_time() - cpu) / rows
    block = X.iloc[1000:1000 + batch]
    start = time.perf_counter()
    values = explainer(block)
    many = time.perf_counter() - start
    out[kind] = {"build_s": build, "row_s": one, "row_cpu_s": one_cpu, "batch_s": many,
                 "checksum": checksum(model, X), "shape": list(values.values.shape)}
print(json.dumps(out))
'''


def ours(rows: int, batch: int) -> dict[str, Any]:
    import modelyard as my
    from modelyard.explain.engines import engine_for
    from modelyard.explain.explainer import check_additivity

    exec(SETUP, namespace := {})  # noqa: S102 - the setup above, shared with the peer's script
    X, y = namespace["data"]()
    out: dict[str, Any] = {}
    home = Path(tempfile.mkdtemp(prefix="explain-", dir=OUT))
    yard = my.connect(settings=my.Settings.load({}, home=home))
    for kind in MODELS:
        model = namespace["train"](kind, X, y)
        mv = yard.models.register(model, kind.lower(), example=X.head(5))
        loaded = yard.models.load(mv.ref)
        engine = engine_for(loaded)
        frames = [loaded.prepare(X.iloc[[i + 1]]) for i in range(rows)]
        engine.explain(loaded.prepare(X.iloc[[0]]), None)  # warm
        start, cpu = time.perf_counter(), time.process_time()
        for frame in frames:
            check_additivity(engine.explain(frame, None), mv.ref)
        one = (time.perf_counter() - start) / rows
        one_cpu = (time.process_time() - cpu) / rows
        block = loaded.prepare(X.iloc[1000:1000 + batch])
        start = time.perf_counter()
        check_additivity(engine.explain(block, None), mv.ref)
        many = time.perf_counter() - start
        # the whole path: logged predictions, explained once each (no cache)
        ids = _log(yard, mv, loaded, X.iloc[2000:2000 + rows + 1])
        yard.explain(ids[0])  # warm: the engine is built and kept
        start = time.perf_counter()
        for pid in ids[1:]:
            yard.explain(pid)
        full = (time.perf_counter() - start) / rows
        out[kind] = {"method": engine.method, "row_s": one, "row_cpu_s": one_cpu,
                     "batch_s": many, "full_s": full,
                     "checksum": namespace["checksum"](model, X)}
    yard.close()
    return out


def _log(yard: Any, mv: Any, loaded: Any, frame: Any) -> list[str]:
    """Log ``frame``'s rows as the model server does (label and class probabilities)."""
    proba = np.asarray(loaded.predict_proba(frame))
    labels = np.asarray(loaded.predict(frame)).tolist()
    records = [{"endpoint": "bench", "route": "main", "model_name": mv.name,
                "model_version": mv.version, "inputs": row,
                "outputs": {"prediction": labels[i],
                            "proba": {"0": float(proba[i, 0]), "1": float(proba[i, 1])}}}
               for i, row in enumerate(frame.to_dict(orient="records"))]
    return yard.predictions.log(records)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}")
    mine = ours(args.rows, args.batch)
    theirs = {} if args.skip_peer else run_in_venv(Path(sys.executable), PEER,
                                                   str(args.rows), str(args.batch))
    rows = []
    for kind in MODELS:
        m, p = mine[kind], theirs.get(kind, {})
        if p and p["checksum"] != m["checksum"]:
            raise SystemExit(f"{kind}: the two sides trained different models "
                             f"({m['checksum']} vs {p['checksum']})")
        rows.append([f"{kind} (100 trees), 1 row", m["method"], 1 / m["row_s"],
                     m["row_s"] * 1000, m["row_cpu_s"] * 1000, 1 / m["full_s"],
                     m["full_s"] * 1000, 1 / p["row_s"] if p else "n/a",
                     p["row_s"] * 1000 if p else "n/a", p["row_cpu_s"] * 1000 if p else "n/a",
                     ratio(1 / m["row_s"], 1 / p["row_s"]) if p else "n/a"])
        rows.append([f"{kind} (100 trees), {args.batch} rows", m["method"],
                     args.batch / m["batch_s"], m["batch_s"] * 1000, "", "", "",
                     args.batch / p["batch_s"] if p else "n/a",
                     p["batch_s"] * 1000 if p else "n/a", "",
                     ratio(args.batch / m["batch_s"], args.batch / p["batch_s"]) if p else "n/a"])
    print_table("Explanations per second (rows/s): modelyard vs shap.TreeExplainer", rows,
                ["model, input", "our engine", "ours rows/s", "ours ms", "ours cpu ms",
                 "yard.explain/s", "yard.explain ms", "shap rows/s", "shap ms", "shap cpu ms",
                 "ours vs shap"])
    if theirs:
        print("\nshap.TreeExplainer(model) construction: " + ", ".join(
            f"{k} {theirs[k]['build_s'] * 1000:.1f} ms" for k in MODELS))
    print(f"\nload average after: {os.getloadavg()}")
    (OUT / "result.json").write_text(json.dumps({"ours": mine, "shap": theirs}, indent=2))


if __name__ == "__main__":
    main()
