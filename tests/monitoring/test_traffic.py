"""The endpoints page's figures from the prediction log: counts, rate, latency percentiles,
per-route shares, a shadow's agreement with the answer on the same requests, prediction
distributions in shared bins; realised performance and drift by feature from monitor runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.monitoring.traffic import (
    drift_by_feature,
    endpoint_traffic,
    performance_by_version,
    request_counts,
)
from modelyard.wal.records import new_prediction_id

from .conftest import T0


def _rec(clock: FixedClock, route: str, version: int, pred: Any, latency: float,
         shadow: bool = False, request_id: str | None = None) -> dict[str, Any]:
    pid, t_us = new_prediction_id(clock)
    return {"id": pid, "time": t_us, "endpoint": "loans", "route": route, "model_name": "loans",
            "model_version": version, "latency_ms": latency, "shadow": shadow,
            "request_id": request_id or pid, "inputs": {"x": 1.0},
            "outputs": {"prediction": pred}}


def test_traffic_of_routes_and_a_shadow(clocked_yard: my.Yard, clock: FixedClock) -> None:
    records = []
    for i in range(100):
        route, version = ("main", 1) if i % 4 else ("canary", 2)
        answer = _rec(clock, route, version, i % 2, latency=float(i % 10 + 1))
        shadow = _rec(clock, "next", 3, i % 2 if i < 80 else 1 - i % 2, latency=2.0,
                      shadow=True, request_id=answer["id"])
        records += [answer, shadow]
        clock.advance(1)
    clocked_yard.predictions.log(records)
    start, end = T0 - timedelta(seconds=1), T0 + timedelta(seconds=100)
    t = endpoint_traffic(clocked_yard.predictions, "loans", start, end, buckets=10)
    assert t.requests == 100 and abs(t.rate_per_s - 100 / 101) < 1e-9
    assert sum(t.bucket_counts) == 100 and len(t.bucket_starts) == 10
    assert t.latency.p50_ms is not None and 5 <= t.latency.p50_ms <= 6
    routes = {(r.route, r.model_version): r for r in t.routes}
    assert routes[("main", 1)].requests == 75 and routes[("main", 1)].share == 0.75
    assert routes[("canary", 2)].requests == 25
    shadow = routes[("next", 3)]
    assert shadow.shadow and shadow.share == 0 and shadow.compared == 100
    assert shadow.agreement == 0.8
    assert all(r.predictions.kind == "categorical" and r.predictions.labels == ["0", "1"]
               for r in t.routes)
    assert routes[("canary", 2)].predictions.counts == [25, 0]  # every 4th request: even
    assert routes[("main", 1)].predictions.counts == [25, 50]
    assert len(t.last_prediction_ids) == 10
    assert request_counts(clocked_yard.predictions, ["loans", "other"], start, end) == {
        "loans": 100, "other": 0}
    sampled = endpoint_traffic(clocked_yard.predictions, "loans", start, end, max_compared=60)
    assert sampled.sampled is not None and sampled.sampled < 200
    assert [r.requests for r in sampled.routes] == [r.requests for r in t.routes]  # exact
    (nxt,) = [r for r in sampled.routes if r.shadow]
    answered = sum(sum(r.predictions.counts) for r in sampled.routes if not r.shadow)
    assert nxt.compared == answered == sum(nxt.predictions.counts) > 0  # whole requests kept
    empty = endpoint_traffic(clocked_yard.predictions, "other", start, end)
    assert empty.requests == 0 and empty.routes == [] and empty.latency.p50_ms is None


def test_numerical_predictions_share_bins_and_a_mean_difference(clocked_yard: my.Yard,
                                                                 clock: FixedClock) -> None:
    records = []
    for i in range(50):
        answer = _rec(clock, "main", 1, float(i), latency=1.0)
        records += [answer, _rec(clock, "next", 2, float(i) + 0.5, 1.0, True, answer["id"])]
        clock.advance(1)
    clocked_yard.predictions.log(records)
    t = endpoint_traffic(clocked_yard.predictions, "loans", T0, T0 + timedelta(minutes=5))
    main, nxt = t.routes
    assert main.predictions.kind == "numerical" and main.predictions.edges == nxt.predictions.edges
    assert sum(main.predictions.counts) == 50
    assert nxt.agreement == 0 and nxt.mean_abs_difference == 0.5


def test_performance_and_drift_from_monitor_runs(clocked_yard: my.Yard, clock: FixedClock,
                                                 log_predictions: Any) -> None:
    from .conftest import true_labels

    ref = "dataset:ref"
    rng = np.random.default_rng(3)
    clocked_yard.datasets.add("ref", pd.DataFrame({
        "x": rng.normal(0, 1, 400), "city": rng.choice(["a", "b", "c"], 400, p=[.5, .3, .2])}))
    since = T0 - timedelta(days=1)
    assert performance_by_version(clocked_yard.monitoring, "loans", since) == []
    for shift in (0.0, 2.0):
        ids = log_predictions(300, seed=int(shift), shift=shift)
        clocked_yard.feedback(ids[:100], true_labels(clocked_yard, ids[:100]))
        clock.advance(600)
        clocked_yard.monitoring.run("loans", window="15m", reference=ref)
    (perf,) = performance_by_version(clocked_yard.monitoring, "loans", since)
    assert perf.model_version == "1" and perf.n_labeled == 100
    assert 0 <= perf.metrics["accuracy"] <= 1 and "roc_auc" in perf.metrics
    grid = drift_by_feature(clocked_yard.monitoring, "loans", since)
    assert grid.statistic == "psi" and grid.features == ["city", "x"]
    assert len(grid.times) == 2 and all(len(row) == 2 for row in grid.values)
    x = grid.values[1]
    assert x[1] > x[0]  # the shifted window drifts more
