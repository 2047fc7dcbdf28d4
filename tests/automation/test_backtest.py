"""Backtests of retraining policies on generated data with a known sudden change at a known
date: the on-drift policy retrains within one step of it and beats never-retraining on the
windows after; trainings policies share run once; dataset time travel gives each training
only what was known then; the result is stored as a run with an HTML report; bad input is
named; the same backtest on a real Dask LocalCluster and in this process agree."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.automation.backtest import BacktestResult, load_result
from modelyard.automation.executors import DaskExecutor, SerialExecutor
from modelyard.automation.retrain import run_training
from modelyard.cli.main import app
from modelyard.errors import InvalidParameter, NotFound

from .distdata import loans

DRIFT = datetime(2025, 7, 1, tzinfo=UTC)
START, END = "2025-03-03", "2025-10-27"       # Mondays: 34 weekly steps

TRAINING = textwrap.dedent('''
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from modelyard.automation.retrain import TrainingResult

    FEATURES = ["income", "age", "debt", "grade"]

    def train(params, data, run):
        frame = data["train"].to_pandas()
        run.log_metrics({"rows": len(frame)})
        X, y = frame[FEATURES], frame["target"]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=params.get("C", 1.0)))
        return TrainingResult(model.fit(X, y), example=X.head(5))
''')

POLICIES = ["never", "every:4w", "drift:0.3", "performance:accuracy<0.75"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    """Dataset 'loans' of 2025 (100 rows a day) whose rule changes on 1 July, and model
    loans/1 trained through run_training on the 28 days before the backtest starts."""
    root = tmp_path_factory.mktemp("backtest")
    (root / "code").mkdir()
    (root / "code" / "bt_loans_model.py").write_text(TRAINING)
    import sys

    sys.path.insert(0, str(root / "code"))
    yard = my.connect(settings=my.Settings.load({}, home=root / "home"))
    yard.datasets.add("loans", loans(30_000, "2025-01-01", "2025-10-28", drift_at=DRIFT),
                      time_column="ts")
    first = yard.datasets.window("loans", "2025-02-03", START)
    run_training(yard, "bt_loans_model:train", model_name="loans", data={"train": first})
    yield yard
    yard.close()
    sys.path.remove(str(root / "code"))


def _after(result: BacktestResult, policy: str, weeks: int = 2) -> float:
    later = [s.metric for s in result.policy(policy)
             if s.start >= DRIFT + pd.Timedelta(weeks=weeks)]
    return float(np.mean(later))


def test_on_drift_retrains_at_the_change_and_beats_never(history: my.Yard,
                                                         dask_executor: DaskExecutor) -> None:
    result = history.backtest("loans", start=START, end=END, every="1w", policies=POLICIES,
                              label="target", knowledge="event", executor=dask_executor)
    assert [p.name for p in result.policies] == ["never", "every-4w", "drift-0.3",
                                                "performance-accuracy-0.75"]
    assert len(result.steps) == 34 * 4 and result.metric == "accuracy"
    drift = result.policy("drift-0.3")
    first_retrain = next(s for s in drift if s.retrained)
    # the change comes on Tuesday 1 July, in the window of Monday 30 June; the next step
    # (7 July) sees it in that window and retrains: within one step
    assert first_retrain.start == pd.Timestamp("2025-07-07", tz="UTC")
    assert "drift_share" in (first_retrain.reason or "")
    assert not any(s.retrained for s in drift if s.start < DRIFT)        # no false alarm
    assert _after(result, "drift-0.3") > _after(result, "never") + 0.2
    perf = result.policy("performance-accuracy-0.75")
    assert next(s for s in perf if s.retrained).start <= DRIFT + pd.Timedelta(weeks=2)
    summary = {s.policy: s for s in result.summary}
    assert summary["never"].retrains == 0 and summary["never"].trainings == 1
    assert summary["every-4w"].retrains == 8
    assert summary["drift-0.3"].mean > summary["never"].mean
    # the first model (and retrains at the same step) ran once for every policy asking
    assert result.trainings_run < result.trainings_requested
    assert summary["never"].shared_trainings == 1 and result.saved_seconds > 0
    assert {s.policy for s in result.steps if s.step == 0 and s.metric} == set(summary)

    stored = history.runs.get(result.run_id)
    assert stored.experiment == "backtests" and stored.tags["modelyard.backtest"] == "loans"
    assert stored.metrics["drift-0.3.mean_accuracy"] == pytest.approx(summary["drift-0.3"].mean)
    series = history.runs.metric_history(result.run_id, "never.accuracy")
    assert len(series) == 34
    assert load_result(history, result.run_id).steps == result.steps
    html = result.to_html()
    assert "Plotly.newPlot" in html and "<script src" not in html and "drift-0.3" in html


def test_dask_and_this_process_give_the_same_backtest(history: my.Yard,
                                                      dask_executor: DaskExecutor) -> None:
    kwargs = {"start": "2025-06-02", "end": "2025-08-04", "every": "1w", "label": "target",
              "knowledge": "event", "save": False,
              "policies": ["never", "drift:0.3", {"name": "monthly-or-drop", "triggers": [
                  {"type": "cron", "cron": "0 0 1 * *"},
                  {"type": "performance", "metric": "f1", "op": "<", "threshold": 0.6}]}]}
    local = history.backtest("loans", executor=SerialExecutor(), **kwargs)
    dist = history.backtest("loans", executor=dask_executor, **kwargs)
    fields = ("policy", "step", "model_step", "retrained", "reason", "metric", "drift_share")
    assert [[getattr(s, f) for f in fields] for s in dist.steps] == \
        [[getattr(s, f) for f in fields] for s in local.steps]
    cron = [s for s in local.policy("monthly-or-drop") if s.retrained]
    assert any("cron" in (s.reason or "") for s in cron)


def test_training_sees_only_what_was_known_then(tmp_path: Path) -> None:
    """Monthly files known at the start of the next month: a training as of a step reads
    the rows known then, not the ones backfilled later."""
    yard = my.connect(settings=my.Settings.load({}, home=tmp_path / "home"))
    code = tmp_path / "code"
    code.mkdir()
    (code / "bt_known_model.py").write_text(TRAINING.replace(
        '"grade"]', '"<img src=x onerror=alert(1)>"]'))
    frame = loans(6_000, "2025-01-01", "2025-07-01", seed=4)
    frame.columns = [c if c != "grade" else "<img src=x onerror=alert(1)>" for c in frame]
    months = frame.groupby(frame.ts.dt.month)
    for i, (month, rows) in enumerate(months):
        known = f"2025-{month + 1:02d}-01"
        if i == 0:
            yard.datasets.add("known", rows, time_column="ts", ingested_at=known)
        else:
            yard.datasets.append("known", rows, ingested_at=known)
    policy = {"name": "weird-feature", "triggers": [
        {"type": "drift", "feature": "<img src=x onerror=alert(1)>", "metric": "psi",
         "threshold": 0.0}]}
    import sys

    sys.path.insert(0, str(code))
    try:
        with pytest.raises(NotFound, match="knowledge='event'"):
            yard.backtest(entry_point="bt_known_model:train", data={"train": "known"},
                          start="2025-01-15", end="2025-03-01", policies=["never"],
                          label="target", executor=SerialExecutor(), save=False)
        result = yard.backtest(entry_point="bt_known_model:train",
                               data={"train": {"dataset": "known", "last": "60d"}},
                               start="2025-03-10", end="2025-05-05", every="2w",
                               policies=["never", policy], label="target",
                               executor=SerialExecutor(), save=False)
    finally:
        sys.path.remove(str(code))
    rows = {s.step: s for s in result.policy("weird-feature")}
    assert all(s.retrained for i, s in rows.items() if i > 0)   # psi >= 0 fires every step
    html = result.to_html()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # as of 10 March only January and February were known (March's rows came on 1 April):
    # the first model read the 60 days before 10 March, cut at 1 March
    ts = frame.ts
    known = int(((ts >= pd.Timestamp("2025-01-09", tz="UTC"))
                 & (ts < pd.Timestamp("2025-03-01", tz="UTC"))).sum())
    assert result.policy("never")[0].train_rows == known
    assert rows[2].train_rows > known          # as of 7 April, March was known as well
    yard.close()


def test_bad_input_is_named(history: my.Yard, tmp_path: Path) -> None:
    ex = SerialExecutor()
    base = {"every": "1w", "label": "target", "knowledge": "event", "executor": ex,
            "save": False}
    cases = [
        ({"start": "2024-06-03", "end": "2025-03-03", "policies": ["never"]},
         "needs history before it"),
        ({"start": "2025-09-01", "end": "2026-06-01", "policies": ["never"]},
         "outside the data"),
        ({"start": "2025-03-03", "end": "2025-02-03", "policies": ["never"]},
         "must end after it starts"),
        ({"start": "2025-03-03", "end": "2025-04-07", "policies": ["sometimes"]},
         "a policy must be a YAML file or one of"),
        ({"start": "2025-03-03", "end": "2025-04-07", "policies": ["performance:rmse<3"]},
         "cannot compute"),
        ({"start": "2025-03-03", "end": "2025-04-07", "policies": ["never"], "label": "paid"},
         "no column 'paid'"),
        ({"start": "2025-03-03", "end": "2025-04-07", "policies": ["never", "never"]},
         "given twice"),
    ]
    for extra, message in cases:
        with pytest.raises(InvalidParameter, match=message):
            history.backtest("loans", **{**base, **extra})
    gappy = loans(3_000, "2025-01-01", "2025-04-01", seed=2)
    gappy = gappy[(gappy.ts < "2025-02-10") | (gappy.ts >= "2025-02-17")]
    history.datasets.add("gappy", gappy, time_column="ts")
    with pytest.raises(InvalidParameter, match=r"window \[2025-02-10 00:00, 2025-02-17 00:00\) "
                                               r"of dataset 'gappy' is empty"):
        history.backtest("loans", data={"train": {"dataset": "gappy", "last": "14d"}},
                         start="2025-01-20", end="2025-03-10", policies=["never"], **base)
    unlabelled = loans(3_000, "2025-01-01", "2025-04-01", seed=2).drop(columns="target")
    history.datasets.add("unlabelled", unlabelled, time_column="ts")
    with pytest.raises(InvalidParameter, match="policies \\['performance-accuracy-0.8'\\] "
                                               "cannot trigger on performance"):
        history.backtest("loans", dataset="unlabelled", start="2025-02-03", end="2025-03-03",
                         policies=["never", "performance:accuracy<0.8"], **base)


def test_a_dask_scheduler_that_does_not_answer_writes_nothing(history: my.Yard) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = {r.id for r in history.runs.search("")}
    with pytest.raises(InvalidParameter, match=f"could not reach the Dask scheduler at "
                                               f"tcp://127.0.0.1:{port} within 10 s"):
        history.backtest("loans", start="2025-06-02", end="2025-07-07", every="1w",
                         policies=["never", "drift:0.3"], label="target", knowledge="event",
                         executor=f"dask://127.0.0.1:{port}")
    assert {r.id for r in history.runs.search("")} == before    # no backtest run stored


def test_cli_backtest(history: my.Yard, tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text(textwrap.dedent("""
        - name: on-drift
          triggers: [{type: drift, threshold: 0.3}]
        - name: quarterly
          triggers: [{type: every, every: 13w}]
    """))
    home = ["--home", str(history.settings.home)]
    args = ["backtest", "loans", "--from", "2025-06-02", "--to", "2025-08-04", "--every", "1w",
            "--label", "target", "--knowledge", "event", "--executor", "serial"]
    done = CliRunner().invoke(app, [*home, *args, "--policy", "never", "--policy",
                                    str(tmp_path / "policies.yaml"), "--html",
                                    str(tmp_path / "report.html")])
    assert done.exit_code == 0, done.output
    assert "on-drift" in done.output and "quarterly" in done.output and "run " in done.output
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    bad = CliRunner().invoke(app, [*home, *args, "--policy", "drift:lots"])
    assert bad.exit_code == 1
    assert bad.output.startswith("error: expected a number in policy 'drift:lots'")
