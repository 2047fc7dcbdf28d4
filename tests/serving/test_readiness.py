"""An endpoint that cannot load does not take the server out of service: a change through the
API is validated before it is saved, and readiness is reported per endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

import modelyard as my
from modelyard.serving.repository import ServingRepository

from .conftest import ServerFactory, eventually, iris_rows


def _repo(yard: my.Yard) -> ServingRepository:
    return ServingRepository(yard.backend.db, yard.clock)


def _unloadable(yard: my.Yard, iris: tuple[pd.DataFrame, Any]) -> str:
    """A registered version whose stored model file was damaged: it resolves, but does not
    load (the digest check refuses it)."""
    X, y = iris
    mv = yard.models.register(DecisionTreeClassifier(max_depth=1).fit(X, y), "stump",
                              example=X[:5])
    with open(yard.backend.artifacts.blob_path(mv.files["model.skops"]), "wb") as f:
        f.write(b"not a model")
    return f"stump/{mv.version}"


def test_a_put_that_cannot_be_served_is_refused_and_not_saved(
        model_server: ServerFactory, serving_yard: my.Yard, iris: Any) -> None:
    broken = _unloadable(serving_yard, iris)
    with model_server("iris@production") as url:
        missing = httpx.put(f"{url}/endpoints/loans3", json={"routes": [{"model": "iris/99"}]})
        typo = httpx.put(f"{url}/endpoints/loans3", json={
            "routes": [{"model": "iris/1"}], "shadows": [{"name": "s", "model": "iris@prodution"}]})
        unloadable = httpx.put(f"{url}/endpoints/loans3",
                               json={"routes": [{"model": "iris/1"}, {"name": "b", "model": broken}]})
        names = [e["name"] for e in httpx.get(f"{url}/endpoints").json()]
        ready = httpx.get(f"{url}/readyz")
        predict = httpx.post(f"{url}/predict/loans3", json={"records": iris_rows(iris, 1)})
    assert missing.status_code == 422 and missing.json()["field"] == "routes.0.model"
    assert "was not saved" in missing.json()["message"]
    assert "no version 99" in missing.json()["message"]
    assert typo.status_code == 422 and typo.json()["field"] == "shadows.0.model"
    assert "Did you mean 'production'?" in typo.json()["message"]
    assert unloadable.status_code == 422 and unloadable.json()["field"] == "routes.1.model"
    assert f"could not load {broken}" in unloadable.json()["message"]
    assert names == ["iris"] and _repo(serving_yard).list_endpoints("api") == []
    assert ready.status_code == 200 and predict.status_code == 404


def test_a_stored_endpoint_that_cannot_load_does_not_hold_the_server_hostage(
        model_server: ServerFactory, serving_yard: my.Yard, iris: Any) -> None:
    # e.g. saved by an older server, or its version deleted since
    _repo(serving_yard).save_endpoint(
        "loans3", {"name": "loans3", "routes": [{"model": "iris/99"}]}, "api")
    row = iris_rows(iris, 1)
    with model_server("iris@production") as url:
        health = eventually(lambda: (r := httpx.get(f"{url}/readyz")).status_code == 200
                            and r.json()["states"].get("loans3") == "failed" and r.json(),
                            "the server to be ready with loans3 failed")
        v2_ready = httpx.get(f"{url}/v2/health/ready")
        model_ready = httpx.get(f"{url}/v2/models/loans3/ready")
        iris_ready = httpx.get(f"{url}/v2/models/iris/ready")
        predict = httpx.post(f"{url}/predict/loans3", json={"records": row})
        served = httpx.post(f"{url}/predict/iris", json={"records": row})
        metrics = httpx.get(f"{url}/metrics").text
    assert health["ready"] is True and health["endpoints"] == {"iris": True, "loans3": False}
    assert "no version 99" in health["problems"]["loans3"]["main"]
    assert v2_ready.status_code == 200
    assert model_ready.status_code == 503 and model_ready.json()["state"] == "failed"
    assert iris_ready.status_code == 200
    assert predict.status_code == 503 and "could not be loaded" in predict.json()["message"]
    assert "no version 99" in predict.json()["message"]
    assert served.status_code == 200
    assert 'modelyard_endpoint_ready{endpoint="loans3"} 0.0' in metrics
    assert 'modelyard_endpoint_ready{endpoint="iris"} 1.0' in metrics
    assert 'modelyard_model_load_failures_total{endpoint="loans3",route="main"}' in metrics
