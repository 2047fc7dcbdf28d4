"""MonitorStore on SQLite and PostgreSQL: feedback, the results time series, monitors, alerts."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import InvalidParameter, NotFound
from modelyard.ids import new_id
from modelyard.monitoring.entities import MetricPoint, MonitorRun

from .conftest import records


def _store(yard: my.Yard):  # type: ignore[no-untyped-def]
    return yard.backend.monitoring


def test_feedback_is_recorded_and_read_back(clocked_yard: my.Yard) -> None:
    pid = new_id()
    assert clocked_yard.monitoring.feedback(pid, "approved").created == 1
    fb = clocked_yard.monitoring.get_feedback(pid)
    assert fb.label == "approved" and fb.prediction_id == pid
    assert abs((fb.prediction_time - fb.received_at).total_seconds()) < 86400 * 365 * 10


def test_feedback_is_idempotent_and_the_latest_label_wins(clocked_yard: my.Yard, clock: FixedClock) -> None:
    pid = new_id()
    clocked_yard.feedback(pid, 1)
    again = clocked_yard.monitoring.feedback(pid, 1)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    clock.advance(60)
    changed = clocked_yard.monitoring.feedback(pid, 0)
    assert changed.updated == 1
    fb = clocked_yard.monitoring.get_feedback(pid)
    assert fb.label == 0 and fb.updated_at > fb.received_at
    # True is not 1: a bool label replaces an int one
    assert clocked_yard.monitoring.feedback(pid, True).updated == 1


def test_feedback_in_batches(clocked_yard: my.Yard) -> None:
    ids = [new_id() for _ in range(1200)]
    res = clocked_yard.monitoring.feedback(ids, [i % 2 for i in range(1200)])
    assert res.created == 1200
    res = clocked_yard.monitoring.feedback(items=[{"prediction_id": ids[0], "label": 1},
                                                  {"prediction_id": ids[1], "label": 1},
                                                  {"prediction_id": new_id(), "label": 7}])
    assert (res.created, res.updated, res.unchanged) == (1, 1, 1)
    import polars as pl

    res = clocked_yard.monitoring.feedback(items=pl.DataFrame({"id": ids[:3], "label": [5, 5, 5]}))
    assert res.updated == 3


def test_the_last_label_of_an_id_within_one_batch_wins(clocked_yard: my.Yard) -> None:
    pid = new_id()
    clocked_yard.monitoring.feedback([pid, pid], ["a", "b"])
    assert clocked_yard.monitoring.get_feedback(pid).label == "b"


@pytest.mark.parametrize("bad", ["nope", "0" * 32, 12, "019ca6b2c6607d9f9cdc1fe29c18534"])
def test_feedback_needs_a_uuid7_prediction_id(clocked_yard: my.Yard, bad: object) -> None:
    with pytest.raises(InvalidParameter, match="prediction_id must be the UUIDv7 id"):
        clocked_yard.feedback(bad, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, float("nan"), [1], {"a": 1}])
def test_feedback_needs_a_scalar_label(clocked_yard: my.Yard, bad: object) -> None:
    with pytest.raises(InvalidParameter, match="label must be a string, number or boolean"):
        clocked_yard.feedback(new_id(), bad)


def test_feedback_with_nothing_is_refused(clocked_yard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="Got neither"):
        _store(clocked_yard).feedback()
    with pytest.raises(InvalidParameter, match="label must be a list as long as"):
        clocked_yard.monitoring.feedback([new_id()], 1)


def test_unknown_feedback_is_not_found(clocked_yard: my.Yard) -> None:
    with pytest.raises(NotFound, match="No feedback"):
        clocked_yard.monitoring.get_feedback(new_id())


def test_list_feedback_by_prediction_time(clocked_yard: my.Yard, clock: FixedClock) -> None:
    import uuid_utils

    t = clock.now()
    old = uuid_utils.uuid7(nanoseconds=int((t - timedelta(days=2)).timestamp() * 1e9)).hex
    new = uuid_utils.uuid7(nanoseconds=int(t.timestamp() * 1e9)).hex
    clocked_yard.monitoring.feedback([old, new], [1, 0])
    got = _store(clocked_yard).list_feedback(t - timedelta(hours=1), t + timedelta(hours=1))
    assert [f.prediction_id for f in got] == [new]


def test_monitor_configurations(clocked_yard: my.Yard) -> None:
    m = clocked_yard.monitoring.configure("loans", reference="dataset:loans/2", window="1h",
                                          tests={"age": "ks"}, thresholds={"ks": 0.01})
    assert m.window == "1h" and m.tests == {"age": "ks"}
    assert [c.endpoint for c in clocked_yard.monitoring.monitors()] == ["loans"]
    assert _store(clocked_yard).get_monitor("loans").reference == "dataset:loans/2"
    clocked_yard.monitoring.configure("loans", window="1d")
    assert _store(clocked_yard).get_monitor("loans").reference is None
    _store(clocked_yard).delete_monitor("loans")
    with pytest.raises(NotFound):
        _store(clocked_yard).get_monitor("loans")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"reference": "loans"}, "reference must be 'dataset:NAME"),
    ({"window": "soon"}, "window must be a duration"),
    ({"tests": {"age": "t-test"}}, "must name one of the drift tests"),
])
def test_monitor_configuration_is_validated(clocked_yard: my.Yard, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        clocked_yard.monitoring.configure("loans", **kwargs)


def _record(yard: my.Yard, clock: FixedClock, name: str, value: float, *, feature: str | None = None,
            version: str = "1") -> None:
    end = clock.now()
    run = MonitorRun(id=new_id(), endpoint="loans", window_start=end - timedelta(hours=1),
                     window_end=end, n_rows=10)
    point = MetricPoint(endpoint="loans", model_version=version, window_start=run.window_start,
                        window_end=end, name=name, feature=feature, value=value)
    _store(yard).record_run(run, [point])


def test_the_results_time_series(clocked_yard: my.Yard, clock: FixedClock) -> None:
    for v in (0.1, 0.2, float("nan"), 0.4):
        _record(clocked_yard, clock, "drift_share", v)
        clock.advance(3600)
    _record(clocked_yard, clock, "psi", 0.3, feature="age")
    series = clocked_yard.monitoring.results("loans", name="drift_share")
    assert series["value"].to_list() == [0.1, 0.2, 0.4]  # NaN figures are not points
    assert clocked_yard.monitoring.results("loans", feature="age")["name"].to_list() == ["psi"]
    runs = clocked_yard.monitoring.runs("loans")
    assert len(runs) == 5 and runs[0].window_end > runs[-1].window_end
    assert _store(clocked_yard).get_run(runs[0].id).id == runs[0].id


def test_alert_rules_are_validated_and_stored(clocked_yard: my.Yard) -> None:
    rule = clocked_yard.monitoring.alert_rule("drift", metric="drift_share", threshold=0.3,
                                              webhooks=["http://127.0.0.1:9/x"])
    assert rule.op == ">" and rule.window == "1h"
    assert [r.name for r in clocked_yard.monitoring.alert_rules()] == ["drift"]
    with pytest.raises(InvalidParameter, match="op"):
        clocked_yard.monitoring.alert_rule("bad", metric="m", threshold=1, op="!=")
    with pytest.raises(InvalidParameter, match="webhooks must be http"):
        clocked_yard.monitoring.alert_rule("bad", metric="drift_share", threshold=1,
                                           webhooks=["ftp://x"])
    with pytest.raises(InvalidParameter, match="cooldown must be a duration"):
        clocked_yard.monitoring.alert_rule("bad", metric="drift_share", threshold=1,
                                           cooldown="later")
    clocked_yard.monitoring.delete_alert_rule("drift")
    with pytest.raises(NotFound):
        clocked_yard.monitoring.delete_alert_rule("drift")


def test_a_mistyped_metric_is_refused_with_a_suggestion(clocked_yard: my.Yard) -> None:
    mon = clocked_yard.monitoring
    with pytest.raises(InvalidParameter, match=r"Got 'drift_shar' instead\. Did you mean "
                                               r"'drift_share'\?") as err:
        mon.alert_rule("drift", metric="drift_shar", threshold=0.3)
    assert err.value.field == "metric"
    with pytest.raises(InvalidParameter, match="Got 'latency_p99' instead. Did you mean "
                                               "'latency_p99_ms'"):
        mon.alert_rule("slow", metric="latency_p99", threshold=100)
    # a per-column figure needs a column; a per-version figure takes none
    with pytest.raises(InvalidParameter, match="feature must be given for metric 'psi'") as err:
        mon.alert_rule("psi", metric="psi", threshold=0.2)
    assert err.value.field == "feature"
    with pytest.raises(InvalidParameter, match="feature must be left out for metric 'drift_share'"):
        mon.alert_rule("drift", metric="drift_share", threshold=0.3, feature="age")
    with pytest.raises(InvalidParameter, match="'segment:<column>=<value>'"):
        mon.alert_rule("acc", metric="accuracy", threshold=0.8, op="<", feature="city")
    mon.alert_rule("acc", metric="accuracy", threshold=0.8, op="<", feature="segment:city=a")
    assert [r.name for r in mon.alert_rules()] == ["acc"]


def test_every_stored_figure_can_be_watched(clocked_yard: my.Yard, clock: FixedClock) -> None:
    """The catalogue rules are checked against holds every name a run stores, with its scope."""
    from modelyard.monitoring.evaluation import METRICS

    ids = clocked_yard.predictions.log(records(400, seed=3, shift=0.5))
    clocked_yard.monitoring.feedback(ids[:200], [i % 2 for i in range(200)])
    ref = pl.DataFrame({"x": [r["inputs"]["x"] for r in records(500, seed=4)],
                        "city": [r["inputs"]["city"] for r in records(500, seed=4)]})
    clocked_yard.monitoring.run("loans", window="1h", reference=ref, segment_by="city",
                                alerts=False)
    points = clocked_yard.monitoring.results("loans")
    for name, feature in points.select("name", "feature").unique().iter_rows():
        scope = METRICS.get(name)
        assert scope is not None, name
        if feature is None:
            assert scope in ("group", "segment"), name
        elif feature.startswith("segment:"):
            assert scope == "segment", name
        else:
            assert scope == "feature", name


def test_an_alert_opens_deduplicates_resolves_and_respects_the_cooldown(
        clocked_yard: my.Yard, clock: FixedClock) -> None:
    mon = clocked_yard.monitoring
    mon.alert_rule("psi-age", metric="psi", feature="age", op=">", threshold=0.2, window="1h",
                   cooldown="2h")
    _record(clocked_yard, clock, "psi", 0.5, feature="age")
    events = mon.evaluate_alerts("loans")
    assert [e.event for e in events] == ["opened"]
    alert = events[0].alert
    assert alert.state == "open" and alert.feature == "age" and alert.model_version == "1"
    assert "psi of 'age'" in alert.message
    clock.advance(600)
    _record(clocked_yard, clock, "psi", 0.6, feature="age")
    assert mon.evaluate_alerts("loans") == []  # de-duplicated
    assert mon.alerts(state="open")[0].count == 2
    clock.advance(600)
    _record(clocked_yard, clock, "psi", 0.05, feature="age")
    events = mon.evaluate_alerts("loans")
    assert [e.event for e in events] == ["resolved"]
    clock.advance(600)
    _record(clocked_yard, clock, "psi", 0.7, feature="age")
    events = mon.evaluate_alerts("loans")
    assert [e.event for e in events] == ["reopened"] and events[0].alert.id == alert.id
    mon.resolve_alert(alert.id)
    clock.advance(3 * 3600)
    _record(clocked_yard, clock, "psi", 0.7, feature="age")
    events = mon.evaluate_alerts("loans")
    assert [e.event for e in events] == ["opened"] and events[0].alert.id != alert.id
    assert len(mon.alerts()) == 2 and len(mon.alerts(state="open")) == 1


def test_a_rule_without_data_in_its_window_changes_nothing(clocked_yard: my.Yard, clock: FixedClock) -> None:
    clocked_yard.monitoring.alert_rule("acc", metric="accuracy", op="<", threshold=0.8, window="1h")
    _record(clocked_yard, clock, "accuracy", 0.5)
    assert [e.event for e in clocked_yard.monitoring.evaluate_alerts()] == ["opened"]
    clock.advance(7200)
    assert clocked_yard.monitoring.evaluate_alerts() == []
    assert len(clocked_yard.monitoring.alerts(state="open")) == 1


def test_the_mean_over_the_window_and_every_feature(clocked_yard: my.Yard, clock: FixedClock) -> None:
    clocked_yard.monitoring.alert_rule("psi-any", metric="psi", feature="*", threshold=0.2,
                                       agg="mean", window="3h")
    _record(clocked_yard, clock, "psi", 0.1, feature="a")
    _record(clocked_yard, clock, "psi", 0.5, feature="b")
    clock.advance(60)
    _record(clocked_yard, clock, "psi", 0.2, feature="a")
    events = clocked_yard.monitoring.evaluate_alerts()
    assert [(e.event, e.alert.feature) for e in events] == [("opened", "b")]
    assert events[0].alert.value == pytest.approx(0.5)


def test_unknown_alert_ids_and_bad_states(clocked_yard: my.Yard) -> None:
    with pytest.raises(NotFound):
        clocked_yard.monitoring._store.get_alert("nope")
    with pytest.raises(InvalidParameter, match="state must be 'open' or 'resolved'"):
        clocked_yard.monitoring.alerts(state="closed")
