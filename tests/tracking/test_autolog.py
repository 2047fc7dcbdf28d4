"""``yard.autolog()`` with real scikit-learn, XGBoost and LightGBM fits on bundled data."""

from __future__ import annotations

from collections.abc import Iterator

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sklearn.base
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import modelyard as my
from modelyard.tracking import autolog
from modelyard.tracking.runs import active_run


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    autolog.disable()


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200, :6], y.iloc[:200]


def test_a_classifier_fit_logs_params_metrics_and_model(
    tyard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    tyard.autolog()
    with tyard.start_run(experiment="cancer") as run:
        model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    got = tyard.runs.get(run.id)
    assert got.params["max_depth"] == "3" and got.params["criterion"] == "gini"
    assert got.metrics["training_accuracy"] == pytest.approx(model.score(X, y))
    assert 0 < got.metrics["training_f1"] <= 1
    # the model is an artifact of the run (MLflow's convention), registered only when asked
    assert tyard.models.versions_of_run(run.id) == []
    paths = {a.path for a in tyard.runs.artifacts(run.id)}
    assert {"model/model.skops", "model/modelyard-model.json"} <= paths
    mv = tyard.models.register_from_run(run.id, "cancer-tree")
    assert (mv.name, mv.flavor, mv.run_id) == ("cancer-tree", "sklearn", run.id)
    assert mv.signature is not None
    assert [c.name for c in mv.signature.inputs] == list(X.columns)  # type: ignore[attr-defined]
    loaded = tyard.models.load(mv.ref)
    np.testing.assert_array_equal(loaded.predict(X.iloc[:5]), model.predict(X.iloc[:5]))


def test_a_search_under_an_experiment_does_not_become_a_version_of_its_model(
    tyard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    """Issue 17: a GridSearch under experiment "cancer" must not move the quickstart's model."""
    X, y = cancer
    production = tyard.models.register(LogisticRegression(max_iter=300).fit(X, y), "cancer",
                                       example=X[:5])
    tyard.models.set_alias("cancer", "production", production.version)
    tyard.autolog()
    with tyard.start_run(experiment="cancer") as run:
        GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2]}, cv=2).fit(X, y)
    assert tyard.models.get_model("cancer").latest_version == production.version
    assert tyard.models.versions_of_run(run.id) == []
    assert "model/modelyard-model.json" in {a.path for a in tyard.runs.artifacts(run.id)}


def test_registered_model_name_registers_each_logged_model(
    local_yard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    local_yard.autolog(registered_model_name="trees")
    with local_yard.start_run(experiment="cancer") as run:
        model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    (mv,) = local_yard.models.versions_of_run(run.id)
    assert mv.ref == "trees/1" and mv.run_id == run.id
    np.testing.assert_array_equal(local_yard.models.load("trees/1").predict(X), model.predict(X))
    with pytest.raises(my.InvalidParameter, match="needs log_models=True"):
        local_yard.autolog(log_models=False, registered_model_name="trees")


def test_register_from_run_names_what_a_run_logged(local_yard: my.Yard) -> None:
    X, y = load_diabetes(return_X_y=True)
    local_yard.autolog()
    with local_yard.start_run() as run:
        LinearRegression().fit(X[:50], y[:50])
    with pytest.raises(my.InvalidParameter,
                       match=r"no model logged under 'best'.*Models it logged: \['model'\]"):
        local_yard.models.register_from_run(run.id, "lin", path="best")


def test_a_regressor_logs_r2_and_mse(local_yard: my.Yard) -> None:
    X, y = load_diabetes(return_X_y=True)
    local_yard.autolog(log_models=False)
    with local_yard.start_run() as run:
        LinearRegression().fit(X[:100], y[:100])
    got = local_yard.runs.get(run.id)
    assert set(got.metrics) == {"training_r2", "training_mse"}
    assert got.params["fit_intercept"] == "True"
    assert local_yard.models.versions_of_run(run.id) == []


def test_a_pipeline_logs_once_as_a_whole(local_yard: my.Yard,
                                         cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    local_yard.autolog()
    with local_yard.start_run(experiment="pipe") as run:
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    got = local_yard.runs.get(run.id)
    assert got.params["logisticregression__C"] == "1.0" and "steps" in got.params
    assert [a.path for a in local_yard.runs.artifacts(run.id)
            if a.path.endswith(".skops")] == ["model/model.skops"]
    assert len(local_yard.runs.search()) == 1  # the steps' fits started no runs


def test_a_search_outside_a_run_logs_one_run_without_its_inner_fits(
    local_yard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    local_yard.autolog(log_models=False)
    search = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2]}, cv=2)
    search.fit(X, y)
    (run,) = local_yard.runs.search()
    assert run.status == "FINISHED" and run.experiment == "default"
    assert run.params["best_max_depth"] == str(search.best_params_["max_depth"])
    assert run.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert active_run() is None


