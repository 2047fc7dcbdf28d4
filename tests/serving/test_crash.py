"""kill -9 of a model server under load, restart: every prediction whose answer reached the
client is in the log (counted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.predictions import reader
from modelyard.serving.testing import free_port, wait_ready

from .conftest import eventually, iris_rows

MODELYARD = str(Path(sys.executable).parent / "modelyard")


def _start(home: Path, port: int, workers: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return subprocess.Popen(
        [MODELYARD, "serve", "--model", "iris@production", "--port", str(port), "--workers",
         str(workers), "--home", str(home), "--log-level", "warning", *extra],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_under_load_loses_no_answered_prediction(serving_yard: my.Yard, iris: Any) -> None:
    home = Path(serving_yard.settings.home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(home, port, workers=2)
    try:
        wait_ready(url, timeout=120)
        acked: list[str] = []
        stop = threading.Event()
        row = iris_rows(iris, 1)

        def client() -> None:
            with httpx.Client(timeout=10) as c:
                for _ in range(5000):
                    if stop.is_set():
                        return
                    try:
                        r = c.post(f"{url}/predict/iris", json={"records": row})
                    except httpx.HTTPError:
                        return  # the server is gone
                    if r.status_code == 200:
                        acked.extend(r.json()["ids"])

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text  # both workers' counts
        os.killpg(server.pid, signal.SIGKILL)  # the supervisor and both workers, mid-load
        server.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    answered = set(acked)
    assert len(answered) >= 300
    assert 'modelyard_predict_requests_total{endpoint="iris"' in metrics
    # restart: the new server's compactor takes over the dead workers' segments
    server = _start(home, port, workers=1)
    try:
        wait_ready(url, timeout=120)
        art = serving_yard.backend.artifacts
        start, end = "2000-01-01", "2100-01-01"
        compacted: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lf = reader.scan(art, "iris", start, end, include_wal=False)
            compacted = set(lf.select("id").collect()["id"].to_list())
            if answered <= compacted:
                break
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    missing = answered - compacted
    assert not missing, f"{len(missing)} of {len(answered)} answered predictions were lost"
    df = serving_yard.predictions.query("iris", start, end)
    assert df["id"].n_unique() == df.height  # replay wrote nothing twice
    assert serving_yard.backend.predictions.quarantined() == []  # no frame was torn


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_endpoint_put_to_one_worker_is_served_by_all(serving_yard: my.Yard, iris: Any) -> None:
    home = Path(serving_yard.settings.home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(home, port, 2, "--poll-interval", "0.2")
    try:
        wait_ready(url, timeout=120)
        r = httpx.put(f"{url}/endpoints/tree", json={"routes": [{"model": "iris/2"}]}, timeout=60)
        assert r.status_code == 200, r.text
        # every worker loads it within a few polls: wait until 10 requests in a row succeed
        # (a new connection each, so they spread over the workers), then count 40 more
        streak: list[int] = []

        def ten_in_a_row() -> bool:
            code = httpx.post(f"{url}/predict/tree", json={"records": iris_rows(iris, 1)},
                              timeout=30).status_code
            streak[:] = [*streak, code] if code == 200 else []
            return len(streak) >= 10

        eventually(ten_in_a_row, "every worker to serve the new endpoint", timeout=60)
        codes = [httpx.post(f"{url}/predict/tree", json={"records": iris_rows(iris, 1)},
                            timeout=30).status_code for _ in range(40)]  # new connection each
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert codes == [200] * 40
