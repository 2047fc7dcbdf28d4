"""Monitoring.run end to end on the prediction log: drift per model version and route, late
ground truth, CBPE, alerts through a webhook, references of every kind, bad windows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.monitoring.entities import MonitorResult

from .conftest import T0, Receiver, records, true_labels, wait_until


def _reference(n: int = 5000, seed: int = 9) -> pl.DataFrame:
    """What the model was trained on: the same distribution as unshifted traffic."""
    frame = records(n, seed=seed)
    return pl.DataFrame({"x": [r["inputs"]["x"] for r in frame],
                         "city": [r["inputs"]["city"] for r in frame]})


def _run(yard: my.Yard, **kwargs: Any) -> MonitorResult:
    result = yard.monitoring.run("loans", **kwargs)
    assert isinstance(result, MonitorResult)
    return result


def test_drift_per_model_version_and_route(clocked_yard: my.Yard, log_predictions: Any,
                                           clock: FixedClock) -> None:
    log_predictions(3000, seed=1, version=1, route="champion")
    log_predictions(1500, seed=2, version=2, route="challenger", shift=0.8)
    log_predictions(3000, seed=3, version=3, route="shadow", shadow=True, shift=0.8)
    clock.advance(60)
    result = _run(clocked_yard, window="1h", reference=_reference())
    assert result.run.status == "ok" and result.run.n_rows == 7500
    champion = result.group(1)
    challenger = result.group(2, "challenger")
    shadow = result.group(3)
    assert (champion.route, champion.n_rows, champion.shadow) == ("champion", 3000, False)
    assert champion.drift.drifted_features == []
    assert challenger.drift.drifted_features == ["x"] and shadow.shadow
    assert shadow.drift["x"].drifted is True
    assert champion.latency["latency_p99_ms"] == pytest.approx(10, rel=0.05)
    assert 0 <= champion.outliers["share"] < 0.05
    assert len(champion.outliers["top"]) == 20
    # the figures are points of the time series, per version and route
    series = clocked_yard.monitoring.results("loans", name="drift_share")
    assert sorted(series["model_version"].to_list()) == ["1", "2", "3"]
    psi = clocked_yard.monitoring.results("loans", name="psi", feature="x", model_version=2)
    assert psi["value"][0] > 0.1


def test_a_window_without_predictions_says_no_data(clocked_yard: my.Yard) -> None:
    result = _run(clocked_yard, window="1h", reference=_reference())
    assert result.run.status == "no data" and result.groups == []
    assert result.findings[0].kind == "no_data"
    assert clocked_yard.monitoring.runs("loans")[0].status == "no data"


def test_late_ground_truth_fills_in_the_realised_performance(
        clocked_yard: my.Yard, log_predictions: Any, clock: FixedClock) -> None:
    ids = log_predictions(4000, seed=4)
    start, end = T0 - timedelta(minutes=1), T0 + timedelta(minutes=5)
    before = _run(clocked_yard, start=start, end=end, reference=_reference())
    g = before.group(1)
    assert g.performance == {} and g.n_labeled == 0
    assert 0.6 < g.estimated["estimated_accuracy"] < 0.95
    # labels arrive a day later, in a batch; the same window evaluated again picks them up
    clock.advance(86400)
    labels = true_labels(clocked_yard, ids)
    clocked_yard.monitoring.feedback(ids, labels)
    clocked_yard.feedback(ids[0], labels[0])  # a repeat changes nothing
    after = _run(clocked_yard, start=start, end=end, reference=_reference()).group(1)
    assert after.n_labeled == 4000
    assert after.performance["accuracy"] == pytest.approx(
        np.mean([int(p) == y for p, y in zip(_predictions(clocked_yard, ids), labels)]))
    # CBPE before labels vs realised after: close for a calibrated model
    assert after.estimated["estimated_accuracy"] == pytest.approx(after.performance["accuracy"], abs=0.03)
    assert after.performance["roc_auc"] == pytest.approx(after.estimated["estimated_roc_auc"], abs=0.03)
    acc = clocked_yard.monitoring.results("loans", name="accuracy")
    assert acc.height == 1  # the first run had no labels: no point


def _predictions(yard: my.Yard, ids: list[str]) -> list[int]:
    frame = yard.predictions.query("loans", T0 - timedelta(days=1), T0 + timedelta(days=3))
    by_id = dict(zip(frame["id"].to_list(), frame["output.prediction"].to_list()))
    return [by_id[i] for i in ids]


def test_performance_by_segment(clocked_yard: my.Yard, log_predictions: Any, clock: FixedClock) -> None:
    ids = log_predictions(2000, seed=5)
    clocked_yard.monitoring.feedback(ids, true_labels(clocked_yard, ids))
    clock.advance(60)
    g = _run(clocked_yard, window="1h", reference=_reference(), segment_by="city").group(1)
    assert set(g.segments) == {"city=a", "city=b", "city=c"}
    assert sum(s["n_labeled"] for s in g.segments.values()) == 2000
    points = clocked_yard.monitoring.results("loans", name="accuracy", feature="segment:city=a")
    assert points.height == 1


def test_a_webhook_alert_opens_on_drift_and_resolves_when_it_ends(
        clocked_yard: my.Yard, log_predictions: Any, clock: FixedClock) -> None:
    receiver = Receiver([503])  # the first delivery fails once, then succeeds
    mon = clocked_yard.monitoring
    try:
        mon.alert_rule("input drift", metric="drift_share", op=">=", threshold=0.5,
                       window="30m", webhooks=[receiver.url], severity="error")
        log_predictions(2000, seed=6, shift=1.0)
        clock.advance(60)
        first = _run(clocked_yard, window="10m", reference=_reference())
        assert [e.event for e in first.events] == ["opened"]
        # queued with the alert, delivered in the background: the run never waits for it
        assert first.events[0].alert.delivery["opened"][receiver.url]["state"] == "pending"
        receiver.wait_for(1)
        wait_until(lambda: mon.deliveries()[0].attempts == 1, what="the failed try recorded")
        clock.advance(clocked_yard.settings.webhook_backoff_s)  # the retry is due
        mon.deliver()
        wait_until(lambda: mon.deliveries(state="delivered"), what="the delivery")
        assert [b["event"] for b in receiver.bodies] == ["opened", "opened"]
        assert receiver.keys == [first.events[0].alert.delivery["opened"][receiver.url]
                                 ["delivery_id"]] * 2
        body = receiver.bodies[-1]
        assert body["alert"]["metric"] == "drift_share" and "input drift" in body["text"]
        alert = mon.alerts()[0]
        assert alert.delivery["opened"][receiver.url]["state"] == "delivered"
        assert alert.notified_at is not None
        # the same drift an hour later: still one open alert, no new message
        clock.advance(600)
        log_predictions(2000, seed=7, shift=1.0)
        clock.advance(60)
        assert _run(clocked_yard, window="10m", reference=_reference()).events == []
        assert mon.deliver() == [] and len(mon.deliveries()) == 1
        # healthy traffic: resolved, and the receiver is told
        clock.advance(600)
        log_predictions(2000, seed=8)
        clock.advance(60)
        last = _run(clocked_yard, window="10m", reference=_reference())
        assert [e.event for e in last.events] == ["resolved"]
        assert receiver.wait_for(3)[-1]["event"] == "resolved"
        assert clocked_yard.monitoring.alerts(state="open") == []
    finally:
        receiver.close()


def test_the_reference_from_lineage_gives_prediction_drift_a_reference(
        clocked_yard: my.Yard, clock: FixedClock) -> None:
    from sklearn.linear_model import LogisticRegression

    ref = _reference(3000)
    train = ref.with_columns(pl.col("city").cast(pl.Categorical).to_physical().cast(pl.Float64).alias("city_code"))
    features = train.select("x", "city_code").to_pandas()
    y = (train["x"].to_numpy() > 0).astype(int)
    dv = clocked_yard.datasets.add("loans-train", train.select("x", "city_code"))
    with clocked_yard.start_run(experiment="loans", datasets=[dv]) as run:
        mv = run.log_model(LogisticRegression().fit(features, y), name="loans", example=features.head(5))
    rng = np.random.default_rng(3)
    xs = rng.normal(1.0, 1.0, 1500)
    recs = [{"endpoint": "loans", "route": "champion", "model_name": "loans",
             "model_version": mv.version, "inputs": {"x": float(x), "city_code": 1.0},
             "outputs": {"prediction": int(x > 0)}, "latency_ms": 2.0} for x in xs]
    clocked_yard.predictions.log(recs)
    clock.advance(60)
    result = _run(clocked_yard, window="1h")
    assert result.run.reference == "dataset:loans-train/1"
    g = result.group(mv.version)
    assert g.drift["x"].drifted is True
    pred = g.drift["output.prediction"]
    assert pred.role == "output" and pred.drifted is True
    assert g.drift.drift_share == pytest.approx(1.0)  # outputs stay out of the share


def test_named_references(clocked_yard: my.Yard, log_predictions: Any, clock: FixedClock) -> None:
    clocked_yard.datasets.add("ref", _reference())
    log_predictions(1000, seed=10)
    clock.advance(3600)
    log_predictions(1000, seed=11, shift=1.0)
    clock.advance(60)
    by_dataset = _run(clocked_yard, window="5m", reference="dataset:ref/1")
    assert by_dataset.run.reference == "dataset:ref/1"
    assert by_dataset.group(1).drift.drifted_features == ["x"]
    window = f"window:{(T0 - timedelta(minutes=1)).isoformat()}/{(T0 + timedelta(minutes=1)).isoformat()}"
    by_window = _run(clocked_yard, window="5m", reference=window)
    g = by_window.group(1)
    assert g.drift.drifted_features == ["x"]
    assert g.drift["output.prediction"].drifted is True  # a window has outputs to compare


def test_a_missing_reference_is_a_finding_not_a_crash(clocked_yard: my.Yard, log_predictions: Any,
                                                       clock: FixedClock) -> None:
    ids = log_predictions(500, seed=12)
    clocked_yard.monitoring.feedback(ids, true_labels(clocked_yard, ids))
    clock.advance(60)
    result = _run(clocked_yard, window="1h", reference="dataset:nope")
    assert result.run.status == "no reference"
    assert any(f.kind == "no_reference" and "nope" in f.message for f in result.findings)
    assert result.group(1).performance["n_labeled"] == 500  # the rest still works
    lineage = _run(clocked_yard, window="1h")  # model "loans" is not registered
    assert any(f.kind == "no_reference" for f in lineage.findings)


def test_configured_monitors_run_with_no_endpoint(clocked_yard: my.Yard, log_predictions: Any,
                                                  clock: FixedClock) -> None:
    clocked_yard.datasets.add("ref", _reference())
    clocked_yard.monitoring.configure("loans", reference="dataset:ref", window="30m",
                                      tests={"x": "ks"}, thresholds={"x": 0.001})
    log_predictions(800, seed=13)
    clock.advance(60)
    results = clocked_yard.monitoring.run()
    assert isinstance(results, list) and len(results) == 1
    row = results[0].group(1).drift["x"]
    assert (row.test, row.threshold) == ("ks", 0.001)


def test_the_report_in_html_and_json(clocked_yard: my.Yard, log_predictions: Any, clock: FixedClock,
                                     tmp_path: Any) -> None:
    log_predictions(1000, seed=14, shift=1.0)
    clock.advance(60)
    _run(clocked_yard, window="10m", reference=_reference())  # one stored point of history
    path = tmp_path / "drift.html"
    html = clocked_yard.monitoring.report("loans", window="10m", reference=_reference(), path=str(path))
    assert path.read_text() == html
    assert "<script src" not in html and "Plotly.newPlot" in html
    assert "x: DRIFT (wasserstein" in html and "Drift share" in html
    text = clocked_yard.monitoring.report("loans", window="10m", reference=_reference(), format="json")
    body = json.loads(text)
    assert body["result"]["groups"][0]["drift"]["features"][0]["feature"] == "x"
    assert body["history"][0]["endpoint"] == "loans"
