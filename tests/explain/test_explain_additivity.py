"""Attributions plus the base value add up to the model's output, for every flavor: exact
TreeSHAP for trees (the libraries' own contributions for XGBoost and LightGBM), permutation SHAP
for the rest (ONNX, pyfunc, a scikit-learn pipeline with text), each in its stated space."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from explain_models import Scorer, log_as_served
from sklearn.datasets import load_breast_cancer, load_iris

import modelyard as my


@pytest.fixture(scope="module")
def eyard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    home = tmp_path_factory.mktemp("explain")
    yard = my.connect(settings=my.Settings.load({}, home=home / "home"))
    yield yard
    yard.close()


def _cancer() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8]
    X.columns = [c.replace(" ", "_") for c in X.columns]
    return X, y.to_numpy()


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y.to_numpy()


def _gb() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier
    X, y = _cancer()
    return GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y), X


def _rf() -> Any:
    from sklearn.ensemble import RandomForestClassifier
    X, y = _iris()
    return RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(X, y), X


def _hgb() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    X, y = _iris()
    return HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y), X


def _tree_reg() -> Any:
    from sklearn.tree import DecisionTreeRegressor
    X, _ = _iris()
    return DecisionTreeRegressor(max_depth=4, random_state=0).fit(
        X.drop(columns="petal_width"), X["petal_width"]), X.drop(columns="petal_width")


def _xgb_binary() -> Any:
    import xgboost as xgb
    X, y = _cancer()
    return xgb.XGBClassifier(n_estimators=15, max_depth=3).fit(X, y), X


def _xgb_multi() -> Any:
    import xgboost as xgb
    X, y = _iris()
    return xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X, y), X


def _xgb_reg() -> Any:
    import xgboost as xgb
    X, _ = _iris()
    return xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(
        X.drop(columns="petal_width"), X["petal_width"]), X.drop(columns="petal_width")


def _lgb_binary() -> Any:
    import lightgbm as lgb
    X, y = _cancer()
    return lgb.LGBMClassifier(n_estimators=15, num_leaves=8, verbose=-1).fit(X, y), X


def _lgb_multi() -> Any:
    import lightgbm as lgb
    X, y = _iris()
    return lgb.LGBMClassifier(n_estimators=10, num_leaves=6, min_child_samples=5,
                              verbose=-1).fit(X, y), X


def _onnx() -> Any:
    from sklearn.linear_model import LogisticRegression
    X, y = _iris()
    return LogisticRegression(max_iter=500).fit(X.astype(np.float32), y), X.astype(np.float32)


def _pyfunc() -> Any:
    X, _ = _iris()
    return Scorer("sepal_length", "petal_width"), X[["sepal_length", "petal_width"]]


def _pipeline() -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    X, y = _iris()
    X = X.assign(band=np.where(X["sepal_length"] > 5.8, "</script>long", "short"))
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["band"]),
                                                  remainder="passthrough"),
                          LogisticRegression(max_iter=500))
    return model.fit(X, y), X


# name -> (build, flavor to register with, engine, output space)
CASES: dict[str, tuple[Callable[[], Any], str | None, str, str]] = {
    "sklearn-gradient-boosting": (_gb, None, "shap.TreeExplainer", "log-odds"),
    "sklearn-random-forest": (_rf, None, "shap.TreeExplainer", "probability"),
    "sklearn-hist-gradient-boosting": (_hgb, None, "shap.TreeExplainer", "margin"),
    "sklearn-tree-regressor": (_tree_reg, None, "shap.TreeExplainer", "raw"),
    "xgboost-binary": (_xgb_binary, None, "xgboost.pred_contribs", "log-odds"),
    "xgboost-multiclass": (_xgb_multi, None, "xgboost.pred_contribs", "margin"),
    "xgboost-regressor": (_xgb_reg, None, "xgboost.pred_contribs", "raw"),
    "lightgbm-binary": (_lgb_binary, None, "lightgbm.pred_contrib", "log-odds"),
    "lightgbm-multiclass": (_lgb_multi, None, "lightgbm.pred_contrib", "margin"),
    "onnx": (_onnx, "onnx", "permutation", "probability"),
    "pyfunc": (_pyfunc, None, "permutation", "raw"),
    "sklearn-pipeline-with-text": (_pipeline, None, "permutation", "probability"),
}


def _sigmoid(m: float) -> float:
    return float(1 / (1 + np.exp(-m)))


@pytest.mark.parametrize("case", list(CASES))
def test_attributions_add_up_to_the_output(eyard: my.Yard, case: str) -> None:
    build, flavor, method, space = CASES[case]
    model, X = build()
    mv = eyard.models.register(model, case, example=X.head(40), flavor=flavor)
    ids = log_as_served(eyard, mv.ref, X.iloc[[3, 120 if len(X) > 120 else 7]])
    for pid in ids:
        e = eyard.explain(pid)
        assert (e.method, e.output_space, e.flavor) == (method, space, mv.flavor)
        assert e.digest == mv.digest and e.prediction_id == pid
        total = e.base_value + sum(a.attribution for a in e.attributions)
        assert total == pytest.approx(e.output_value, abs=1e-5 * max(1.0, abs(e.output_value)))
        assert e.additivity_error <= 1e-5 * max(1.0, abs(e.output_value))
        assert [a.feature for a in e.attributions] == list(X.columns)
        logged = eyard.predictions.get(pid).outputs
        proba = logged.get("proba")
        if space == "probability":
            assert e.output_value == pytest.approx(proba[e.target], abs=1e-6)
        elif space == "log-odds":  # the positive class's probability through the logistic link
            assert list(proba)[-1] == e.target
            assert _sigmoid(e.output_value) == pytest.approx(proba[e.target], abs=1e-5)
        elif space == "margin":  # multiclass: the predicted class, whose logged probability
            assert e.target == str(logged["prediction"])
            assert e.probability == pytest.approx(proba[e.target], abs=1e-9)
        else:
            assert e.output_value == pytest.approx(float(logged["prediction"]), rel=1e-5)
        if method == "permutation":
            assert e.background is not None and e.background.source == "example"
            assert e.seed == 0 and e.permutations and len(e.background.rows_digest) == 64


def test_an_explanation_is_cached_by_prediction_and_digest(eyard: my.Yard) -> None:
    model, X = _xgb_binary()
    mv = eyard.models.register(model, "cached", example=X.head(10))
    (pid,) = log_as_served(eyard, mv.ref, X.iloc[[5]])
    first = eyard.explain(pid)
    second = eyard.explain(pid)
    assert not first.cached and second.cached
    assert second.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})


def test_permutation_shap_is_exact_for_two_features(eyard: my.Yard) -> None:
    """With two features one ordering and its reverse are all orderings: the antithetic
    estimate is the exact Shapley value (with independent masking) of a nonlinear model."""
    model, X = _pyfunc()
    mv = eyard.models.register(model, "exact2", example=X.head(25))
    (pid,) = log_as_served(eyard, mv.ref, X.iloc[[60]])
    e = eyard.explain(pid)
    assert e.background is not None and e.background.n_rows == 5  # the stored example rows
    bg = X.head(5).reset_index(drop=True)
    x = X.iloc[60]

    def v(on: set[str]) -> float:  # mean output with the features in `on` taken from x
        frame = bg.copy()
        for c in on:
            frame[c] = x[c]
        return float(model.predict(frame).mean())

    a, b = "sepal_length", "petal_width"
    exact_a = 0.5 * (v({a}) - v(set())) + 0.5 * (v({a, b}) - v({b}))
    exact_b = 0.5 * (v({b}) - v(set())) + 0.5 * (v({a, b}) - v({a}))
    got = {f.feature: f.attribution for f in e.attributions}
    assert got[a] == pytest.approx(exact_a, abs=1e-12)
    assert got[b] == pytest.approx(exact_b, abs=1e-12)
    assert e.base_value == pytest.approx(v(set()), abs=1e-12)


def test_the_waterfall_text_shows_base_bars_and_output(eyard: my.Yard) -> None:
    model, X = _gb()
    mv = eyard.models.register(model, "waterfall", example=X.head(10))
    (pid,) = log_as_served(eyard, mv.ref, X.iloc[[2]])
    text = eyard.explain(pid).to_text(n=3)
    lines = text.splitlines()
    assert lines[0] == "waterfall/1 · shap.TreeExplainer · log-odds of class 1"
    assert lines[1].startswith("base value") and lines[-1].startswith("output")
    assert "5 other features" in text and "█" in text and "(probability " in lines[-1]


def test_missing_files_are_not_needed(tmp_path: Path) -> None:
    """Explaining reads nothing but the yard: a fresh process' cache folder is filled on use."""
    yard = my.connect(settings=my.Settings.load({}, home=tmp_path / "home"))
    model, X = _lgb_binary()
    mv = yard.models.register(model, "fresh", example=X.head(10))
    assert not yard.models.cache_dir(mv).exists()  # registration leaves no cached copy
    (pid,) = log_as_served(yard, mv.ref, X.iloc[[1]])
    assert yard.explain(pid).method == "lightgbm.pred_contrib"
    yard.close()
