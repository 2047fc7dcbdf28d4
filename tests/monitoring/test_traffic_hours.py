"""An endpoint's traffic over long windows from cached per-hour summaries of the log's files
(``monitoring.traffic_hours``): the same counts, shares, agreement, distributions and newest
ids as reading every row (``monitoring.traffic``), latency percentiles within 1%, the partial
hours at both ends and the records not compacted yet read afresh, and each file read once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.monitoring.traffic import EndpointTraffic, endpoint_traffic
from modelyard.monitoring.traffic_hours import HourCache, hourly_traffic
from modelyard.wal.records import new_prediction_id

from .conftest import T0


def _log(yard: my.Yard, clock: FixedClock, n: int, *, step_s: float, pred: Any = None,
         compact: bool = True, seed: int = 0) -> None:
    """``n`` requests ``step_s`` apart: 3 in 4 answered by main/1, the rest by canary/2, and
    a shadow next/3 on every request (agreeing 4 times in 5)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        route, version = ("main", 1) if i % 4 else ("canary", 2)
        value = pred(i) if pred is not None else i % 2
        pid, t_us = new_prediction_id(clock)
        out.append({"id": pid, "time": t_us, "endpoint": "loans", "route": route,
                    "model_name": "loans", "model_version": version, "shadow": False,
                    "latency_ms": float(rng.gamma(2.0, 3.0)), "request_id": pid,
                    "inputs": {"x": 1.0}, "outputs": {"prediction": value}})
        sid, s_us = new_prediction_id(clock)
        other = value if i % 5 else (1 - value if pred is None else value + 1.0)
        out.append({"id": sid, "time": s_us, "endpoint": "loans", "route": "next",
                    "model_name": "loans", "model_version": 3, "shadow": True,
                    "latency_ms": float(rng.gamma(2.0, 2.0)), "request_id": pid,
                    "inputs": {"x": 1.0}, "outputs": {"prediction": other}})
        clock.advance(step_s)
    yard.predictions.log(out, compact_now=compact)


def _same_figures(hourly: EndpointTraffic, exact: EndpointTraffic) -> None:
    assert hourly.approximate and not exact.approximate
    assert hourly.requests == exact.requests == sum(hourly.bucket_counts)
    assert hourly.rate_per_s == exact.rate_per_s
    pairs = [(hourly.latency, exact.latency)]
    assert [(r.route, r.model_version, r.requests, r.share) for r in hourly.routes] == \
        [(r.route, r.model_version, r.requests, r.share) for r in exact.routes]
    for h, e in zip(hourly.routes, exact.routes):
        assert (h.agreement, h.compared, h.predictions) == (e.agreement, e.compared,
                                                            e.predictions)
        if e.mean_abs_difference is not None:
            assert abs(h.mean_abs_difference - e.mean_abs_difference) < 1e-9  # type: ignore[operator]
        pairs.append((h.latency, e.latency))
    for h, e in pairs:  # each percentile within 1% of the exact nearest-rank value
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            assert abs(getattr(h, name) / getattr(e, name) - 1) <= 0.0101, (name, h, e)
    # the newest ids (the exact figures take them from their last bucket only: maybe fewer)
    newest = hourly.last_prediction_ids
    assert newest[:len(exact.last_prediction_ids)] == exact.last_prediction_ids
    assert len(newest) == min(10, hourly.requests)


