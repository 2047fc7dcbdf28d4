"""End to end on real served predictions: a model trained on scikit-learn's bundled data
(logged with its training dataset), served over HTTP by the model server, drifted traffic,
a monitor run with the lineage reference, a webhook alert, and late ground truth posted to
the model server's /feedback."""

from __future__ import annotations

import httpx
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard as my
from modelyard.monitoring.entities import MonitorResult
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import endpoint_from_ref
from modelyard.serving.testing import serve_in_thread

from .conftest import Receiver

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area", "worst concavity"]


def test_served_predictions_drift_alert_and_late_labels(yard: my.Yard) -> None:
    data = load_breast_cancer(as_frame=True)
    X = data.data[FEATURES]
    y = data.target.to_numpy()
    train, serve = X.iloc[:400], X.iloc[400:].reset_index(drop=True)
    y_serve = y[400:]
    dv = yard.datasets.add("cancer-train", train)
    with yard.start_run(experiment="cancer", datasets=[dv]) as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train, y[:400])
        mv = run.log_model(model, name="cancer", example=train.head(5))
    yard.models.set_alias("cancer", "production", mv.version)

    # traffic: the served rows, with two features drifted (a unit change and a shift)
    drifted = serve.copy()
    drifted["mean radius"] = drifted["mean radius"] * 1.6
    drifted["worst area"] = drifted["worst area"] + 600.0
    receiver = Receiver()
    ids: list[str] = []
    try:
        yard.monitoring.alert_rule("cancer drift", metric="drift_share", op=">=", threshold=0.4,
                                   endpoint="cancer", window="1h", webhooks=[receiver.url])
        app = create_app(yard, [endpoint_from_ref("cancer@production")])
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            for start in range(0, len(drifted), 50):
                rows = drifted.iloc[start:start + 50].to_dict(orient="records")
                resp = client.post("/predict/cancer", json={"records": rows, "proba": True})
                assert resp.status_code == 200, resp.text
                ids += resp.json()["ids"]
            result = yard.monitoring.run("cancer", window="1h")
            assert isinstance(result, MonitorResult)
            # labels come later, through the model server, one prediction at a time
            for pid, label in zip(ids[:120], y_serve[:120]):
                r = client.post("/feedback", json={"prediction_id": pid, "label": int(label)})
                assert r.status_code == 200, r.text
        assert result.run.status == "ok" and result.run.n_rows == len(drifted)
        assert result.run.reference == f"dataset:cancer-train/{dv.version}"
        g = result.group(mv.version)
        assert set(g.drift.drifted_features) >= {"mean radius", "worst area"}
        assert g.drift["output.prediction"].role == "output"  # reference: predictions on training data
        assert g.performance == {} and "estimated_accuracy" in g.estimated
        assert [e.event for e in result.events] == ["opened"]
        bodies = receiver.wait_for(1)  # delivered in the background
        assert bodies[0]["event"] == "opened" and bodies[0]["alert"]["endpoint"] == "cancer"

        # the same window again, now with the late labels joined
        again = yard.monitoring.run("cancer", window="1h", alerts=False)
        assert isinstance(again, MonitorResult)
        perf = again.group(mv.version).performance
        assert perf["n_labeled"] == 120
        served = yard.predictions.query("cancer", "2000-01-01", "2100-01-01")
        pred = dict(zip(served["id"].to_list(), served["output.prediction"].to_list()))
        expected = np.mean([pred[i] == int(label) for i, label in zip(ids[:120], y_serve[:120])])
        assert perf["accuracy"] == expected
        assert yard.monitoring.results("cancer", name="accuracy").height == 1
    finally:
        receiver.close()
