from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli
from modelyard.errors import IntegrityError
from modelyard.serving.app import create_app
from modelyard.serving.build import build_bundle, load_bundle
from modelyard.serving.endpoints import endpoint_from_ref
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import free_port, serve_in_thread, wait_ready

from .conftest import iris_rows

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    """requirements.txt as canonical name -> the line."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            out[canonicalize_name(Requirement(line.split("#")[0]).name)] = line
    return out


def test_bundle_files_are_complete(serving_yard: my.Yard, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    bundle = build_bundle(serving_yard, "iris@production", out)
    assert bundle.model == "iris/1" and bundle.endpoint == "iris"
    assert {"Dockerfile", "requirements.txt", "README.md", "k8s/statefulset.yaml",
            "k8s/kserve.yaml", "model/version.json", "wheels/README"} <= set(bundle.files)
    docker = (out / "Dockerfile").read_text()
    assert '"modelyard", "serve", "--bundle", "/app/model"' in docker
    assert "pip install --no-cache-dir -r /app/requirements.txt" in docker
    statefulset, service = yaml.safe_load_all((out / "k8s/statefulset.yaml").read_text())
    assert statefulset["kind"] == "StatefulSet" and service["kind"] == "Service"
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["image"] == "modelyard-iris:1"
    claim, isvc = yaml.safe_load_all((out / "k8s/kserve.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and isvc["kind"] == "InferenceService"
    assert isvc["spec"]["predictor"]["containers"][0]["image"] == "modelyard-iris:1"
    with pytest.raises(my.InvalidParameter, match="empty or new"):
        build_bundle(serving_yard, "iris/1", out)


def test_requirements_pin_what_the_server_and_the_flavor_need(serving_yard: my.Yard,
                                                              tmp_path: Path) -> None:
    """Not every modelyard dependency (it pinned duckdb, psycopg, plotly … for a sklearn
    model): the server's, the flavor's, and what they pull in, each pinned."""
    import sklearn

    bundle = build_bundle(serving_yard, "iris@production", tmp_path / "b")
    pins = _pins(bundle.path / "requirements.txt")
    assert pins["scikit-learn"] == f"scikit-learn=={sklearn.__version__}"
    assert {"skops", "scipy", "joblib", "uvicorn", "pyarrow", "sqlalchemy"} <= set(pins)
    assert pins["uvicorn"].startswith("uvicorn[standard]==")
    assert not {"duckdb", "psycopg", "psycopg-binary", "plotly", "onnxruntime", "skl2onnx",
                "fastapi", "jinja2", "httpx", "croniter", "xgboost", "torch"} & set(pins)
    assert all("==" in line for line in pins.values())


def test_the_manifests_keep_the_log_on_a_claim_and_ship_it(serving_yard: my.Yard,
                                                            tmp_path: Path) -> None:
    bundle = build_bundle(serving_yard, "iris@production", tmp_path / "b",
                          log_url="s3://yard-bucket/yard", log_volume="20Gi")
    statefulset, _ = yaml.safe_load_all((bundle.path / "k8s/statefulset.yaml").read_text())
    pod = statefulset["spec"]["template"]["spec"]
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "predlog"
    assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert template["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "predlog" not in {v["name"] for v in pod.get("volumes", [])}  # no emptyDir for it
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODELYARD_PREDICTION_LOG_DIR"] == f"{mounts['predlog']}/predlog"
    assert env["MODELYARD_PREDICTION_LOG_URL"] == "s3://yard-bucket/yard"
    assert not env["MODELYARD_HOME"].startswith(mounts["predlog"])
    claim, isvc = yaml.safe_load_all((bundle.path / "k8s/kserve.yaml").read_text())
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    volumes = {v["name"]: v for v in isvc["spec"]["predictor"]["volumes"]}
    assert volumes["predlog"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (kcontainer,) = isvc["spec"]["predictor"]["containers"]
    assert {e["name"]: e["value"] for e in kcontainer["env"]}[
        "MODELYARD_PREDICTION_LOG_URL"] == "s3://yard-bucket/yard"
    assert "s3fs" in _pins(bundle.path / "requirements.txt")  # the store's filesystem
    assert "s3://yard-bucket/yard" in (bundle.path / "README.md").read_text()
    with pytest.raises(my.InvalidParameter, match="fsspec URL"):
        build_bundle(serving_yard, "iris/1", tmp_path / "c", log_url="s3://x\nkind: Pod")


def test_the_log_url_defaults_to_where_the_yard_reads_its_log(tmp_path: Path, iris: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    settings = my.Settings.load({}, home=tmp_path / "home",
                                prediction_log_url="s3://team-bucket/log")
    with my.connect(settings=settings) as yard:
        yard.models.register(LogisticRegression(max_iter=300).fit(X, y), "iris", example=X[:5])
        assert build_bundle(yard, "iris/1", tmp_path / "b").log_url == "s3://team-bucket/log"


def test_a_wheel_goes_into_the_image(serving_yard: my.Yard, tmp_path: Path) -> None:
    """The README's --build-arg MODELYARD_SPEC=… could not work: the wheel was never in the
    build context. Now it is copied there, and the Dockerfile copies it into the image."""
    wheel = tmp_path / "modelyard-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x03\x04 a wheel")
    bundle = build_bundle(serving_yard, "iris/1", tmp_path / "b", wheel=wheel)
    assert (bundle.path / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    lines = (bundle.path / "Dockerfile").read_text().splitlines()
    copy = lines.index("COPY wheels /app/wheels")
    arg = next(i for i, line in enumerate(lines) if line.startswith("ARG MODELYARD_SPEC="))
    install = next(i for i, line in enumerate(lines) if '"$MODELYARD_SPEC"' in line)
    assert copy < install and arg < install
    assert lines[arg] == f"ARG MODELYARD_SPEC=/app/wheels/{wheel.name}"
    assert "--no-deps" in lines[install]
    with pytest.raises(my.InvalidParameter, match="modelyard-\\*.whl"):
        build_bundle(serving_yard, "iris/1", tmp_path / "c", wheel=tmp_path / "evil.sh")


_ONLY_PINNED = """
import importlib.abc, importlib.metadata as md, json, sys, threading, time, urllib.request
from pathlib import Path
from packaging.utils import canonicalize_name

