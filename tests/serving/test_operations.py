from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.serving.logs import JsonFormatter

from .conftest import ServerFactory, eventually, iris_rows


def test_open_inference_protocol_metadata_and_infer(model_server: ServerFactory, iris: Any) -> None:
    rows = iris_rows(iris, 3, start=120)
    names = list(rows[0])
    with model_server("iris@production") as url:
        assert httpx.get(f"{url}/v2").json()["name"] == "modelyard"
        assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        assert httpx.get(f"{url}/v2/models/iris/ready").json()["ready"] is True
        meta = httpx.get(f"{url}/v2/models/iris").json()
        assert meta["name"] == "iris" and meta["versions"] == ["1"]
        assert [i["name"] for i in meta["inputs"]] == names
        assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
        req = {"id": "r1", "inputs": [{"name": n, "shape": [3], "datatype": "FP64",
                                       "data": [r[n] for r in rows]} for n in names]}
        out = httpx.post(f"{url}/v2/models/iris/infer", json=req).json()
        simple = httpx.post(f"{url}/predict/iris", json={"records": rows}).json()
        matrix = {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64",
                              "data": [[r[n] for n in names] for r in rows]}]}
        out2 = httpx.post(f"{url}/v2/models/iris/infer", json=matrix).json()
        bad = dict(req, inputs=[dict(req["inputs"][0], datatype="BYTES")] + req["inputs"][1:])
        r_bad = httpx.post(f"{url}/v2/models/iris/infer", json=bad)
        r_404 = httpx.post(f"{url}/v2/models/nope/infer", json=req)
    assert out["id"] == "r1" and out["model_name"] == "iris" and out["model_version"] == "1"
    predict = next(o for o in out["outputs"] if o["name"] == "predict")
    assert predict["data"] == simple["predictions"] and predict["shape"] == [3]
    proba = next(o for o in out["outputs"] if o["name"] == "predict_proba")
    assert proba["shape"] == [3, 3] and len(proba["data"]) == 9
    assert len(out["parameters"]["prediction_ids"]) == 3
    assert next(o for o in out2["outputs"] if o["name"] == "predict")["data"] == simple["predictions"]
    assert r_bad.status_code == 422 and r_bad.json()["field"] == names[0] and "error" in r_bad.json()
    assert r_404.status_code == 404


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_non_python_client_can_infer(model_server: ServerFactory, iris: Any, tmp_path: Path) -> None:
    rows = iris_rows(iris, 2)
    script = tmp_path / "client.mjs"
    script.write_text(
        "const [url, body] = process.argv.slice(2);\n"
        "const meta = await (await fetch(`${url}/v2/models/iris`)).json();\n"
        "const rows = JSON.parse(body);\n"
        "const inputs = meta.inputs.map(i => ({name: i.name, shape: [rows.length],"
        " datatype: i.datatype, data: rows.map(r => r[i.name])}));\n"
        "const r = await fetch(`${url}/v2/models/iris/infer`, {method: 'POST',"
        " headers: {'content-type': 'application/json'}, body: JSON.stringify({inputs})});\n"
        "console.log(JSON.stringify({status: r.status, body: await r.json()}));\n"
    )
    with model_server("iris@production") as url:
        proc = subprocess.run(["node", str(script), url, json.dumps(rows)], capture_output=True,
                              text=True, timeout=60, check=False)
        expected = httpx.post(f"{url}/predict/iris", json={"records": rows}).json()["predictions"]
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == 200
    assert out["body"]["outputs"][0]["data"] == expected


def test_bearer_token_auth(model_server: ServerFactory, iris: Any, serving_yard: my.Yard) -> None:
    reader = serving_yard.backend.auth.create("app", role="reader")
    row = iris_rows(iris, 1)
    with model_server("iris@production", auth_enabled=True) as url:
        assert httpx.post(f"{url}/predict/iris", json={"records": row}).status_code == 401
        bad = httpx.post(f"{url}/predict/iris", json={"records": row},
                         headers={"authorization": "Bearer my_nope"})
        assert bad.status_code == 401
        ok = httpx.post(f"{url}/predict/iris", json={"records": row},
                        headers={"authorization": f"Bearer {reader}"})
        assert ok.status_code == 200
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/metrics").status_code == 401
        put = httpx.put(f"{url}/endpoints/other", json={"routes": [{"model": "iris/2"}]},
                        headers={"authorization": f"Bearer {reader}"})
        assert put.status_code == 403


