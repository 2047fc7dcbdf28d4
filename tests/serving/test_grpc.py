"""The Open Inference Protocol over gRPC: the same endpoints, routes, shadows, log, auth and
metrics as REST. Clients: grpcio over the published proto's generated stub, Triton's own
client (``tritonclient[grpc]``, in another process: its protobuf package is the same
``inference``) and a Node client with @grpc/grpc-js."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.grpc import grpc_predict_v2_pb2 as pb
from modelyard.serving.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread

from .conftest import eventually, iris_rows

PROTO = Path(__file__).resolve().parents[2] / "src/modelyard/serving/grpc/grpc_predict_v2.proto"


@contextmanager
def grpc_server(yard: my.Yard, *endpoints: dict[str, Any],
                **options: Any) -> Iterator[tuple[str, str]]:
    """(REST url, gRPC target) of a model server with a gRPC port."""
    configs = parse_endpoints(list(endpoints) or [{"name": "iris",
                                                   "routes": [{"model": "iris@production"}]}])
    app = create_app(yard, configs, ServerOptions(grpc_port=0, poll_interval=0.2, **options))
    with serve_in_thread(app) as url:
        yield url, f"127.0.0.1:{app.grpc.port}"


@contextmanager
def stub(target: str) -> Iterator[GRPCInferenceServiceStub]:
    with grpc.insecure_channel(target) as channel:
        yield GRPCInferenceServiceStub(channel)


def _columns_request(rows: list[dict[str, float]], **kw: Any) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name="iris", **kw)
    for name in rows[0]:
        t = req.inputs.add(name=name, datatype="FP64", shape=[len(rows)])
        t.contents.fp64_contents.extend([r[name] for r in rows])
    return req


def _raw_request(rows: list[dict[str, float]], dtype: str = "<f4") -> pb.ModelInferRequest:
    matrix = np.array([list(r.values()) for r in rows], dtype=dtype)
    req = pb.ModelInferRequest(model_name="iris")
    req.inputs.add(name="input-0", datatype="FP32" if dtype == "<f4" else "FP64",
                   shape=list(matrix.shape))
    req.raw_input_contents.append(matrix.tobytes())
    return req


def _abort(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


def test_health_and_metadata(serving_yard: my.Yard) -> None:
    with grpc_server(serving_yard) as (_, target), stub(target) as s:
        assert s.ServerLive(pb.ServerLiveRequest()).live
        assert s.ServerReady(pb.ServerReadyRequest()).ready
        assert s.ModelReady(pb.ModelReadyRequest(name="iris")).ready
        meta = s.ServerMetadata(pb.ServerMetadataRequest())
        assert meta.name == "modelyard" and meta.version == my.__version__
        model = s.ModelMetadata(pb.ModelMetadataRequest(name="iris"))
        assert model.name == "iris" and list(model.versions) == ["1"]
        assert [i.name for i in model.inputs][:1] == ["sepal length (cm)"]
        assert {o.name for o in model.outputs} == {"predict", "predict_proba"}
        missing = _abort(lambda: s.ModelReady(pb.ModelReadyRequest(name="nope")))
    assert missing.code() == grpc.StatusCode.NOT_FOUND and "nope" in missing.details()


def test_typed_contents_answer_like_rest_and_are_logged(serving_yard: my.Yard,
                                                        iris: Any) -> None:
    rows = iris_rows(iris, 3, start=50)
    with grpc_server(serving_yard) as (url, target), stub(target) as s:
        answer = s.ModelInfer(_columns_request(rows, id="req-7"))
        rest = httpx.post(f"{url}/predict/iris", json={"records": rows}).json()
        ids = json.loads(answer.parameters["prediction_ids"].string_param)
        rec = serving_yard.predictions.get(ids[2])
    assert answer.id == "req-7" and answer.model_name == "iris" and answer.model_version == "1"
    predict = next(o for o in answer.outputs if o.name == "predict")
    assert list(predict.contents.int64_contents) == rest["predictions"]
    proba = next(o for o in answer.outputs if o.name == "predict_proba")
    assert list(proba.shape) == [3, 3] and len(proba.contents.fp64_contents) == 9
    assert json.loads(proba.parameters["classes"].string_param) == ["0", "1", "2"]
    assert answer.parameters["route"].string_param == "main"
    assert rec.inputs == rows[2] and rec.outputs["prediction"] == rest["predictions"][2]


def test_raw_contents_in_raw_contents_out(serving_yard: my.Yard, iris: Any) -> None:
    rows = iris_rows(iris, 4, start=100)
    req = _raw_request(rows)
    req.outputs.add(name="predict")
    with grpc_server(serving_yard) as (_, target), stub(target) as s:
        answer = s.ModelInfer(req)
    assert [o.name for o in answer.outputs] == ["predict"]
    assert not answer.outputs[0].HasField("contents")
    got = np.frombuffer(answer.raw_output_contents[0], dtype="<i8").tolist()
    X = pd.DataFrame(rows).astype(np.float32).astype(np.float64)
    assert got == serving_yard.models.load("iris@production").predict(X).tolist()


def test_bad_requests_are_mapped_to_status_codes(serving_yard: my.Yard, iris: Any,
                                                 colors_model: str) -> None:
    rows = iris_rows(iris, 2)
    both = _raw_request(rows)
    both.inputs[0].contents.fp32_contents.extend([1.0] * 8)
    wrong_type = _columns_request(rows)
    wrong_type.inputs[1].datatype = "BYTES"
    wrong_type.inputs[1].ClearField("contents")
    wrong_type.inputs[1].contents.bytes_contents.extend([b"wide", b"narrow"])
    short = _raw_request(rows)
    short.raw_input_contents[0] = short.raw_input_contents[0][:-3]
    bad_color = pb.ModelInferRequest(model_name="colors")
    bad_color.inputs.add(name="color", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
        b"purple")
    bad_color.inputs.add(name="size", datatype="FP64", shape=[1]).contents.fp64_contents.append(1.0)
    eps = ({"name": "iris", "routes": [{"model": "iris@production"}]},
           {"name": "colors", "routes": [{"model": colors_model}]})
    with grpc_server(serving_yard, *eps) as (url, target), stub(target) as s:
        errors = {name: _abort(lambda r=req: s.ModelInfer(r)) for name, req in {
            "both": both, "wrong_type": wrong_type, "short": short,
            "unknown": pb.ModelInferRequest(model_name="nope"), "model": bad_color}.items()}
        metrics = httpx.get(f"{url}/metrics").text
    for name in ("both", "wrong_type", "short"):
        assert errors[name].code() == grpc.StatusCode.INVALID_ARGUMENT, name
    assert "one form or the other" in errors["both"].details()
    field = dict(errors["wrong_type"].trailing_metadata())["modelyard-field"]
    assert field == "sepal width (cm)" and "must have datatype FP64" in errors[
        "wrong_type"].details()
    assert "multiple of 4 bytes" in errors["short"].details()
    assert errors["unknown"].code() == grpc.StatusCode.NOT_FOUND
    assert errors["model"].code() == grpc.StatusCode.INTERNAL
    assert dict(errors["model"].trailing_metadata())["modelyard-error-id"]
    assert 'modelyard_grpc_requests_total{code="INVALID_ARGUMENT",method="ModelInfer"} 3.0' \
        in metrics


def test_routes_shadows_and_the_request_key_work_as_over_rest(serving_yard: my.Yard,
                                                              iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"name": "a", "model": "iris/1", "weight": 50},
                                     {"name": "b", "model": "iris/2", "weight": 50}],
          "sticky": True, "shadows": [{"name": "tree", "model": "iris/2"}]}
    rows = iris_rows(iris, 1, start=7)
    with grpc_server(serving_yard, ep) as (_, target), stub(target) as s:
        routes = set()
        ids = []
        for _ in range(4):
            answer = s.ModelInfer(_columns_request(rows), metadata=(("x-request-key", "cust-1"),))
            routes.add(answer.parameters["route"].string_param)
            ids += json.loads(answer.parameters["prediction_ids"].string_param)

        def shadowed() -> bool:
            now = serving_yard.clock.now()
            df = serving_yard.predictions.query("iris", now - pd.Timedelta(minutes=5), now)
            return set(df.filter(df["shadow"])["request_id"].to_list()) == set(ids)

        eventually(shadowed, "the shadow's records of every request")
    assert len(routes) == 1  # sticky: one key, one route


def test_a_canary_takes_its_share_and_grpc_answers_count_in_the_rest_metrics(
        serving_yard: my.Yard, iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"name": "main", "model": "iris/1"}],
          "canary": {"model": "iris/2", "steps": [50], "interval_s": 300, "min_requests": 1000},
          "batching": {"max_delay_ms": 1000, "max_batch_rows": 4}}
    rows = iris_rows(iris, 1, start=30)
    with grpc_server(serving_yard, ep) as (url, target), stub(target) as s:
        def canary_serving() -> bool:
            described = httpx.get(f"{url}/endpoints/iris").json()
            return any(r["kind"] == "canary" and r["serving"] for r in described["routes"])

        eventually(canary_serving, "the canary route to serve")
        answers = [s.ModelInfer(_columns_request(rows), timeout=30) for _ in range(40)]
        # four calls in flight at once are predicted in one model call, as over REST
        with grpc.insecure_channel(target) as channel:
            infer = GRPCInferenceServiceStub(channel).ModelInfer
            futures = [infer.future(_columns_request(rows), timeout=30) for _ in range(4)]
            together = [f.result() for f in futures]
        metrics = httpx.get(f"{url}/metrics").text
    by_route: dict[str, int] = {}
    for answer in answers + together:
        route = answer.parameters["route"].string_param
        by_route[route] = by_route.get(route, 0) + 1
    assert set(by_route) == {"main", "canary"}
    assert {a.model_version for a in answers} == {"1", "2"}

    def counted(route: str) -> float:
        for line in metrics.splitlines():
            if line.startswith("modelyard_predict_requests_total{") and \
                    f'route="{route}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    assert counted("main") + counted("canary") == 44
    assert counted("canary") == by_route["canary"]
    sums = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("modelyard_batch_rows_count{")]
    assert sum(sums) < 44  # some calls predicted together


def test_a_bearer_token_in_the_metadata(serving_yard: my.Yard, iris: Any) -> None:
    token = serving_yard.backend.auth.create("app", role="reader")
    with grpc_server(serving_yard, auth_enabled=True) as (_, target), stub(target) as s:
        assert s.ServerLive(pb.ServerLiveRequest()).live  # health needs no token
        denied = _abort(lambda: s.ModelInfer(_columns_request(iris_rows(iris, 1))))
        answer = s.ModelInfer(_columns_request(iris_rows(iris, 1)),
                              metadata=(("authorization", f"Bearer {token}"),))
        serving_yard.backend.auth.revoke("app")
        revoked = _abort(lambda: s.ModelMetadata(pb.ModelMetadataRequest(name="iris"),
                                                 metadata=(("authorization", f"Bearer {token}"),)))
    assert denied.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in denied.details()
    assert len(answer.outputs) == 2
    assert revoked.code() == grpc.StatusCode.UNAUTHENTICATED


def test_messages_above_grpcs_4_mib_default_pass(serving_yard: my.Yard) -> None:
    n = 150_000  # 150k rows x 4 float64 = 4.8 MB of raw contents
    rng = np.random.default_rng(0)
    matrix = rng.uniform(1, 7, size=(n, 4))
    req = pb.ModelInferRequest(model_name="iris")
    req.inputs.add(name="input-0", datatype="FP64", shape=[n, 4])
    req.raw_input_contents.append(matrix.tobytes())
    ep = {"name": "iris", "routes": [{"model": "iris@production"}], "max_rows": 200_000}
    options = [("grpc.max_send_message_length", 64 << 20),
               ("grpc.max_receive_message_length", 64 << 20)]
    with grpc_server(serving_yard, ep, durability="off") as (_, target), \
            grpc.insecure_channel(target, options=options) as channel:
        answer = GRPCInferenceServiceStub(channel).ModelInfer(req)
    assert list(answer.outputs[0].shape) == [n]


TRITON_CLIENT = r'''
import json, sys
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

target, rows = sys.argv[1], json.loads(sys.argv[2])
client = grpcclient.InferenceServerClient(url=target)
out = {"live": client.is_server_live(), "ready": client.is_server_ready(),
       "model_ready": client.is_model_ready("iris")}
meta = client.get_model_metadata("iris", as_json=True)
out["inputs"] = [i["name"] for i in meta["inputs"]]
x = np.array(rows, dtype=np.float64)
inp = grpcclient.InferInput("input-0", list(x.shape), "FP64")
inp.set_data_from_numpy(x)
result = client.infer("iris", [inp], request_id="triton-1",
                      outputs=[grpcclient.InferRequestedOutput("predict"),
                               grpcclient.InferRequestedOutput("predict_proba")])
out["predict"] = result.as_numpy("predict").tolist()
out["proba_shape"] = list(result.as_numpy("predict_proba").shape)
out["id"] = result.get_response().id
try:
    client.infer("nope", [inp])
except InferenceServerException as exc:
    out["error"] = [exc.status(), exc.message()]
print(json.dumps(out))
'''


def test_tritons_grpc_client(serving_yard: my.Yard, iris: Any) -> None:
    if importlib.util.find_spec("tritonclient") is None:  # not imported here: see the docstring
        pytest.skip("tritonclient[grpc] is not installed")
    rows = iris_rows(iris, 5, start=60)
    values = [list(r.values()) for r in rows]
    with grpc_server(serving_yard) as (_, target):
        proc = subprocess.run([sys.executable, "-c", TRITON_CLIENT, target, json.dumps(values)],
                              capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = serving_yard.models.load("iris@production").predict(pd.DataFrame(rows)).tolist()
    assert out["live"] and out["ready"] and out["model_ready"]
    assert out["inputs"][0] == "sepal length (cm)"
    assert out["predict"] == expected and out["proba_shape"] == [5, 3]
    assert out["id"] == "triton-1"
    assert out["error"][0] == "StatusCode.NOT_FOUND" and "nope" in out["error"][1]


def test_the_readmes_triton_example_runs(serving_yard: my.Yard) -> None:
    if importlib.util.find_spec("tritonclient") is None:
        pytest.skip("tritonclient[grpc] is not installed")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b for b in readme.split("```python")[1:] if "tritonclient.grpc" in b)
    code = block.split("```", 1)[0]
    with grpc_server(serving_yard) as (_, target):
        code = code.replace("localhost:8081", target) + \
            '\nprint(result.as_numpy("predict").tolist(), result.as_numpy("predict_proba").shape)'
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    expected = serving_yard.models.load("iris@production").predict(pd.DataFrame(
        [{"sepal length (cm)": 5.9, "sepal width (cm)": 3.0, "petal length (cm)": 5.1,
          "petal width (cm)": 1.8}])).tolist()
    assert proc.stdout.strip().splitlines()[-1] == f"{expected} (1, 3)"


NODE_CLIENT = r'''
const grpc = require("@grpc/grpc-js"), loader = require("@grpc/proto-loader");
const [proto, target, token] = process.argv.slice(2);
const def = loader.loadSync(proto, {keepCase: true, longs: Number, defaults: true});
const Service = grpc.loadPackageDefinition(def).inference.GRPCInferenceService;
const client = new Service(target, grpc.credentials.createInsecure());
const md = new grpc.Metadata(); md.add("authorization", "Bearer " + token);
const inputs = [["sepal length (cm)", 5.9], ["sepal width (cm)", 3.0],
                ["petal length (cm)", 5.1], ["petal width (cm)", 1.8]].map(([name, v]) => (
  {name, datatype: "FP64", shape: [1], contents: {fp64_contents: [v]}}));
client.ModelInfer({model_name: "iris", id: "node-1", inputs}, md, (err, res) => {
  if (err) { console.log(JSON.stringify({error: err.code, details: err.details})); return; }
  const predict = res.outputs.find(o => o.name === "predict");
  console.log(JSON.stringify({id: res.id, predict: predict.contents.int64_contents,
    ids: JSON.parse(res.parameters.prediction_ids.string_param)}));
});
'''


@pytest.fixture(scope="session")
def node_grpc() -> Path:
    """A folder with @grpc/grpc-js and @grpc/proto-loader installed (once per machine)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    folder = Path(tempfile.gettempdir()) / "modelyard-tests-node-grpc"
    if not (folder / "node_modules" / "@grpc" / "grpc-js").is_dir():
        folder.mkdir(exist_ok=True)
        proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                               str(folder), "@grpc/grpc-js@1", "@grpc/proto-loader@0.7"],
                              capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, "npm_config_update_notifier": "false"})
        if proc.returncode != 0:
            pytest.skip(f"npm install @grpc/grpc-js failed: {proc.stderr[-300:]}")
    return folder


