"""Labels follow the request: ground truth given for the ids a client got back also counts
for the shadow's predictions of the same rows (a real model server, a champion and a shadow)."""

from __future__ import annotations

import time

import httpx
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import modelyard as my
from modelyard.monitoring.entities import MonitorResult
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import EndpointConfig, RouteConfig, ShadowConfig
from modelyard.serving.testing import serve_in_thread

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area", "worst concavity"]


def test_a_shadow_gets_realised_performance_from_the_champions_labels(local_yard: my.Yard) -> None:
    yard = local_yard
    data = load_breast_cancer(as_frame=True)
    X, y = data.data[FEATURES], data.target.to_numpy()
    champion = yard.models.register(LogisticRegression(max_iter=2000).fit(X[:400], y[:400]),
                                    "cancer", example=X[:5])
    shadow = yard.models.register(
        DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[:400], y[:400]), "cancer",
        example=X[:5])
    endpoint = EndpointConfig(
        name="cancer", routes=[RouteConfig(name="main", model=champion.ref)],
        shadows=[ShadowConfig(name="next", model=shadow.ref)])
    serve, y_serve = X.iloc[400:].reset_index(drop=True), y[400:]
    ids: list[str] = []
    with serve_in_thread(create_app(yard, [endpoint])) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(serve), 20):
            rows = serve.iloc[start:start + 20].to_dict(orient="records")
            resp = client.post("/predict/cancer", json={"records": rows})
            assert resp.status_code == 200, resp.text
            ids += resp.json()["ids"]
        # labels arrive by the ids the client got (the champion's), through the model server
        r = client.post("/feedback", json={"items": [
            {"prediction_id": pid, "label": int(label)} for pid, label in zip(ids, y_serve)]})
        assert r.status_code == 200, r.text

    deadline = time.monotonic() + 30
    while True:  # shadow records are written after the answer; wait for all of them
        logged = yard.predictions.query("cancer", "2000-01-01", "2100-01-01")
        shadows = logged.filter(logged["shadow"])
        if shadows.height == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert shadows.height == len(ids)
    # every record of a request row carries the id the caller got for that row
    assert sorted(shadows["request_id"].to_list()) == sorted(ids)
    answered = logged.filter(~logged["shadow"])
    assert answered["request_id"].to_list() == answered["id"].to_list()

    result = yard.monitoring.run("cancer", window="1h", alerts=False)
    assert isinstance(result, MonitorResult)
    main = next(g for g in result.groups if not g.shadow)
    next_ = next(g for g in result.groups if g.shadow)
    assert main.n_labeled == len(ids) and next_.n_labeled == len(ids)
    truth = dict(zip(ids, y_serve.tolist()))
    pred = dict(zip(shadows["request_id"].to_list(), shadows["output.prediction"].to_list()))
    expected = np.mean([pred[i] == truth[i] for i in ids])
    assert next_.performance["accuracy"] == expected
    assert next_.performance["accuracy"] != main.performance["accuracy"]
