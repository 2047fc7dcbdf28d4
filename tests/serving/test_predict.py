from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import modelyard as my

from .conftest import ServerFactory, iris_rows


def test_records_get_predictions_ids_and_model(model_server: ServerFactory, iris: Any,
                                               serving_yard: my.Yard) -> None:
    rows = iris_rows(iris, 3, start=48)
    with model_server("iris@production") as url:
        r = httpx.post(f"{url}/predict/iris", json={"records": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "iris/1" and body["route"] == "main"
    expected = serving_yard.models.load("iris/1").predict(pd.DataFrame(rows)).tolist()
    assert body["predictions"] == expected
    assert len(body["ids"]) == 3 and len(set(body["ids"])) == 3


def test_columns_form_gives_the_same_answer(model_server: ServerFactory, iris: Any) -> None:
    rows = iris_rows(iris, 4, start=60)
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    with model_server("iris@production") as url:
        a = httpx.post(f"{url}/predict/iris", json={"records": rows}).json()
        b = httpx.post(f"{url}/predict/iris", json={"columns": columns, "proba": True}).json()
    assert a["predictions"] == b["predictions"]
    assert len(b["probabilities"]) == 4 and set(b["probabilities"][0]) == {"0", "1", "2"}
    assert sum(b["probabilities"][0].values()) == pytest.approx(1.0)


def test_every_prediction_is_logged_durably(model_server: ServerFactory, iris: Any,
                                            serving_yard: my.Yard) -> None:
    rows = iris_rows(iris, 2, start=100)
    with model_server("iris@production") as url:
        body = httpx.post(f"{url}/predict/iris",
                          json={"records": rows, "request_key": "cust-7"}).json()
        # durable: the records are in the WAL before the answer; readable at once
        rec = serving_yard.predictions.get(body["ids"][1])
    assert rec.endpoint == "iris" and rec.route == "main"
    assert rec.model_name == "iris" and rec.model_version == 1
    assert rec.inputs == rows[1]
    assert rec.outputs["prediction"] == body["predictions"][1]
    assert set(rec.outputs["proba"]) == {"0", "1", "2"}
    assert rec.request_key == "cust-7" and rec.shadow is False and rec.latency_ms > 0
    # the server compacts on shutdown: the record is now in Parquet
    now = serving_yard.clock.now()
    df = serving_yard.predictions.query("iris", now - timedelta(minutes=5), now)
    assert df["id"].to_list() == body["ids"]
    assert "input.sepal length (cm)" in df.columns and "output.proba.2" in df.columns


def test_missing_column_is_422_naming_it(model_server: ServerFactory, iris: Any) -> None:
    row = iris_rows(iris, 1)[0]
    del row["petal width (cm)"]
    with model_server("iris@production") as url:
        r = httpx.post(f"{url}/predict/iris", json={"records": [row]})
        assert r.status_code == 422
        assert r.json()["field"] == "petal width (cm)"
        assert "missing" in r.json()["message"]
        bad = {**iris_rows(iris, 1)[0], "sepal width (cm)": "wide"}
        r = httpx.post(f"{url}/predict/iris", json={"records": [bad]})
        assert r.status_code == 422 and r.json()["field"] == "sepal width (cm)"
        assert "'wide'" in r.json()["message"]
        assert httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 1)}).status_code == 200


def test_malformed_json_is_400_and_oversized_413(model_server: ServerFactory, iris: Any) -> None:
    with model_server("iris@production", max_request_bytes=2000) as url:
        r = httpx.post(f"{url}/predict/iris", content=b'{"records": [', headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_json"
        r = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 40)})
        assert r.status_code == 413
        r = httpx.post(f"{url}/predict/iris", json={"rows": []})
        assert r.status_code == 422 and r.json()["field"] == "records"
        r = httpx.post(f"{url}/predict/nope", json={"records": iris_rows(iris, 1)})
        assert r.status_code == 404
        assert httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 1)}).status_code == 200


def test_model_error_is_500_with_logged_error_id(model_server: ServerFactory, colors_model: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with model_server(colors_model) as url:
        r = httpx.post(f"{url}/predict/colors", json={"records": [{"color": "purple", "size": 1.0}]})
        assert r.status_code == 500
        error_id = r.json()["error_id"]
        ok = httpx.post(f"{url}/predict/colors", json={"records": [{"color": "red", "size": 1.0},
                                                                   {"color": "blue", "size": 3.0}]})
        assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    logged = [rec for rec in caplog.records if getattr(rec, "error_id", None) == error_id]
    assert logged and logged[0].exc_info is not None


def test_one_bad_request_in_a_batch_does_not_fail_the_others(model_server: ServerFactory,
                                                             colors_model: str) -> None:
    import asyncio

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient() as client:
            bodies = [{"records": [{"color": "purple" if i == 3 else "red", "size": float(i)}]}
                      for i in range(8)]
            rs = await asyncio.gather(*(client.post(f"{url}/predict/colors", json=b) for b in bodies))
            return [r.status_code for r in rs]

    with model_server(colors_model) as url:
        codes = asyncio.run(burst(url))
    assert codes == [200, 200, 200, 500, 200, 200, 200, 200]


def test_health_ready_and_metrics(model_server: ServerFactory, iris: Any) -> None:
    with model_server("iris@production") as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{url}/readyz").status_code == 200
        httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 3)})
        text = httpx.get(f"{url}/metrics").text
    assert 'modelyard_predict_requests_total{endpoint="iris",model="iris",model_version="1",route="main"} 1.0' in text
    assert 'modelyard_predict_rows_total{endpoint="iris",model="iris",model_version="1",route="main"} 3.0' in text
    assert "modelyard_predict_latency_seconds_bucket" in text


def test_async_and_off_durability_answer_too(model_server: ServerFactory, iris: Any) -> None:
    for durability in ("async", "off"):
        with model_server("iris@production", durability=durability) as url:
            r = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 2)})
            assert r.status_code == 200 and len(r.json()["ids"]) == 2


def test_too_many_rows_is_422(model_server: ServerFactory, iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}], "max_rows": 5}
    with model_server(ep) as url:
        r = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 6)})
    assert r.status_code == 422 and "at most 5 rows" in r.json()["message"]


def test_numeric_fast_path_matches_the_registry(serving_yard: my.Yard, iris: Any) -> None:
    from modelyard.serving.models import load_handle

    handle = load_handle(serving_yard, "iris/2")
    rows = iris_rows(iris, 10, start=45)
    prepared = handle.prepare_records(rows)
    assert isinstance(prepared.x, np.ndarray)
    preds, proba = handle.run(prepared.x)
    loaded = serving_yard.models.load("iris/2")
    assert preds == loaded.predict(pd.DataFrame(rows)).tolist()
    assert np.allclose(proba, loaded.predict_proba(pd.DataFrame(rows)))


def test_a_null_in_a_float_column_is_422_naming_it(model_server: ServerFactory,
                                                   iris: Any) -> None:
    """The example had no missing value in it, so the model cannot be given one (it used to
    reach scikit-learn and come back as a 500 model_error)."""
    row = {**iris_rows(iris, 1)[0], "petal length (cm)": None}
    columns = {k: [v] for k, v in row.items()}
    with model_server("iris@production") as url:
        records = httpx.post(f"{url}/predict/iris", json={"records": [row]})
        cols = httpx.post(f"{url}/predict/iris", json={"columns": columns})
    for r in (records, cols):
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "petal length (cm)"
        assert "must not be missing" in r.json()["message"]
