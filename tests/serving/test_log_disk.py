"""The model server when the prediction log's disk is full: 503 only while the disk refuses,
/readyz says so, /healthz stays 200, and it recovers by itself when space returns. Every
prediction answered 200 is in the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

import modelyard as my

from .conftest import ServerFactory, eventually, iris_rows


def test_a_full_log_disk_answers_503_until_space_returns(
        serving_yard: my.Yard, model_server: ServerFactory, iris: Any, small_disk: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (256 << 10))
    answered: list[str] = []
    with model_server("iris@production", log_dir=small_disk / "log") as url, \
            httpx.Client(base_url=url, timeout=30) as c:
        rows = iris_rows(iris, 20)
        codes: list[int] = []
        for _ in range(400):
            r = c.post("/predict/iris", json={"records": rows})
            codes.append(r.status_code)
            if r.status_code == 200:
                answered += r.json()["ids"]
            else:
                assert r.status_code == 503 and r.json()["error"] == "unavailable"
                assert "No space left" in r.json()["message"]
                break
        assert codes[-1] == 503 and len(answered) > 0
        ready = c.get("/readyz")
        assert ready.status_code == 503
        log = ready.json()["prediction_log"]
        assert log["writable"] is False and "No space left" in log["error"]
        assert c.get("/healthz").status_code == 200  # alive: restarting would not help
        assert "modelyard_wal_writable 0.0" in c.get("/metrics").text
        filler.unlink()
        eventually(lambda: c.get("/readyz").status_code == 200, "the server to recover")
        r = c.post("/predict/iris", json={"records": rows})
        assert r.status_code == 200
        answered += r.json()["ids"]
    df = serving_yard.predictions.query("iris", "2000-01-01", "2100-01-01")
    assert set(answered) <= set(df["id"].to_list())