def test_a_failing_fit_outside_a_run_marks_its_run_failed(local_yard: my.Yard) -> None:
    local_yard.autolog()
    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers"):
        LogisticRegression().fit(np.zeros((4, 2)), [0, 1])
    (run,) = local_yard.runs.search()
    assert run.status == "FAILED" and "inconsistent numbers" in (run.error or "")


def test_a_second_fit_in_a_run_keeps_the_first_params(
    local_yard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    local_yard.autolog(log_models=False)
    with local_yard.start_run() as run:
        DecisionTreeClassifier(max_depth=2).fit(X, y)
        DecisionTreeClassifier(max_depth=4, min_samples_leaf=3).fit(X, y)
    got = local_yard.runs.get(run.id)
    assert got.status == "FINISHED"
    assert got.params["max_depth"] == "2" and got.params["min_samples_leaf"] == "1"


def test_estimators_defined_after_enable_are_logged(
    local_yard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    local_yard.autolog(log_models=False)

    class Majority(sklearn.base.ClassifierMixin, sklearn.base.BaseEstimator):
        def __init__(self, label: int = 1) -> None:
            self.label = label

        def fit(self, X: object, y: object) -> Majority:
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.full(len(X), self.label)

    with local_yard.start_run() as run:
        Majority().fit(X, y)
    got = local_yard.runs.get(run.id)
    assert got.params == {"label": "1"} and got.metrics["training_accuracy"] == pytest.approx(y.mean())


def test_xgboost_logs_each_boosting_round(
    tyard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    tyard.autolog()
    with tyard.start_run(experiment="xgb") as run:
        xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(X, y, eval_set=[(X, y)], verbose=False)
    got = tyard.runs.get(run.id)
    assert got.params["n_estimators"] == "4" and "training_accuracy" in got.metrics
    assert [m.step for m in tyard.runs.metric_history(run.id, "validation_0-logloss")] == [0, 1, 2, 3]
    assert tyard.models.register_from_run(run.id, "xgb").flavor == "xgboost"


def test_xgboost_train_logs_params_rounds_and_booster(
    local_yard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    local_yard.autolog()
    data = xgb.DMatrix(X, label=y)
    with local_yard.start_run(experiment="booster") as run:
        xgb.train({"objective": "binary:logistic", "max_depth": 2}, data, 3,
                  evals=[(data, "train")], verbose_eval=False)
    got = local_yard.runs.get(run.id)
    assert got.params == {"objective": "binary:logistic", "max_depth": "2", "num_boost_round": "3"}
    assert len(local_yard.runs.metric_history(run.id, "train-logloss")) == 3
    assert local_yard.models.register_from_run(run.id, "booster").flavor == "xgboost"


def test_lightgbm_sklearn_and_train_log_their_evaluations(
    local_yard: my.Yard, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    local_yard.autolog(log_models=False)
    with local_yard.start_run() as run:
        lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y, eval_X=(X,), eval_y=(y,))
    history = local_yard.runs.get(run.id).metrics
    assert "training_accuracy" in history and any(k.endswith("binary_logloss") for k in history)
    with local_yard.start_run() as booster_run:
        train = lgb.Dataset(X, label=y)
        lgb.train({"objective": "binary", "verbose": -1}, train, 3, valid_sets=[train],
                  valid_names=["fit"])
    assert len(local_yard.runs.metric_history(booster_run.id, "fit-binary_logloss")) == 3
    assert local_yard.runs.get(booster_run.id).params["num_boost_round"] == "3"


def test_disable_restores_every_patch(local_yard: my.Yard,
                                      cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    originals = (DecisionTreeClassifier.fit, xgb.train, lgb.train, xgb.XGBClassifier.fit)
    local_yard.autolog()
    assert DecisionTreeClassifier.fit is not originals[0] and xgb.train is not originals[1]
    autolog.disable()
    assert (DecisionTreeClassifier.fit, xgb.train, lgb.train, xgb.XGBClassifier.fit) == originals
    assert "__init_subclass__" not in vars(sklearn.base.BaseEstimator)
    DecisionTreeClassifier().fit(X, y)
    assert local_yard.runs.search() == []
