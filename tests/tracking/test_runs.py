"""The tracking SDK: ``yard.start_run`` as a context manager, ``log_*``, inputs, artifacts, the
active run, and the same calls over HTTP."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import InvalidParameter, NotFound
from modelyard.tracking.entities import RunInput
from modelyard.tracking.runs import active_run, to_run_input

from .conftest import T0


def test_a_run_that_succeeds_is_finished(tyard: my.Yard, clock: FixedClock) -> None:
    with tyard.start_run(experiment="loans", name="baseline", params={"max_depth": 6}) as run:
        run.log_params({"eta": 0.1, "objective": "binary"})
        run.log_metrics({"auc": 0.91, "loss": np.float32(0.25)}, step=0)
        run.log_metric("auc", 0.93, step=1)
        run.set_tags({"team": "risk"})
        clock.advance(3)
    got = tyard.runs.get(run.id)
    assert got.status == "FINISHED" and got.duration == 3.0 and got.error is None
    assert got.experiment == "loans" and got.name == "baseline"
    assert got.params == {"max_depth": "6", "eta": "0.1", "objective": "binary"}
    assert got.metrics == {"auc": 0.93, "loss": 0.25} and got.tags == {"team": "risk"}
    assert [m.value for m in tyard.runs.metric_history(run.id, "auc")] == [0.91, 0.93]


def test_a_run_that_raises_is_failed_with_the_error(tyard: my.Yard) -> None:
    with pytest.raises(ValueError, match="boom"), tyard.start_run(experiment="loans") as run:
        run.log_metric("auc", 0.5)
        raise ValueError("boom")
    got = tyard.runs.get(run.id)
    assert got.status == "FAILED"
    assert got.error is not None and got.error.rstrip().endswith("ValueError: boom")
    assert "Traceback" in got.error and got.metrics == {"auc": 0.5}


def test_a_run_interrupted_by_the_user_is_killed(tyard: my.Yard) -> None:
    with pytest.raises(KeyboardInterrupt), tyard.start_run() as run:
        raise KeyboardInterrupt
    assert tyard.runs.get(run.id).status == "KILLED"


def test_a_run_ended_inside_its_block_stays_as_ended(tyard: my.Yard) -> None:
    with tyard.start_run() as run:
        run.end("KILLED")
    assert tyard.runs.get(run.id).status == "KILLED"
    assert active_run() is None


def test_run_started_without_with_is_active_until_ended(tyard: my.Yard) -> None:
    run = tyard.runs.start("loans")
    assert active_run() is run and run.info.status == "RUNNING"
    run.end()
    assert active_run() is None and run.info.status == "FINISHED"


def test_nested_runs_restore_the_outer_one(tyard: my.Yard) -> None:
    with tyard.start_run() as outer:
        with tyard.start_run() as inner:
            assert active_run() is inner
        assert active_run() is outer
    assert active_run() is None


def test_the_active_run_is_per_thread(tyard: my.Yard) -> None:
    seen = []
    with tyard.start_run():
        thread = threading.Thread(target=lambda: seen.append(active_run()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_a_changed_param_names_the_key(tyard: my.Yard) -> None:
    with tyard.start_run() as run:
        run.log_param("max_depth", 6)
        with pytest.raises(InvalidParameter, match="Param 'max_depth'"):
            run.log_param("max_depth", 7)


def test_a_metric_that_is_not_a_number_writes_nothing(tyard: my.Yard) -> None:
    with tyard.start_run() as run:
        with pytest.raises(InvalidParameter, match="Metric 'b' must be a number. Got str 'high'"):
            run.log_metrics({"a": 1.0, "b": "high"})
        run.log_metric("nan", math.nan)
    assert set(tyard.runs.get(run.id).metrics) == {"nan"}


def test_datasets_record_versions_and_views(tyard: my.Yard) -> None:
    df = pd.DataFrame({
        "ts": pd.to_datetime(["2026-01-05", "2026-02-05"], utc=True), "x": [1.0, 2.0],
    })
    dv = tyard.datasets.add("loans", df, time_column="ts")
    view = dv.window("2026-01-01", "2026-02-01")
    explicit = RunInput(dataset="other", version=1, digest="c" * 64, role="test")
    with tyard.start_run(experiment="loans", datasets=[dv, explicit]) as run:
        run.log_input(view, role="validation")
    inputs = tyard.runs.get(run.id).inputs
    assert [(i.dataset, i.version, i.role) for i in inputs] == [
        ("loans", 1, "training"), ("other", 1, "test"), ("loans", 1, "validation")]
    assert inputs[0].digest == dv.digest and inputs[0].as_of is None
    assert inputs[2].window_start == datetime(2026, 1, 1, tzinfo=UTC)
    assert [r.id for r in tyard.runs.for_dataset("loans", 1)] == [run.id]


def test_a_dataset_must_have_name_version_and_digest(tyard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="datasets must be dataset versions or views"):
        to_run_input("loans/1")


def test_log_artifact_stores_files_and_folders(tyard: my.Yard, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("all good")
    plots = tmp_path / "plots"
    (plots / "roc").mkdir(parents=True)
    (plots / "roc" / "curve.json").write_text("{}")
    (plots / "pr.json").write_text("[]")
    with tyard.start_run() as run:
        (art,) = run.log_artifact(report)
        run.log_artifact(plots, path="charts")
    assert art.path == "report.txt" and art.size == 8
    assert [a.path for a in tyard.runs.artifacts(run.id)] == [
        "charts/pr.json", "charts/roc/curve.json", "report.txt"]
    out = tyard.runs.download_artifact(run.id, "report.txt", tmp_path / "back.txt")
    assert out.read_text() == "all good"
    with pytest.raises(NotFound, match="has no artifact 'nope.txt'"):
        tyard.runs.download_artifact(run.id, "nope.txt", tmp_path / "x")


def test_experiments_sdk(tyard: my.Yard) -> None:
    exp = tyard.experiments.create("loans", description="d", tags={"team": "risk"})
    assert tyard.experiments.get("loans") == exp
    with tyard.start_run("loans"):
        pass
    assert [e.name for e in tyard.experiments.list()] == ["loans"]


def test_runs_end_by_id(tyard: my.Yard) -> None:
    run = tyard.runs.start("loans")
    assert active_run() is run
    assert tyard.runs.end(run.id, status="KILLED").status == "KILLED"
    assert active_run() is None  # ended by id: no longer this thread's active run
    assert tyard.runs.get(run.id).start_time == T0


def test_the_sdk_works_the_same_over_http(remote_yard: my.Yard, tmp_path: Path) -> None:
    artifact = tmp_path / "notes.txt"
    artifact.write_text("remote")
    with pytest.raises(RuntimeError), remote_yard.start_run(
        experiment="loans", params={"max_depth": 6}
    ) as failed:
        raise RuntimeError("remote boom")
    with remote_yard.start_run(experiment="loans", name="ok", params={"max_depth": 1}) as run:
        run.log_metrics({"auc": 0.93, "nan": math.nan}, step=2)
        run.set_tag("team", "risk")
        run.log_input(RunInput(dataset="loans", version=1, digest="d" * 64))
        run.log_artifact(artifact)
        with pytest.raises(InvalidParameter, match="Param 'max_depth'"):
            run.log_params({"max_depth": 2, "eta": 2})
        run.log_params({"max_depth": 1})
    assert remote_yard.runs.get(run.id).params == {"max_depth": "1"}
    assert remote_yard.runs.get(failed.id).status == "FAILED"
    (found,) = remote_yard.runs.search("metrics.auc > 0.9 and params.max_depth = '1'",
                                       order_by=["metrics.auc DESC"])
    assert found.id == run.id and found.tags == {"team": "risk"} and math.isnan(found.metrics["nan"])
    assert [m.step for m in remote_yard.runs.metric_history(run.id, "auc")] == [2]
    assert [a.path for a in remote_yard.runs.artifacts(run.id)] == ["notes.txt"]
    assert [r.id for r in remote_yard.runs.for_dataset("loans", 1)] == [run.id]
    with pytest.raises(my.FilterSyntaxError, match="Unexpected token 'xx' at position 16"):
        remote_yard.runs.search("metrics.auc > 1 xx")


def test_log_model_registers_a_version_linked_to_the_run(tyard: my.Yard) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DecisionTreeClassifier(max_depth=2).fit(X, y)
    with tyard.start_run(experiment="iris") as run:
        mv = run.log_model(model, name="iris", example=X[:5], description="a small tree")
    assert (mv.name, mv.version, mv.run_id) == ("iris", 1, run.id)
    assert mv.code_commit == run.code_commit and mv.description == "a small tree"
    assert [v.version for v in tyard.models.versions_of_run(run.id)] == [1]
