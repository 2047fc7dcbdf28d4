from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import modelyard as my
from modelyard.serving.canary import RouteStats, decide
from modelyard.serving.endpoints import CanaryConfig

from .conftest import ServerFactory, eventually, iris_rows

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _stats(requests: int, errors: int, latency: float) -> RouteStats:
    s = RouteStats()
    for i in range(requests):
        s.record(latency, i < errors)
    return s


def test_decide_holds_then_steps_then_promotes() -> None:
    spec = CanaryConfig(model="m/2", steps=[10, 50], interval_s=60, min_requests=10)
    good, base = _stats(50, 0, 2.0), _stats(500, 0, 2.0)
    assert decide(spec, 0, T0, T0 + timedelta(seconds=30), good, base).action == "hold"
    d = decide(spec, 0, T0, T0 + timedelta(seconds=61), good, base)
    assert (d.action, d.to_step, d.weight) == ("step", 1, 50)
    assert decide(spec, 1, T0, T0 + timedelta(seconds=61), good, base).action == "promote"


def test_decide_rolls_back_on_errors_or_latency() -> None:
    spec = CanaryConfig(model="m/2", steps=[10, 50], interval_s=60, min_requests=10)
    base = _stats(500, 5, 2.0)
    d = decide(spec, 0, T0, T0, _stats(20, 4, 2.0), base)
    assert d.action == "rollback" and "error rate" in (d.reason or "")
    d = decide(spec, 0, T0, T0, _stats(20, 0, 50.0), base)
    assert d.action == "rollback" and "latency" in (d.reason or "")
    # too few requests to judge: hold
    assert decide(spec, 0, T0, T0, _stats(5, 5, 2.0), base).action == "hold"


def _load(url: str, body_of: Any, stop: threading.Event, out: list[tuple[int, str]]) -> None:
    with httpx.Client() as client:
        i = 0
        while not stop.is_set() and i < 3000:
            r = client.post(f"{url}/predict/{body_of(i)[0]}", json=body_of(i)[1])
            out.append((r.status_code, r.json().get("model", "")))
            i += 1


def _ended(url: str, endpoint: str) -> str | None:
    """The status of the endpoint's newest canary once it is no longer running."""
    status = httpx.get(f"{url}/endpoints/{endpoint}/canaries").json()[0]["status"]
    return None if status == "running" else str(status)


def _settled(url: str, endpoint: str, seen: list[tuple[int, str]]) -> int:
    """Wait until the server applies the ended canary and 10 more requests are answered;
    the index of the first request sent after it was applied (one may have been in flight)."""
    eventually(lambda: httpx.get(f"{url}/endpoints/{endpoint}").json()["canary"]["status"]
               != "running", "the server to apply the canary's end")
    n = len(seen) + 1
    eventually(lambda: len(seen) >= n + 10, "requests after the canary ended")
    return n


def test_canary_steps_up_and_is_promoted(model_server: ServerFactory, iris: Any) -> None:
    row = iris_rows(iris, 1)
    stop = threading.Event()
    seen: list[tuple[int, str]] = []
    with model_server("iris@production", poll_interval=0.1) as url:
        r = httpx.post(f"{url}/endpoints/iris/canary",
                       json={"model": "iris/2", "steps": [20, 60], "interval_s": 0.6,
                             "min_requests": 5, "latency_slack_ms": 10_000})
        assert r.status_code == 200, r.text
        t = threading.Thread(target=_load, args=(url, lambda i: ("iris", {"records": row}), stop, seen))
        t.start()
        status = eventually(lambda: _ended(url, "iris"), "the canary to end", timeout=60)
        after = [m for _, m in seen[-1:]]
        n = _settled(url, "iris", seen)
        stop.set()
        t.join()
        history = httpx.get(f"{url}/endpoints/iris/canaries").json()[0]
    assert status == "promoted"
    assert [(s["action"], s["weight"]) for s in history["steps"]] == [
        ("start", 20), ("step", 60), ("promote", 100)]
    assert history["steps"][1]["stats"]["canary"]["requests"] > 0
    assert all(code == 200 for code, _ in seen)
    assert {m for _, m in seen[n:]} == {"iris/2"} and after


def test_canary_is_rolled_back_on_errors(model_server: ServerFactory, serving_yard: my.Yard) -> None:
    X = pd.DataFrame({"color": ["red", "blue", "green", "red"] * 5, "size": np.arange(20.0)})
    y = np.array([0, 1, 0, 1] * 5)
    tolerant = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression()).fit(X, y)
    seen_two = X[X.color != "green"]
    strict = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression()).fit(
        seen_two, y[X.color != "green"])
    serving_yard.models.register(tolerant, "colors", example=X[:5])
    serving_yard.models.register(strict, "colors", example=seen_two[:5])
    colors = ["red", "blue", "green"]
    stop = threading.Event()
    seen: list[tuple[int, str]] = []
    with model_server("colors/1", poll_interval=0.1) as url:
        r = httpx.post(f"{url}/endpoints/colors/canary",
                       json={"model": "colors/2", "steps": [50], "interval_s": 300,
                             "min_requests": 6})
        assert r.status_code == 200, r.text
        body = lambda i: ("colors", {"records": [{"color": colors[i % 3], "size": float(i)}]})
        t = threading.Thread(target=_load, args=(url, body, stop, seen))
        t.start()
        eventually(lambda: _ended(url, "colors"), "the canary to end", timeout=60)
        history = httpx.get(f"{url}/endpoints/colors/canaries").json()[0]
        n = _settled(url, "colors", seen)
        stop.set()
        t.join()
    assert history["status"] == "rolled_back"
    assert [s["action"] for s in history["steps"]] == ["start", "rollback"]
    assert "error rate" in history["steps"][-1]["reason"]
    assert any(code == 500 for code, _ in seen[:n])
    assert {m for _, m in seen[n:]} == {"colors/1"}
    assert all(code == 200 for code, _ in seen[n:])


def test_a_canary_declared_in_the_configuration_starts_with_the_server(
        model_server: ServerFactory, iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}],
          "canary": {"model": "iris/2", "steps": [50], "interval_s": 300, "min_requests": 1000}}
    row = iris_rows(iris, 1)
    with model_server(ep, poll_interval=0.1) as url:
        def canary_serving() -> dict[str, Any] | None:
            described = httpx.get(f"{url}/endpoints/iris").json()
            return described if any(r["kind"] == "canary" and r["serving"]
                                    for r in described["routes"]) else None

        described = eventually(canary_serving, "the canary route to serve")
        models = {httpx.post(f"{url}/predict/iris", json={"records": row}).json()["model"]
                  for _ in range(60)}
    assert described["canary"]["status"] == "running"
    assert described["canary"]["id"].startswith("cfg-")
    shares = {r["name"]: r["traffic_percent"] for r in described["routes"]}
    assert shares == {"main": 50.0, "canary": 50.0}
    assert models == {"iris/1", "iris/2"}