def test_endpoints_declared_through_the_api(model_server: ServerFactory, iris: Any,
                                            serving_yard: my.Yard) -> None:
    from modelyard.serving.repository import ServingRepository

    row = iris_rows(iris, 1)
    with model_server("iris@production") as url:
        r = httpx.put(f"{url}/endpoints/tree", json={"routes": [{"model": "iris/2"}]})
        assert r.status_code == 200, r.text
        assert r.json()["routes"][0]["serving"] == "iris/2"
        assert httpx.post(f"{url}/predict/tree", json={"records": row}).json()["model"] == "iris/2"
        names = [e["name"] for e in httpx.get(f"{url}/endpoints").json()]
        assert names == ["iris", "tree"]
        bad = httpx.put(f"{url}/endpoints/x", json={"routes": [{"model": "iris/1", "weight": -1}]})
        assert bad.status_code == 422
        stored = ServingRepository(serving_yard.backend.db, serving_yard.clock).get_endpoint("tree")
        assert stored.source == "api" and stored.served == {"main": "iris/2"}
        assert httpx.delete(f"{url}/endpoints/iris").status_code == 422  # from the config
        assert httpx.delete(f"{url}/endpoints/tree").status_code == 200
        assert httpx.post(f"{url}/predict/tree", json={"records": row}).status_code == 404


def test_json_log_lines() -> None:
    record = logging.LogRecord("modelyard.serving", logging.ERROR, __file__, 1, "model %s failed",
                               ("iris/1",), None)
    record.error_id = "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "model iris/1 failed" and line["level"] == "error"
    assert line["error_id"] == "abc" and "time" in line


def test_feedback_through_the_model_server(model_server: ServerFactory, iris: Any,
                                           serving_yard: my.Yard) -> None:
    with model_server("iris@production") as url:
        ids = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 2)}).json()["ids"]
        one = httpx.post(f"{url}/feedback", json={"prediction_id": ids[0], "label": 0})
        assert one.status_code == 200, one.text
        again = httpx.post(f"{url}/feedback", json={"items": [
            {"prediction_id": ids[0], "label": 0}, {"prediction_id": ids[1], "label": 2}]})
        assert again.status_code == 200, again.text
        bad = httpx.post(f"{url}/feedback", json={"label": 1})
        unfit = httpx.post(f"{url}/feedback", json={"prediction_id": ids[1], "label": "setosa"})
    assert one.json()["created"] == 1
    assert again.json() == {"created": 1, "updated": 0, "unchanged": 1, "unmatched": 0}
    assert bad.status_code == 422
    assert unfit.status_code == 422 and unfit.json()["field"] == "label"
    assert "one of the classes of model iris/1 ('0', '1', '2')" in unfit.json()["message"]
    assert serving_yard.monitoring.get_feedback(ids[1]).label == 2


def test_open_inference_protocol_metadata_types_and_every_version(
        model_server: ServerFactory, iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}],
          "shadows": [{"name": "tree", "model": "iris/2"}]}
    rows = iris_rows(iris, 2)
    names = list(rows[0])
    with model_server(ep) as url:
        meta = eventually(lambda: (m := httpx.get(f"{url}/v2/models/iris").json())
                          and len(m["versions"]) == 2 and m, "the shadow to load")
        matrix = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                              "data": [[r[n] for n in names] for r in rows]}]}
        out = httpx.post(f"{url}/v2/models/iris/infer", json=matrix).json()
        narrow = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64",
                              "data": [[r[n] for n in names[:3]] for r in rows]}]}
        r_narrow = httpx.post(f"{url}/v2/models/iris/infer", json=narrow)
    predict = next(o for o in meta["outputs"] if o["name"] == "predict")
    answered = next(o for o in out["outputs"] if o["name"] == "predict")
    assert predict["datatype"] == answered["datatype"] == "INT64"
    assert meta["versions"] == ["1", "2"]
    assert {(r["name"], r["kind"], r["model"]) for r in meta["parameters"]["routes"]} == {
        ("main", "route", "iris/1"), ("tree", "shadow", "iris/2")}
    assert r_narrow.status_code == 422 and r_narrow.json()["field"] == "x"
    assert "width k must be the model's 4 columns" in r_narrow.json()["message"]
    assert r_narrow.json()["message"].endswith("Got width 3.")
