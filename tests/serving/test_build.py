from __future__ import annotations

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


def test_bundle_files_are_complete(serving_yard: my.Yard, tmp_path: Path) -> None:
    import sklearn

    out = tmp_path / "bundle"
    bundle = build_bundle(serving_yard, "iris@production", out)
    assert bundle.model == "iris/1" and bundle.endpoint == "iris"
    assert {"Dockerfile", "requirements.txt", "README.md", "k8s/deployment.yaml",
            "k8s/kserve.yaml", "model/version.json"} <= set(bundle.files)
    reqs = (out / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={sklearn.__version__}" in reqs
    assert all("==" in line for line in reqs if not line.startswith("#"))
    docker = (out / "Dockerfile").read_text()
    assert '"modelyard", "serve", "--bundle", "/app/model"' in docker
    assert "pip install --no-cache-dir -r /app/requirements.txt" in docker
    deployment, service = yaml.safe_load_all((out / "k8s/deployment.yaml").read_text())
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/readyz"
    isvc = yaml.safe_load((out / "k8s/kserve.yaml").read_text())
    assert isvc["kind"] == "InferenceService"
    assert isvc["spec"]["predictor"]["containers"][0]["image"] == "modelyard-iris:1"
    with pytest.raises(my.InvalidParameter, match="empty or new"):
        build_bundle(serving_yard, "iris/1", out)


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
    """The bundle's pinned requirements install into an empty venv (no system packages) from
    the local package index, modelyard from this working tree, and the server starts."""
    bundle = build_bundle(serving_yard, "iris@production", tmp_path / "b")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = str(env_dir / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(bundle.path / "requirements.txt")], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True, timeout=600)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "VIRTUAL_ENV"))}
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
