"""A yard with one of everything the dashboard shows, made the way a user makes it: a dataset,
three training runs with metric histories and models, a model server on loopback answering
real requests over HTTP (a champion, a shadow challenger and a running canary), ground truth
for part of the traffic, a drifted window monitored against the training data, and the alert
it opened. Used by the browser tests and by ``scripts/ui_screenshots.py``."""

from __future__ import annotations

from typing import Any

import httpx
import polars as pl
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.options import ServerOptions
from modelyard.serving.repository import ServingRepository
from modelyard.serving.testing import serve_in_thread
from serving.conftest import eventually  # tests/serving: the one wait-on-a-condition helper

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area", "worst concavity"]
ENDPOINT = "cancer"


def seed_yard(yard: my.Yard, *, requests: int = 240) -> dict[str, Any]:
    data = load_breast_cancer(as_frame=True)
    X, y = data.data[FEATURES], data.target.to_numpy()
    train, serve, y_serve = X.iloc[:400], X.iloc[400:].reset_index(drop=True), y[400:]
    dv = yard.datasets.add("cancer-train", train.assign(label=y[:400]))
    yard.datasets.describe("cancer-train", "mean radius", description="Mean distance to the "
                           "perimeter", unit="mm", owner="clinic", sensitivity="internal")
    models = {
        "logreg-C1": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)),
        "logreg-C0.01": make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=500)),
        "tree-d3": DecisionTreeClassifier(max_depth=3, random_state=0),
    }
    runs, versions = {}, {}
    for name, model in models.items():
        with yard.start_run(experiment="cancer", name=name, datasets=[dv]) as run:
            run.log_params({"model": type(model).__name__,
                            **({"C": name.split("C")[1]} if "C" in name else {"max_depth": 3})})
            model.fit(train, y[:400])
            for step in range(8):
                run.log_metric("loss", round(1.0 / (step + 1) + 0.01 * len(name), 4), step=step)
            run.log_metrics({"accuracy": float(model.score(serve, y_serve))})
            mv = run.log_model(model, name="cancer", example=train.head(5))
        runs[name], versions[name] = run.id, mv.version
    yard.models.set_alias("cancer", "production", versions["logreg-C1"], reason="best accuracy")
    yard.models.journal("cancer", "Chosen for its calibration.", version=versions["logreg-C1"])

    # a drifted window of live traffic, answered by the champion, the canary (30% of it), and
    # a shadow that sees a copy of every request
    drifted = serve.copy()
    drifted["mean radius"] = drifted["mean radius"] * 1.6
    drifted["worst area"] = drifted["worst area"] + 600.0
    config = parse_endpoints([{
        "name": ENDPOINT, "sticky": True,  # a request key always takes the same route
        "routes": [{"name": "main", "model": "cancer@production"}],
        "shadows": [{"name": "next", "model": f"cancer/{versions['logreg-C0.01']}"}],
        "canary": {"model": f"cancer/{versions['tree-d3']}", "steps": [30, 60],
                   "interval_s": 3600, "min_requests": 100_000},
    }])
    repo = ServingRepository(yard.backend.db, yard.clock)
    yard.monitoring.alert_rule("cancer drift", metric="drift_share", op=">=", threshold=0.2,
                               endpoint=ENDPOINT, window="1h")
    ids: list[str] = []
    app = create_app(yard, config, ServerOptions(poll_interval=0.1))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        eventually(lambda: len(repo.get_endpoint(ENDPOINT).served) == 3, "every route to load",
                   timeout=120)
        rows = drifted.to_dict(orient="records")
        for start in range(0, requests, 20):
            batch = [rows[i % len(rows)] for i in range(start, min(start + 20, requests))]
            resp = client.post(f"/predict/{ENDPOINT}",
                               json={"records": batch, "request_key": f"ward-{start}"})
            assert resp.status_code == 200, resp.text
            ids += resp.json()["ids"]

        def shadows_logged() -> bool:
            lf = yard.predictions.scan(ENDPOINT, "2000-01-01", "2100-01-01")
            return lf.filter(pl.col("shadow")).select(pl.len()).collect().item() >= requests

        eventually(shadows_logged, "the shadow's predictions in the log", timeout=120)
    labels = {pid: int(y_serve[i % len(y_serve)]) for i, pid in enumerate(ids[:120])}
    yard.monitoring.feedback(list(labels), list(labels.values()))
    yard.monitoring.run(ENDPOINT, window="1h", reference=f"dataset:cancer-train/{dv.version}")
    alerts = yard.monitoring.alerts(state="open", endpoint=ENDPOINT)
    assert alerts, "the drifted window opened no alert"
    return {"runs": runs, "versions": versions, "dataset": dv, "ids": ids, "labels": labels,
            "alerts": [a.id for a in alerts], "requests": requests}
