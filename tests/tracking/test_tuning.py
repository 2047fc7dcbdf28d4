"""Hyperparameter search in a run: scikit-learn's searches through joblib on the executor
(its Dask backend on a real LocalCluster gives the scores of this process), each trial a child
run, the best registered when asked; bad spaces are named; the CLI."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import modelyard as my
from modelyard.automation.executors import DaskExecutor, SerialExecutor
from modelyard.cli.main import app
from modelyard.errors import InvalidParameter
from modelyard.tracking.tuning import PARENT_TAG

GRID = {"max_depth": [2, 4, 8], "min_samples_leaf": [1, 20]}


def _frame(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
                          "a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": rng.integers(0, 4, n).astype(float)})
    frame["target"] = ((frame.a + 0.5 * frame.b * frame.c + rng.normal(0, 0.5, n)) > 0)
    frame["target"] = frame["target"].astype(int)
    return frame


@pytest.fixture(scope="module")
def tuning_yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    yard = my.connect(settings=my.Settings.load({}, home=tmp_path_factory.mktemp("t") / "h"))
    yard.datasets.add("points", _frame(), time_column="ts")
    yield yard
    yard.close()


def _search(yard: my.Yard, executor: object, **kwargs: object) -> tuple[str, object]:
    with yard.start_run(experiment="points", name="tree-search") as run:
        result = run.search(DecisionTreeClassifier(random_state=0), GRID,
                            data=yard.datasets.get("points"), label="target", cv=3,
                            scoring="accuracy", executor=executor, **kwargs)
    return run.id, result


def test_grid_search_on_dask_equals_local_with_a_child_run_per_trial(
        tuning_yard: my.Yard, dask_executor: DaskExecutor) -> None:
    _, local = _search(tuning_yard, SerialExecutor())
    dask_id, dist = _search(tuning_yard, dask_executor, register="points-tree")
    assert [t.score for t in dist.trials] == [t.score for t in local.trials]
    assert dist.best_params == local.best_params and len(dist.trials) == 6
    children = tuning_yard.runs.search(f"tags.`{PARENT_TAG}` = '{dask_id}'")
    assert len(children) == 6
    by_id = {c.id: c for c in children}
    for trial in dist.trials:
        child = by_id[trial.run_id]
        assert child.params == {k: str(v) for k, v in trial.params.items()}
        assert child.metrics["cv_accuracy"] == pytest.approx(trial.score)
        assert child.inputs[0].dataset == "points"
    parent = tuning_yard.runs.get(dask_id)
    assert parent.metrics["best_cv_accuracy"] == pytest.approx(dist.best_score)
    assert parent.params["best.max_depth"] == str(dist.best_params["max_depth"])
    mv = dist.model_version
    assert mv.run_id == dist.best.run_id and mv.name == "points-tree"
    X = _frame().drop(columns=["ts", "target"])
    np.testing.assert_array_equal(tuning_yard.models.load(mv.ref).predict(X),
                                  dist.estimator.predict(X))


def test_random_search_draws_n_trials_from_distributions(tuning_yard: my.Yard,
                                                         dask_executor: DaskExecutor) -> None:
    space = {"max_depth": {"dist": "randint", "low": 2, "high": 10},
             "min_impurity_decrease": {"dist": "loguniform", "low": 1e-5, "high": 1e-2},
             "criterion": {"dist": "choice", "values": ["gini", "entropy"]}}
    with tuning_yard.start_run(experiment="points") as run:
        a = run.search(DecisionTreeClassifier(random_state=0), space, X=_frame()[["a", "b"]],
                       y=_frame()["target"], n_trials=5, executor=dask_executor)
        b = run.search(DecisionTreeClassifier(random_state=0), space, X=_frame()[["a", "b"]],
                       y=_frame()["target"], n_trials=5, executor=SerialExecutor())
    assert len(a.trials) == 5 and [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.score for t in a.trials] == [t.score for t in b.trials]


def test_bad_spaces_are_named(tuning_yard: my.Yard) -> None:
    tree = DecisionTreeClassifier()
    points = tuning_yard.datasets.get("points")
    cases = [({"depth": [2]}, {}, "does not have"),
             ({"max_depth": {"dist": "uniform", "low": 1, "high": 5}}, {}, "needs n_trials"),
             ({"max_depth": {"dist": "normal", "low": 1}}, {"n_trials": 2}, "a distribution"),
             ({"max_depth": []}, {}, "at least one value"),
             ({"max_depth": [2]}, {"label": "nope"}, "label must be a column")]
    with tuning_yard.start_run(experiment="points") as run:
        for space, extra, message in cases:
            kwargs = {"data": points, "label": "target", **extra}
            with pytest.raises(InvalidParameter, match=message):
                run.search(tree, space, executor=SerialExecutor(), **kwargs)


FACTORY = textwrap.dedent('''
    from sklearn.tree import DecisionTreeClassifier

    def tree():
        return DecisionTreeClassifier(random_state=0)
''')


def test_cli_search(tuning_yard: my.Yard, tmp_path: Path) -> None:
    (tmp_path / "factories.py").write_text(FACTORY)
    (tmp_path / "space.yaml").write_text("max_depth: [2, 4]\nmin_samples_leaf: [1, 5]\n")
    home = ["--home", str(tuning_yard.settings.home)]
    args = ["search", "factories:tree", "--data", "points", "--label", "target", "--space",
            str(tmp_path / "space.yaml"), "--executor", "serial", "--code-path", str(tmp_path)]
    done = CliRunner().invoke(app, [*home, *args, "--register", "points-cli"])
    assert done.exit_code == 0, done.output
    assert "registered points-cli/1" in done.output and "search run" in done.output
    bad = CliRunner().invoke(app, [*home, *args[:-4], "--code-path", str(tmp_path),
                                   "--executor", "serial", "--trials", "0"])
    assert bad.exit_code == 2
    (tmp_path / "space.yaml").write_text("- 1\n- 2\n")
    bad = CliRunner().invoke(app, [*home, *args])
    assert bad.exit_code == 1 and "must hold a mapping" in bad.output
