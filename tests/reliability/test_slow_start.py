"""``--workers N`` on a busy host: a worker whose imports take longer than uvicorn's default
5 s health ping used to be killed and respawned forever, and the server never answered. Here
every spawned worker is made to take 8 s to start (a ``sitecustomize`` that sleeps in
multiprocessing children only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelyard as my

from .conftest import iris_rows
from .harness import Process, free_port, rest_server

SLOW_CHILD = '''
import sys, time
if "spawn_main" in " ".join(getattr(sys, "orig_argv", [])):
    time.sleep(8)  # a worker process importing on a busy host
'''


@pytest.fixture
def slow_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SLOW_CHILD)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_slow_starting_workers_of_each_server_come_up(
        serving_yard: my.Yard, iris: Any, tmp_path: Path, slow_children: None) -> None:
    home = Path(serving_yard.settings.home)
    port, rest_port = free_port(), free_port()
    serve = Process(["serve", "--model", "iris@production", "--port", str(port), "--workers",
                     "2", "--home", str(home), "--log-level", "info"], tmp_path / "serve.log")
    rest = rest_server(["--home", str(home)], rest_port, tmp_path / "rest.log", "--workers", "2")
    try:
        serve.wait_answering(f"http://127.0.0.1:{port}", "/readyz", 300)
        rest.wait_answering(f"http://127.0.0.1:{rest_port}", "/healthz", 300)
        r = httpx.post(f"http://127.0.0.1:{port}/predict/iris",
                       json={"records": iris_rows(iris, 1)}, timeout=60)
        assert r.status_code == 200
    finally:
        log = serve.stop()
        rest_log = rest.stop()
    assert "died" not in rest_log, rest_log[-2000:]
    assert "died" not in log, log[-2000:]  # no worker was killed while starting
