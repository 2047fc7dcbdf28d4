"""The tracking store on SQLite and PostgreSQL: experiments, runs, params, metrics, tags, inputs,
artifacts; every write one transaction."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import AlreadyExists, InvalidParameter, NotFound
from modelyard.tracking.entities import Metric, Run, RunInput
from modelyard.tracking.store import TrackingStore
from modelyard.transport import endpoints_of

from .conftest import T0


def _store(yard: my.Yard) -> TrackingStore:
    return yard.backend.tracking  # type: ignore[no-any-return]


def _ids(runs: list[Run]) -> list[str]:
    return [r.id for r in runs]


# ---- experiments ---------------------------------------------------------------------------
def test_create_and_get_experiment(tyard: my.Yard) -> None:
    store = _store(tyard)
    exp = store.create_experiment("loans", description="credit risk", tags={"team": "risk"})
    assert exp.name == "loans" and exp.description == "credit risk"
    assert exp.tags == {"team": "risk"} and exp.created_at == T0
    assert store.get_experiment("loans") == exp


def test_duplicate_experiment_is_already_exists(tyard: my.Yard) -> None:
    _store(tyard).create_experiment("loans")
    with pytest.raises(AlreadyExists, match="Experiment 'loans' already exists"):
        _store(tyard).create_experiment("loans")


def test_unknown_experiment_is_not_found(tyard: my.Yard) -> None:
    with pytest.raises(NotFound, match="No experiment named 'nope'"):
        _store(tyard).get_experiment("nope")


def test_create_run_creates_its_experiment_once(tyard: my.Yard) -> None:
    store = _store(tyard)
    a = store.create_run("fraud")
    b = store.create_run("fraud")
    assert a.experiment_id == b.experiment_id
    assert [e.name for e in store.list_experiments()] == ["fraud"]


# ---- runs ----------------------------------------------------------------------------------
def test_create_run_returns_what_get_run_reads(tyard: my.Yard) -> None:
    store = _store(tyard)
    created = store.create_run(
        "loans", name="first", params={"max_depth": "6"}, tags={"team": "risk"},
        inputs=[RunInput(dataset="loans", version=2, digest="d" * 64)],
    )
    got = store.get_run(created.id)
    assert got == created
    assert got.status == "RUNNING" and got.start_time == T0 and got.end_time is None
    assert got.params == {"max_depth": "6"} and got.tags == {"team": "risk"}
    assert got.inputs[0].dataset == "loans" and got.inputs[0].role == "training"


def test_end_run_records_status_error_and_end_time(tyard: my.Yard, clock: FixedClock) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    clock.advance(90)
    store.end_run(run.id, status="FAILED", error="ValueError: boom")
    got = store.get_run(run.id)
    assert got.status == "FAILED" and got.error == "ValueError: boom"
    assert got.duration == 90.0


def test_end_run_refuses_an_unknown_status(tyard: my.Yard) -> None:
    run = _store(tyard).create_run("loans")
    with pytest.raises(InvalidParameter, match="status must be one of FINISHED, FAILED, KILLED. "
                                               "Got 'DONE' instead"):
        _store(tyard).end_run(run.id, status="DONE")


@pytest.mark.parametrize("call", [
    lambda s: s.get_run("0" * 32),
    lambda s: s.end_run("0" * 32),
    lambda s: s.log_params("0" * 32, {"a": "1"}),
    lambda s: s.log_metrics("0" * 32, [Metric(key="a", value=1.0)]),
    lambda s: s.set_tags("0" * 32, {"a": "1"}),
    lambda s: s.log_inputs("0" * 32, [RunInput(dataset="d", version=1, digest="x")]),
    lambda s: s.get_metric_history("0" * 32, "a"),
    lambda s: s.list_artifacts("0" * 32),
])
def test_unknown_run_is_not_found(tyard: my.Yard, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="No run with id '0{32}'"):
        call(_store(tyard))


# ---- params --------------------------------------------------------------------------------
def test_params_are_immutable(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_params(run.id, {"max_depth": "6", "eta": "0.1"})
    store.log_params(run.id, {"max_depth": "6"})  # the same value again: fine
    with pytest.raises(InvalidParameter, match="Param 'max_depth' .* is already '6'.*Got '7'") as err:
        store.log_params(run.id, {"n": "100", "max_depth": "7"})
    assert err.value.field == "max_depth"
    assert store.get_run(run.id).params == {"max_depth": "6", "eta": "0.1"}  # 'n' not written


def test_params_with_some_keys_already_set_adds_the_new_ones(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_params(run.id, {"a": "1"})
    store.log_params(run.id, {"a": "1", "b": "2"})
    assert store.get_run(run.id).params == {"a": "1", "b": "2"}


@pytest.mark.parametrize("key", ["", "a" * 251, "../x", "/abs", "a/../b", "a//b", "x\ny"])
def test_bad_keys_are_refused(tyard: my.Yard, key: str) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    with pytest.raises(InvalidParameter, match="key must be"):
        store.log_params(run.id, {key: "1"})
    with pytest.raises(InvalidParameter, match="key must be"):
        store.log_metrics(run.id, [Metric(key=key, value=1.0)])
    with pytest.raises(InvalidParameter, match="key must be"):
        store.set_tags(run.id, {key: "1"})


def test_keys_may_hold_slashes_dots_and_spaces(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_metrics(run.id, [Metric(key="train/loss 1.5", value=1.0)])
    assert store.get_run(run.id).metrics == {"train/loss 1.5": 1.0}


def test_a_param_value_too_long_is_refused(tyard: my.Yard) -> None:
    run = _store(tyard).create_run("loans")
    with pytest.raises(InvalidParameter, match="Param 'p' must be at most 8000 characters"):
        _store(tyard).log_params(run.id, {"p": "x" * 8001})


# ---- metrics -------------------------------------------------------------------------------
def test_latest_metric_is_the_value_at_the_highest_step(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_metrics(run.id, [Metric(key="loss", value=0.5, step=5)])
    store.log_metrics(run.id, [Metric(key="loss", value=0.9, step=2)])  # older step: kept out
    assert store.get_run(run.id).metrics == {"loss": 0.5}
    store.log_metrics(run.id, [Metric(key="loss", value=0.4, step=5)])  # same step: later wins
    assert store.get_run(run.id).metrics == {"loss": 0.4}
    store.log_metrics(run.id, [Metric(key="loss", value=0.3, step=6), Metric(key="loss", value=0.35, step=5)])
    assert store.get_run(run.id).metrics == {"loss": 0.3}


def test_metric_history_keeps_every_value_in_step_order(tyard: my.Yard, clock: FixedClock) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_metrics(run.id, [Metric(key="auc", value=v, step=s) for s, v in [(2, 0.7), (0, 0.5), (1, 0.6)]])
    clock.advance(1)
    store.log_metrics(run.id, [Metric(key="auc", value=0.8, step=3, timestamp=42)])
    history = store.get_metric_history(run.id, "auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.6), (2, 0.7), (3, 0.8)]
    assert history[0].timestamp == int(T0.timestamp() * 1000) and history[3].timestamp == 42
    assert store.get_metric_history(run.id, "missing") == []


def test_nan_and_infinite_metric_values_are_kept(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_metrics(run.id, [
        Metric(key="nan", value=math.nan), Metric(key="inf", value=math.inf),
        Metric(key="neg", value=-math.inf),
    ])
    metrics = store.get_run(run.id).metrics
    assert math.isnan(metrics["nan"]) and metrics["inf"] == math.inf and metrics["neg"] == -math.inf
    assert math.isnan(store.get_metric_history(run.id, "nan")[0].value)


def test_a_batch_with_one_bad_metric_writes_nothing(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    batch = [Metric(key="a", value=1.0), Metric(key="b", value=2.0), Metric(key="../c", value=3.0)]
    with pytest.raises(InvalidParameter, match="metric key must be"):
        store.log_metrics(run.id, batch)
    assert store.get_run(run.id).metrics == {}
    assert store.get_metric_history(run.id, "a") == []


def test_a_batch_given_as_dicts_is_validated(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    store.log_metrics(run.id, [{"key": "a", "value": 1, "step": 3}])  # type: ignore[list-item]
    assert store.get_metric_history(run.id, "a")[0].step == 3
    with pytest.raises(InvalidParameter, match=r"metrics\[1\] must be a Metric"):
        store.log_metrics(run.id, [{"key": "b", "value": 1}, {"key": "c", "value": "high"}])  # type: ignore[list-item]
    assert "b" not in store.get_run(run.id).metrics


# ---- tags ----------------------------------------------------------------------------------
def test_tags_can_change_and_be_deleted(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans", tags={"stage": "dev"})
    store.set_tags(run.id, {"stage": "review", "owner": "ana"})
    assert store.get_run(run.id).tags == {"stage": "review", "owner": "ana"}
    store.delete_tag(run.id, "stage")
    assert store.get_run(run.id).tags == {"owner": "ana"}
    with pytest.raises(NotFound, match="has no tag 'stage'"):
        store.delete_tag(run.id, "stage")


# ---- inputs and reverse lineage ------------------------------------------------------------
def test_inputs_are_recorded_once_and_found_from_the_dataset(tyard: my.Yard, clock: FixedClock) -> None:
    store = _store(tyard)
    as_of = datetime(2026, 2, 1, tzinfo=UTC)
    train = RunInput(dataset="loans", version=3, digest="a" * 64, as_of=as_of)
    valid = RunInput(dataset="loans", version=3, digest="a" * 64, role="validation",
                     window_start=datetime(2026, 1, 1), window_end=datetime(2026, 1, 31))
    first = store.create_run("loans", inputs=[train])
    clock.advance(1)
    second = store.create_run("loans")
    store.log_inputs(second.id, [train, valid, train])
    store.create_run("loans", inputs=[RunInput(dataset="loans", version=2, digest="b" * 64)])
    got = store.get_run(second.id).inputs
    assert [i.role for i in got] == ["training", "validation"]
    assert got[0].as_of == as_of
    assert got[1].window_start == datetime(2026, 1, 1, tzinfo=UTC)
    assert _ids(store.runs_for_dataset("loans", 3)) == [second.id, first.id]
    assert store.runs_for_dataset("loans", 9) == []


# ---- artifacts -----------------------------------------------------------------------------
def test_artifacts_register_uploaded_blobs(tyard: my.Yard, tmp_path: Path) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    digest = tyard.backend.blobs.put_bytes(b"hello")
    art = store.log_artifact(run.id, "reports/summary.txt", digest)
    assert (art.path, art.digest, art.size, art.created_at) == ("reports/summary.txt", digest, 5, T0)
    other = tyard.backend.blobs.put_bytes(b"hello again")
    store.log_artifact(run.id, "reports/summary.txt", other)  # the same path: replaced
    assert [(a.path, a.digest) for a in store.list_artifacts(run.id)] == [("reports/summary.txt", other)]


def test_an_artifact_needs_an_uploaded_blob_and_a_safe_path(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    with pytest.raises(NotFound, match="No blob with digest"):
        store.log_artifact(run.id, "a.txt", "0" * 64)
    digest = tyard.backend.blobs.put_bytes(b"x")
    with pytest.raises(InvalidParameter, match="path must be a relative path"):
        store.log_artifact(run.id, "../etc/passwd", digest)


# ---- the REST surface ----------------------------------------------------------------------
def test_every_endpoint_has_its_own_route() -> None:
    routes = {(spec.method, spec.path): spec.name for _fn, spec in endpoints_of(TrackingStore)}
    assert routes[("POST", "/runs/{run_id}/metrics")] == "log_metrics"
    assert routes[("POST", "/runs/search")] == "search_runs"
    assert routes[("GET", "/datasets/{name}/versions/{version}/runs")] == "runs_for_dataset"
    assert len(routes) == len(endpoints_of(TrackingStore))


def test_text_postgresql_cannot_store_is_refused_on_both(tyard: my.Yard) -> None:
    store = _store(tyard)
    run = store.create_run("loans")
    with pytest.raises(InvalidParameter, match="Param 'p' must not contain NUL"):
        store.log_params(run.id, {"p": "a\x00b"})
    with pytest.raises(InvalidParameter, match=r"metrics\[0\] must be a Metric"):
        store.log_metrics(run.id, [{"key": "a", "value": 1.0, "step": 2**63}])  # type: ignore[list-item]
    store.end_run(run.id, status="FAILED", error="bad\x00byte")
    assert store.get_run(run.id).error == "bad\ufffdbyte"
    assert store.runs_for_dataset("loans", 2**40) == []
