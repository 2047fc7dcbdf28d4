"""The monitoring store over REST: POST /api/v1/feedback (single and batch) and the SDK on a
remote yard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter
from modelyard.ids import new_id
from modelyard.monitoring.entities import MonitorResult

from .conftest import records


def test_feedback_over_http_single_and_batch(server: Any) -> None:
    pid, others = new_id(), [new_id() for _ in range(3)]
    with httpx.Client(base_url=server.url) as client:
        one = client.post("/api/v1/feedback", json={"prediction_id": pid, "label": "approved"})
        assert one.status_code == 200, one.text
        assert one.json() == {"created": 1, "updated": 0, "unchanged": 0, "unmatched": 1}
        batch = client.post("/api/v1/feedback", json={"items": [
            {"prediction_id": p, "label": i} for i, p in enumerate(others)] + [
            {"prediction_id": pid, "label": "approved"}]})
        assert batch.json() == {"created": 3, "updated": 0, "unchanged": 1, "unmatched": 4}
        bad = client.post("/api/v1/feedback", json={"prediction_id": "nope", "label": 1})
        assert bad.status_code == 422
        assert bad.json()["error"] == "invalid_parameter" and bad.json()["field"] == "prediction_id"
        got = client.get(f"/api/v1/feedback/{pid}")
        assert got.json()["label"] == "approved"
    assert server.yard.monitoring.get_feedback(others[2]).label == 2


def test_the_sdk_on_a_remote_yard(server: Any, remote_yard: my.Yard) -> None:
    pid = new_id()
    remote_yard.feedback(pid, 1)
    assert server.yard.monitoring.get_feedback(pid).label == 1
    with pytest.raises(InvalidParameter, match="label"):
        remote_yard.feedback(pid, [1, 2])
    remote_yard.monitoring.alert_rule("acc", metric="accuracy", op="<", threshold=0.9)
    assert [r.name for r in server.yard.monitoring.alert_rules()] == ["acc"]
    assert remote_yard.monitoring.alerts() == []


def test_a_mistyped_alert_metric_is_a_422_naming_the_field(server: Any) -> None:
    r = httpx.put(f"{server.url}/api/v1/monitoring/alert-rules/drift",
                  json={"metric": "drift_shar", "threshold": 0.3})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "metric"
    assert "Did you mean 'drift_share'?" in r.json()["message"]
    assert server.yard.monitoring.alert_rules() == []


def test_a_monitor_run_from_a_remote_yard(server: Any, remote_yard: my.Yard) -> None:
    import polars as pl

    server.yard.predictions.log(records(500, seed=1, shift=1.0))
    ref = pl.DataFrame({"x": [r["inputs"]["x"] for r in records(2000, seed=2)]})
    result = remote_yard.monitoring.run("loans", window="1h", reference=ref)
    assert isinstance(result, MonitorResult)
    assert result.run.n_rows == 500 and result.group(1).drift.drifted_features == ["x"]
    assert server.yard.monitoring.runs("loans")[0].id == result.run.id
