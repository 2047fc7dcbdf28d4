"""Retention: an endpoint's partitions older than its ``retention_days`` are dropped by
compaction (with the feedback labels of their predictions), reported and audited."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import InvalidParameter, NotFound
from modelyard.wal.records import new_prediction_id

from .conftest import ServerFactory, rows


def _log(yard: my.Yard, endpoint: str, days_ago: float, n: int = 2) -> list[str]:
    clock = FixedClock(yard.clock.now() - timedelta(days=days_ago))
    recs = []
    for _ in range(n):
        pid, t_us = new_prediction_id(clock)
        recs.append({"id": pid, "time": t_us, "endpoint": endpoint, "route": "main",
                     "model_name": "loans", "model_version": 1, "inputs": {"age": 40.0},
                     "outputs": {"prediction": 1}, "request_key": "k"})
    return yard.predictions.log(recs)


def test_compaction_drops_partitions_older_than_the_policy(loans_yard: my.Yard) -> None:
    old, fresh = _log(loans_yard, "loans", 40), _log(loans_yard, "loans", 0)
    other_old = _log(loans_yard, "other", 40)
    loans_yard.feedback(old[0], 1)
    loans_yard.feedback(fresh[0], 1)
    result = loans_yard.predictions.compact(retention_days={"loans": 30})
    [drop] = result.retention.endpoints
    assert (drop.endpoint, drop.records, drop.labels, len(drop.dates)) == ("loans", 2, 1, 1)
    for pid in old:
        with pytest.raises(NotFound):
            loans_yard.predictions.get(pid)
    assert loans_yard.predictions.get(fresh[1]).endpoint == "loans"
    assert loans_yard.predictions.get(other_old[0]).endpoint == "other"  # no policy: kept
    assert loans_yard.monitoring.get_feedback(fresh[0]).label == 1
    with pytest.raises(NotFound):
        loans_yard.monitoring.get_feedback(old[0])
    [record] = loans_yard.backend.audit.records(action="predictions.retention")
    assert record.target == "predictions:loans" and record.state()["records"] == 2
    again = loans_yard.predictions.compact(retention_days={"loans": 30})
    assert again.retention is not None and not again.retention.endpoints


def test_the_model_server_applies_its_endpoints_policy(loans_server: ServerFactory,
                                                       loans_yard: my.Yard) -> None:
    old = _log(loans_yard, "loans", 10)
    with loans_server({"retention_days": 7}, compact_interval=0.2) as url:
        assert httpx.post(f"{url}/predict/loans", json={"records": rows(1)}).status_code == 200
        deadline = time.monotonic() + 60
        while not loans_yard.backend.audit.records(action="predictions.retention"):
            assert time.monotonic() < deadline, "retention did not run in the first pass"
            time.sleep(0.05)
    with pytest.raises(NotFound):
        loans_yard.predictions.get(old[0])
    assert loans_yard.predictions.query("loans", loans_yard.clock.now() - timedelta(hours=1),
                                        loans_yard.clock.now()).height == 1


@pytest.mark.parametrize("bad", [0, -3, "30", True])
def test_a_bad_policy_is_refused_naming_it(loans_yard: my.Yard, bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="retention_days"):
        loans_yard.predictions.compact(retention_days={"loans": bad})
