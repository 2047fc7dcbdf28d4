"""Ground truth that does not fit the model is refused (issue 17: ``yard.feedback(id,
"approved")`` on a 0/1 model silently changed precision/recall/F1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import InvalidParameter, NotFound
from modelyard.ids import new_id
from modelyard.monitoring.entities import MonitorResult
from modelyard.wal.records import new_prediction_id

from .conftest import records


def _regression(n: int) -> list[dict[str, Any]]:
    return [{"endpoint": "prices", "route": "main", "model_name": "prices", "model_version": 2,
             "inputs": {"x": float(i)}, "outputs": {"prediction": 10.5 + i}} for i in range(n)]


def _integer(n: int) -> list[dict[str, Any]]:
    return [{"endpoint": "churn", "route": "main", "model_name": "churn", "model_version": 1,
             "inputs": {"x": float(i)}, "outputs": {"prediction": i % 2}} for i in range(n)]


def test_a_label_outside_the_models_classes_is_refused(
        clocked_yard: my.Yard, log_predictions: Callable[..., list[str]]) -> None:
    ids = log_predictions(10)
    with pytest.raises(InvalidParameter, match=(
            rf"label of prediction {ids[0]} must be one of the classes of model loans/1 "
            r"\('0', '1'\)\. Got 'approved' instead\.")) as err:
        clocked_yard.feedback(ids[0], "approved")
    assert err.value.field == "label"
    with pytest.raises(NotFound):
        clocked_yard.monitoring.get_feedback(ids[0])
    with pytest.raises(InvalidParameter, match="Got True instead"):
        clocked_yard.feedback(ids[0], True)  # compared as 'true', never a class of 0/1
    # the classes, however they are spelled, are accepted
    assert clocked_yard.feedback(ids[0], 1).created == 1
    assert clocked_yard.feedback(ids[1], "0").created == 1
    assert clocked_yard.feedback(ids[2], 1.0).created == 1


def test_a_batch_with_bad_labels_records_nothing_and_names_each(
        clocked_yard: my.Yard, log_predictions: Callable[..., list[str]]) -> None:
    ids = log_predictions(5)
    labels: list[Any] = [1, "approved", 0, "denied", 1]
    with pytest.raises(InvalidParameter) as err:
        clocked_yard.monitoring.feedback(ids, labels)
    message = str(err.value)
    assert message.startswith("2 of 5 labels do not fit the model that made their prediction, "
                              "so nothing was recorded: ")
    assert f"items[1].label of prediction {ids[1]} must be one of the classes of model loans/1 " \
           "('0', '1'). Got 'approved' instead" in message
    assert f"items[3].label of prediction {ids[3]}" in message and "Got 'denied'" in message
    assert err.value.field == "items"
    for pid in ids:
        with pytest.raises(NotFound):
            clocked_yard.monitoring.get_feedback(pid)
    result = clocked_yard.monitoring.feedback(ids, [1, 1, 0, 0, 1])
    assert (result.created, result.unmatched) == (5, 0)


def test_the_output_type_decides_without_probabilities(clocked_yard: my.Yard) -> None:
    prices = clocked_yard.predictions.log(_regression(3))
    churn = clocked_yard.predictions.log(_integer(3))
    with pytest.raises(InvalidParameter, match="must be a number, as model prices/2 predicts"):
        clocked_yard.feedback(prices[0], "approved")
    assert clocked_yard.feedback(prices[0], 12.25).created == 1
    with pytest.raises(InvalidParameter, match="must be an integer class, as model churn/1 "
                                               "predicts. Got 'approved' instead"):
        clocked_yard.feedback(churn[0], "approved")
    with pytest.raises(InvalidParameter, match="Got 0.5 instead"):
        clocked_yard.feedback(churn[0], 0.5)
    assert clocked_yard.feedback(churn[0], 1).created == 1


def test_labels_of_ids_not_in_the_log_are_recorded_and_counted(clocked_yard: my.Yard) -> None:
    result = clocked_yard.feedback(new_id(), "approved")
    assert (result.created, result.unmatched) == (1, 1)


def test_a_label_recorded_before_its_prediction_is_left_out_and_reported(
        clocked_yard: my.Yard, clock: FixedClock) -> None:
    early, t_us = new_prediction_id(clock)
    assert clocked_yard.feedback(early, "approved").unmatched == 1
    rows = records(20, seed=5)
    rows[0].update(id=early, time=t_us)
    ids = clocked_yard.predictions.log(rows)
    clocked_yard.monitoring.feedback(ids[1:], [1] * 19)
    clock.advance(1)
    result = clocked_yard.monitoring.run("loans", window="1h", alerts=False)
    assert isinstance(result, MonitorResult)
    assert result.group(1).performance["n_labeled"] == 19
    finding = next(f for f in result.findings if f.kind == "label_mismatch")
    assert finding.value == 1 and finding.severity == "error"
    assert "1 labels of model loans/1 (champion) are not one of its classes ('0', '1'), " \
           "e.g. 'approved'" in finding.message


def test_a_bad_label_over_rest_is_a_422_naming_the_id_and_classes(server: Any) -> None:
    ids = server.yard.predictions.log(records(3))
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/v1/feedback", json={"prediction_id": ids[0], "label": "approved"})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["field"] == "label" and ids[0] in body["message"]
        assert "one of the classes of model loans/1 ('0', '1')" in body["message"]
        r = client.post("/api/v1/feedback", json={"items": [
            {"prediction_id": ids[0], "label": 1}, {"prediction_id": ids[1], "label": "yes"},
            {"prediction_id": ids[2], "label": "no"}]})
        assert r.status_code == 422 and r.json()["field"] == "items"
        assert "items[1].label" in r.json()["message"] and "items[2].label" in r.json()["message"]
        ok = client.post("/api/v1/feedback", json={"prediction_id": ids[0], "label": 1})
        assert ok.json() == {"created": 1, "updated": 0, "unchanged": 0, "unmatched": 0}
