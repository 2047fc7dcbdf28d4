"""Retrain as of a date: re-running recorded training on the data known then."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import modelyard as my
from modelyard.automation.retrain import knowledge_time, retrain, run_training
from modelyard.clock import FixedClock
from modelyard.config import Settings
from modelyard.errors import InvalidParameter, NotFound

T0 = datetime(2026, 3, 1, tzinfo=UTC)

TRAINING = textwrap.dedent('''
    from sklearn.ensemble import RandomForestClassifier
    from modelyard.automation.retrain import TrainingResult

    def train(params, data, run):
        frame = data["train"].to_pandas()
        X, y = frame.drop(columns=["ts", "target"]), frame["target"]
        model = RandomForestClassifier(**params).fit(X, y)
        run.log_metrics({"train_rows": len(frame)})
        return TrainingResult(model, example=X.head(5))
''')


@pytest.fixture
def trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "cancer_training.py").write_text(TRAINING)
    monkeypatch.syspath_prepend(str(folder))
    return "cancer_training:train"


@pytest.fixture
def clock(fixed_clock: FixedClock) -> FixedClock:
    assert fixed_clock.now() == T0
    return fixed_clock


@pytest.fixture
def ryard(clocked_yard: my.Yard) -> my.Yard:
    return clocked_yard


@pytest.fixture
def cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Breast-cancer rows with event times in 2025; the last 69 rows held out as a test set."""
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [c.replace(" ", "_") for c in data.columns]
    data.insert(0, "ts", pd.date_range("2025-01-01", periods=len(data), freq="12h", tz="UTC"))
    return data.iloc[:500], data.iloc[500:]


def test_retrain_reproduces_then_learns(ryard: my.Yard, clock, trainer, cancer) -> None:
    rows, test = cancer
    first, late = rows.iloc[:300], rows.iloc[300:]
    ryard.datasets.add("cancer", first, time_column="ts")
    clock.advance(3600)
    known = clock.now()
    view = ryard.datasets.window("cancer", "2025-01-01", "2026-01-01", as_of=known)
    params = {"n_estimators": 25, "max_depth": 4, "random_state": 7}
    original = run_training(ryard, trainer, model_name="cancer", data={"train": view},
                            params=params)
    run = ryard.runs.get(original.run_id)
    assert run.entry_point == trainer and run.params["max_depth"] == "4"
    [recorded] = run.inputs
    assert (recorded.dataset, recorded.version, recorded.role, recorded.as_of) == (
        "cancer", 1, "train", known)
    assert recorded.window_start == datetime(2025, 1, 1, tzinfo=UTC)

    clock.advance(86400)
    ryard.datasets.append("cancer", late)  # late rows of the same period arrive
    clock.advance(3600)
    assert knowledge_time(ryard, original.ref) == known

    X_test = test.drop(columns=["ts", "target"])
    expected = ryard.models.load(original.ref).predict_proba(X_test)

    same = retrain(ryard, original.ref, as_of=known)
    assert (same.name, same.version, same.source_version) == ("cancer", 2, original.ref)
    np.testing.assert_array_equal(ryard.models.load(same.ref).predict_proba(X_test), expected)
    assert ryard.runs.get(same.run_id).inputs[0].version == 1

    newer = retrain(ryard, "cancer/1", as_of=clock.now())
    newer_run = ryard.runs.get(newer.run_id)
    assert newer_run.inputs[0].version == 2 and newer_run.metrics["train_rows"] == 500
    assert newer.source_version == "cancer/1"
    assert not np.array_equal(ryard.models.load(newer.ref).predict_proba(X_test), expected)