def test_hourly_figures_are_those_of_every_row(clocked_yard: my.Yard, clock: FixedClock) -> None:
    yard = clocked_yard
    _log(yard, clock, 300, step_s=20.0, seed=1)  # 100 minutes: one file
    _log(yard, clock, 300, step_s=30.0, seed=2)  # 150 minutes more: another file
    _log(yard, clock, 40, step_s=15.0, compact=False, seed=3)  # still in the write-ahead log
    end = clock.now()
    start = T0 + timedelta(minutes=17)  # cut inside an hour at both ends
    cache = HourCache()
    hourly = hourly_traffic(yard.predictions, "loans", start, end, cache)
    exact = endpoint_traffic(yard.predictions, "loans", start, end, max_compared=10**9)
    _same_figures(hourly, exact)
    assert hourly.bucket_starts[0] == start and hourly.bucket_starts[1] == T0 + timedelta(hours=1)
    assert len(hourly.bucket_starts) == 5  # 12:17, 13h, 14h, 15h, 16h to 16:20
    assert hourly.sampled is None and len(cache) == 2
    # a whole-hour window from the summaries alone: still the figures of every row
    aligned = hourly_traffic(yard.predictions, "loans", T0, T0 + timedelta(hours=4), cache)
    _same_figures(aligned, endpoint_traffic(yard.predictions, "loans", T0,
                                            T0 + timedelta(hours=4), max_compared=10**9))
    assert len(aligned.bucket_starts) == 4


def test_each_file_is_summarised_once(clocked_yard: my.Yard, clock: FixedClock) -> None:
    yard = clocked_yard
    _log(yard, clock, 200, step_s=60.0)
    cache = HourCache()
    start = T0
    first = hourly_traffic(yard.predictions, "loans", start, clock.now(), cache)
    assert (cache.misses, cache.hits) == (1, 0)
    again = hourly_traffic(yard.predictions, "loans", start, clock.now(), cache)
    assert again == first and (cache.misses, cache.hits) == (1, 1)
    _log(yard, clock, 100, step_s=60.0, seed=5)  # a new file: only it is read
    later = hourly_traffic(yard.predictions, "loans", start, clock.now(), cache)
    assert (cache.misses, cache.hits) == (2, 2)
    assert later.requests == 300
    _same_figures(later, endpoint_traffic(yard.predictions, "loans", start, clock.now(),
                                          max_compared=10**9))
    tiny = HourCache(max_bytes=1)  # bounded: the older summary goes
    for _ in range(2):
        hourly_traffic(yard.predictions, "loans", start, clock.now(), tiny)
    assert len(tiny) == 1


def test_a_window_within_one_hour_reads_its_rows(clocked_yard: my.Yard,
                                                 clock: FixedClock) -> None:
    _log(clocked_yard, clock, 100, step_s=10.0)
    start, end = T0 + timedelta(minutes=3), T0 + timedelta(minutes=11)
    hourly = hourly_traffic(clocked_yard.predictions, "loans", start, end, HourCache())
    assert hourly.bucket_starts == [start] and hourly.bucket_counts == [hourly.requests]
    _same_figures(hourly, endpoint_traffic(clocked_yard.predictions, "loans", start, end,
                                           max_compared=10**9))
    empty = hourly_traffic(clocked_yard.predictions, "other", start, end, HourCache())
    assert empty.requests == 0 and empty.routes == [] and empty.latency.p50_ms is None


def test_many_distinct_numbers_are_binned_from_a_sample(clocked_yard: my.Yard,
                                                        clock: FixedClock) -> None:
    _log(clocked_yard, clock, 3000, step_s=3.0, pred=lambda i: float(i % 977) / 7)
    end = clock.now()
    hourly = hourly_traffic(clocked_yard.predictions, "loans", T0, end, HourCache())
    exact = endpoint_traffic(clocked_yard.predictions, "loans", T0, end, max_compared=10**9)
    assert hourly.sampled is not None and hourly.sampled < 6000
    for h, e in zip(hourly.routes, exact.routes):
        assert h.requests == e.requests and h.compared == e.compared
        assert h.predictions.kind == "numerical" and h.predictions.edges == e.predictions.edges
        assert abs(sum(h.predictions.counts) - h.requests) <= 0.02 * h.requests
    shadow = next(r for r in hourly.routes if r.shadow)
    assert shadow.agreement == next(r for r in exact.routes if r.shadow).agreement
    assert abs(shadow.mean_abs_difference - 0.2) < 1e-9  # type: ignore[operator]
