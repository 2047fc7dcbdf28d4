"""Hyperparameter search on an executor named by its spec: ``run.search(executor=
"dask://host:port")`` reaches the cluster and scores as this process does; a scheduler that
does not answer is a clear error before any trial is fitted or recorded (run.search and
``modelyard search``)."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import modelyard as my
from modelyard.automation.executors import SerialExecutor
from modelyard.cli.main import app
from modelyard.errors import InvalidParameter
from modelyard.tracking.tuning import PARENT_TAG

SPACE = {"max_depth": [2, 5], "min_samples_leaf": [1, 10]}


def _frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
                          "a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["target"] = ((frame.a - frame.b + rng.normal(0, 0.5, n)) > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    home = tmp_path_factory.mktemp("search-exec") / "home"
    y = my.connect(settings=my.Settings.load({}, home=home))
    y.datasets.add("points", _frame(), time_column="ts")
    yield y
    y.close()


def _silent_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dask_address_runs_the_search_there(yard: my.Yard, dask_cluster: Any) -> None:
    port = dask_cluster.scheduler_address.rsplit(":", 1)[1]
    points = yard.datasets.get("points")
    with yard.start_run(experiment="points") as run:
        dist = run.search(DecisionTreeClassifier(random_state=0), SPACE, data=points,
                          label="target", cv=3, executor=f"dask://127.0.0.1:{port}")
        local = run.search(DecisionTreeClassifier(random_state=0), SPACE, data=points,
                           label="target", cv=3, executor=SerialExecutor())
    assert [t.score for t in dist.trials] == [t.score for t in local.trials]
    assert len(dist.trials) == 4 and dist.best_params == local.best_params


def test_a_scheduler_that_does_not_answer_fails_before_any_trial(yard: my.Yard) -> None:
    port = _silent_port()
    with yard.start_run(experiment="points", name="unreachable") as run:
        with pytest.raises(InvalidParameter, match=f"could not reach the Dask scheduler at "
                                                   f"tcp://127.0.0.1:{port} within 10 s"):
            run.search(DecisionTreeClassifier(), SPACE, data=yard.datasets.get("points"),
                       label="target", executor=f"dask://127.0.0.1:{port}")
        with pytest.raises(InvalidParameter, match="executor must be"):
            run.search(DecisionTreeClassifier(), SPACE, data=yard.datasets.get("points"),
                       label="target", executor="spark://somewhere")
    assert yard.runs.search(f"tags.`{PARENT_TAG}` = '{run.id}'") == []
    assert "best.max_depth" not in yard.runs.get(run.id).params


FACTORY = textwrap.dedent('''
    from sklearn.tree import DecisionTreeClassifier

    def tree():
        return DecisionTreeClassifier(random_state=0)
''')


def test_cli_search_on_a_silent_scheduler_writes_no_run(yard: my.Yard, tmp_path: Path) -> None:
    (tmp_path / "exec_factories.py").write_text(FACTORY)
    (tmp_path / "space.yaml").write_text("max_depth: [2, 4]\n")
    before = {r.id for r in yard.runs.search("")}
    port = _silent_port()
    done = CliRunner().invoke(app, [
        "--home", str(yard.settings.home), "search", "exec_factories:tree", "--data", "points",
        "--label", "target", "--space", str(tmp_path / "space.yaml"), "--experiment", "silent",
        "--code-path", str(tmp_path), "--executor", f"dask://127.0.0.1:{port}"])
    assert done.exit_code == 1
    assert done.output.startswith(f"error: could not reach the Dask scheduler at "
                                  f"tcp://127.0.0.1:{port}")
    assert {r.id for r in yard.runs.search("")} == before
    assert "silent" not in {e.name for e in yard.experiments.list()}