bundle, home, port, allowed = sys.argv[1], sys.argv[2], int(sys.argv[3]), set(json.loads(sys.argv[4]))
owners = md.packages_distributions()


class OnlyPinned(importlib.abc.MetaPathFinder):
    # a fresh image: only the distributions of requirements.txt and modelyard exist
    def find_spec(self, name, path=None, target=None):
        dists = owners.get(name.split(".")[0])
        if dists and not any(canonicalize_name(d) in allowed for d in dists):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, OnlyPinned())
import uvicorn
from modelyard.cli.serve import _configured, _server_spec, build_app
from modelyard.config import Settings

spec = _server_spec(_configured([], None, Path(bundle), None), Settings.load({}, home=home),
                    durability="durable", scope="default")
app = build_app(spec)
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
thread = threading.Thread(target=server.run, daemon=True)
thread.start()
url = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 120
while True:
    try:
        if urllib.request.urlopen(f"{url}/readyz").status == 200:
            break
    except Exception:
        if time.monotonic() > deadline or not thread.is_alive():
            raise
        time.sleep(0.1)
row = json.loads(sys.argv[5])
req = urllib.request.Request(f"{url}/predict/iris", data=json.dumps({"records": [row]}).encode(),
                             headers={"content-type": "application/json"})
answer = json.loads(urllib.request.urlopen(req).read())
urllib.request.urlopen(f"{url}/metrics").read()
urllib.request.urlopen(f"{url}/v2/models/iris").read()
server.should_exit = True  # stopping compacts the log
thread.join(60)
print(json.dumps(answer))
"""


def test_the_bundle_server_runs_with_only_its_pinned_requirements(
        serving_yard: my.Yard, tmp_path: Path, iris: Any) -> None:
    """Every distribution the server imports (start, predict, metrics, compaction on stop) is
    in requirements.txt: any other is hidden, as in an image built from the bundle."""
    bundle = build_bundle(serving_yard, "iris@production", tmp_path / "b")
    allowed = [*_pins(bundle.path / "requirements.txt"), "modelyard"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    done = subprocess.run(
        [sys.executable, "-c", _ONLY_PINNED, str(bundle.path / "model"), str(tmp_path / "home"),
         str(free_port()), json.dumps(allowed), json.dumps(iris_rows(iris, 1)[0])],
        capture_output=True, text=True, timeout=240, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1])["model"] == "iris/1"
    compacted = list((tmp_path / "home" / "artifacts").rglob("*.parquet"))
    assert compacted, "the stopping server compacted its log"


def test_a_tampered_bundle_is_refused(serving_yard: my.Yard, tmp_path: Path) -> None:
    bundle = build_bundle(serving_yard, "iris/2", tmp_path / "b")
    model_files = [p for p in (bundle.path / "model").iterdir() if p.name != "version.json"]
    model_files[0].write_bytes(model_files[0].read_bytes() + b"x")
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        load_bundle(bundle.path / "model")


def test_server_runs_from_a_bundle(serving_yard: my.Yard, tmp_path: Path, iris: Any) -> None:
    bundle = build_bundle(serving_yard, "iris@production", tmp_path / "b")
    other = my.connect(settings=my.Settings.load({}, home=tmp_path / "elsewhere"))
    ep = endpoint_from_ref(f"iris=bundle:{bundle.path / 'model'}")
    with serve_in_thread(create_app(other, [ep], ServerOptions())) as url:
        r = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 2)})
    other.close()
    assert r.status_code == 200 and r.json()["model"] == "iris/1"


def test_build_command(serving_yard: my.Yard, tmp_path: Path) -> None:
    home = str(serving_yard.settings.home)
    out = tmp_path / "cli-bundle"
    result = CliRunner().invoke(cli, ["build", "iris@production", "-o", str(out), "--home", home])
    assert result.exit_code == 0, result.output
    assert "iris/1" in result.output and (out / "Dockerfile").is_file()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bundle_starts_in_a_fresh_venv(serving_yard: my.Yard, tmp_path: Path, iris: Any) -> None:
    """The Dockerfile's two installs, run in an empty venv (no system packages) from the local
    package index with /app being the bundle: the pinned requirements, then modelyard from
    the wheel copied into the bundle (--no-deps); the server starts and answers."""
    import re

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("modelyard-*.whl")
    bundle = build_bundle(serving_yard, "iris@production", tmp_path / "b", wheel=wheel)
    docker = (bundle.path / "Dockerfile").read_text()
    match = re.search(r"^ARG MODELYARD_SPEC=(\S+)$", docker, re.MULTILINE)
    assert match is not None
    spec = match.group(1).replace("/app/", f"{bundle.path}/")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = str(env_dir / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(bundle.path / "requirements.txt")], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", spec], check=True, timeout=600)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "VIRTUAL_ENV",
                                                                    "PYTHONPATH"))}
    env["MODELYARD_HOME"] = str(tmp_path / "data")
    proc = subprocess.Popen([str(env_dir / "bin" / "modelyard"), "serve", "--bundle",
                             str(bundle.path / "model"), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=180)
        r = httpx.post(f"http://127.0.0.1:{port}/predict/iris",
                       json={"records": iris_rows(iris, 1)})
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert r.status_code == 200 and r.json()["model"] == "iris/1"
    assert sys.prefix != str(env_dir)