def test_a_node_client(serving_yard: my.Yard, node_grpc: Path) -> None:
    token = serving_yard.backend.auth.create("node", role="reader")
    script = node_grpc / "client.js"
    script.write_text(NODE_CLIENT)
    with grpc_server(serving_yard, auth_enabled=True) as (_, target):
        proc = subprocess.run(["node", str(script), str(PROTO), target, token],
                              capture_output=True, text=True, timeout=120, cwd=node_grpc,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        rec = serving_yard.predictions.get(out["ids"][0])
    expected = serving_yard.models.load("iris@production").predict(pd.DataFrame(
        [{"sepal length (cm)": 5.9, "sepal width (cm)": 3.0, "petal length (cm)": 5.1,
          "petal width (cm)": 1.8}])).tolist()
    assert out["id"] == "node-1" and out["predict"] == expected
    assert rec.outputs["prediction"] == expected[0]


def test_modelyard_serve_grpc_port(serving_yard: my.Yard, iris: Any) -> None:
    from modelyard.serving.testing import free_port, wait_ready

    from .test_crash import _start

    port, grpc_port = free_port(), free_port()
    server = _start(Path(serving_yard.settings.home), port, 1, "--grpc-port", str(grpc_port))
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=120)
        rows = iris_rows(iris, 2, start=20)
        with stub(f"127.0.0.1:{grpc_port}") as s:
            eventually(lambda: s.ServerReady(pb.ServerReadyRequest(), timeout=10).ready,
                       "the gRPC port of a ready worker")
            answers = [s.ModelInfer(_columns_request(rows), timeout=30) for _ in range(6)]
    finally:
        server.terminate()
        server.wait(timeout=60)
    expected = serving_yard.models.load("iris@production").predict(pd.DataFrame(rows)).tolist()
    for answer in answers:
        assert list(answer.outputs[0].contents.int64_contents) == expected