def test_retrain_needs_recorded_training(ryard: my.Yard, clock, trainer, cancer) -> None:
    from sklearn.linear_model import LogisticRegression

    rows, _ = cancer
    dv = ryard.datasets.add("cancer", rows, time_column="ts")
    X = rows.drop(columns=["ts", "target"])
    with ryard.start_run(experiment="manual", datasets=[dv]) as run:
        mv = run.log_model(LogisticRegression(max_iter=50).fit(X, rows.target), name="manual")
    with pytest.raises(InvalidParameter, match="was not trained through run_training"):
        retrain(ryard, mv.ref, as_of=clock.now())
    trained = run_training(ryard, trainer, model_name="cancer", data={"train": dv},
                           params={"n_estimators": 5, "random_state": 0})
    with pytest.raises(NotFound, match="had no version at 2020-01-01"):
        retrain(ryard, trained.ref, as_of="2020-01-01")
    with pytest.raises(InvalidParameter, match="entry_point must look like"):
        run_training(ryard, "no_colon", model_name="x", data={"train": dv})
    with pytest.raises(InvalidParameter, match="cannot be imported"):
        run_training(ryard, "no_such_module_xyz:train", model_name="x", data={"train": dv})


def test_cli_retrain(tmp_path: Path, trainer, cancer) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    rows, _ = cancer
    home = tmp_path / "home"
    y = my.connect(settings=Settings.load({}, home=home))
    dv = y.datasets.add("cancer", rows, time_column="ts")
    run_training(y, trainer, model_name="cancer", data={"train": dv},
                 params={"n_estimators": 5, "random_state": 0})
    y.close()
    result = CliRunner().invoke(app, ["--home", str(home), "retrain", "cancer@1",
                                      "--as-of", "2100-01-01"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "registered cancer/2" in result.output and "reproduces cancer/1" in result.output


PROJECT_TRAINING = textwrap.dedent('''
    from sklearn.linear_model import LogisticRegression

    def train(params, data, run):
        frame = data["train"].to_pandas()
        X = frame.drop(columns=["ts", "target"])
        return LogisticRegression(max_iter=200).fit(X, frame["target"])
''')


def _git(repo: Path, *args: str) -> str:
    import subprocess

    out = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                         cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_cli_retrain_from_a_project_folder_records_the_projects_commit(tmp_path: Path,
                                                                       cancer) -> None:
    """Issue 17: `modelyard retrain` run in the project folder imports the project's module
    (as `python -m` would) and records the commit of the entry point's file, not modelyard's."""
    import os
    import subprocess
    import sys

    project = tmp_path / "project"
    project.mkdir()
    (project / "loans_model.py").write_text(PROJECT_TRAINING)
    _git(project, "init", "-q")
    _git(project, "add", "loans_model.py")
    _git(project, "commit", "-q", "-m", "model code")
    commit = _git(project, "rev-parse", "HEAD")
    home = tmp_path / "home"
    rows, _ = cancer
    script = project / "first.py"
    rows.to_parquet(tmp_path / "rows.parquet")
    script.write_text(textwrap.dedent(f'''
        import pandas as pd, modelyard as my
        from modelyard.automation.retrain import run_training
        yard = my.connect(home={str(home)!r})
        dv = yard.datasets.add("cancer", pd.read_parquet({str(tmp_path / "rows.parquet")!r}),
                               time_column="ts")
        mv = run_training(yard, "loans_model:train", model_name="cancer", data={{"train": dv}})
        print(mv.ref)
    '''))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    first = subprocess.run([sys.executable, str(script)], check=False, cwd=project, env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    cli = str(Path(sys.executable).parent / "modelyard")
    out = subprocess.run([cli, "--home", str(home), "retrain", "cancer/1", "--as-of",
                          "2100-01-01"], check=False, cwd=project, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "registered cancer/2" in out.stdout
    with my.connect(home=home) as yard:
        run = yard.runs.get(yard.models.get("cancer/2").run_id)
        assert yard.models.get("cancer/2").code_commit == commit
    assert run.code_commit == commit and run.code_repo == str(project.resolve())
    assert run.source == str((project / "loans_model.py").resolve())
