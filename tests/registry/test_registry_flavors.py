"""One conformance battery run on every flavor (like scikit-learn's parametrize_with_checks):
each case is a real model trained here on scikit-learn's bundled data, registered, loaded back
and checked the same way."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import registry_fixtures
from sklearn.datasets import load_breast_cancer, load_diabetes

import modelyard as my
from modelyard.config import Settings
from modelyard.errors import IntegrityError, SchemaMismatch
from modelyard.registry.entities import manifest_digest


@dataclass
class Case:
    model: Any
    X: pd.DataFrame | np.ndarray
    flavor: str
    expected: Callable[[Any], np.ndarray]  # what the original model predicts
    expected_proba: Callable[[Any], np.ndarray] | None = None
    library: str | None = None  # the library the manifest must record
    register: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-9

    @property
    def frame(self) -> pd.DataFrame:
        if isinstance(self.X, pd.DataFrame):
            return self.X
        return pd.DataFrame(self.X, columns=[f"f{i}" for i in range(self.X.shape[1])])


@functools.cache
def _cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:, :8], y


@functools.cache
def _diabetes() -> tuple[pd.DataFrame, pd.Series]:
    return load_diabetes(return_X_y=True, as_frame=True)  # type: ignore[no-any-return]


def sklearn_classifier() -> Case:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    return Case(model, X, "sklearn", model.predict, model.predict_proba, "scikit-learn")


def sklearn_regressor_array() -> Case:
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = _diabetes()
    arr = X.to_numpy()
    model = HistGradientBoostingRegressor(max_iter=5, max_depth=3).fit(arr, y)
    return Case(model, arr, "sklearn", lambda a: model.predict(np.asarray(a)), None,
                "scikit-learn")


def xgboost_classifier() -> Case:
    import xgboost as xgb

    X, y = _cancer()
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    return Case(model, X, "xgboost", model.predict, model.predict_proba, "xgboost", rtol=1e-6)


def xgboost_booster() -> Case:
    import xgboost as xgb

    X, y = _diabetes()
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=y),
                        num_boost_round=5)
    return Case(booster, X, "xgboost", lambda a: booster.predict(xgb.DMatrix(a)), None,
                "xgboost", rtol=1e-6)


def lightgbm_classifier() -> Case:
    import lightgbm as lgb

    X, y = _cancer()
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(X, y)
    return Case(model, X, "lightgbm", model.predict, model.predict_proba, "lightgbm")


def lightgbm_booster() -> Case:
    import lightgbm as lgb

    X, y = _diabetes()
    booster = lgb.train({"objective": "regression", "num_leaves": 4, "verbose": -1,
                         "num_threads": 1}, lgb.Dataset(X, label=y), num_boost_round=5)
    return Case(booster, X, "lightgbm", booster.predict, None, "lightgbm")


def onnx_from_sklearn() -> Case:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    # float32 inside ONNX: probabilities agree to ~1e-6, labels exactly
    return Case(model, X, "onnx", model.predict, model.predict_proba, "onnxruntime",
                register={"flavor": "onnx"}, rtol=1e-4)


def onnx_model_proto() -> Case:
    from skl2onnx import to_onnx
    from sklearn.linear_model import Ridge

    X, y = _diabetes()
    ridge = Ridge().fit(X.to_numpy(np.float32), y)
    proto = to_onnx(ridge, X.to_numpy(np.float32)[:1])
    return Case(proto, X.to_numpy(np.float32), "onnx",
                lambda a: ridge.predict(np.asarray(a, dtype=np.float32)), None, "onnx",
                rtol=1e-4)


def pytorch_module() -> Case:
    torch = pytest.importorskip("torch")
    X, y = _diabetes()
    torch.manual_seed(0)
    net = registry_fixtures.TinyNet(n_in=X.shape[1], hidden=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.tensor(X.to_numpy(np.float32))
    target = torch.tensor(((y - y.mean()) / y.std()).to_numpy(np.float32)).reshape(-1, 1)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), target).backward()
        opt.step()
    net.eval()

    def expected(a: Any) -> np.ndarray:
        with torch.no_grad():
            return net(torch.tensor(np.asarray(a, dtype=np.float32))).numpy().ravel()

    return Case(net, X, "pytorch", expected, None, "torch",
                register={"init_kwargs": {"n_in": X.shape[1], "hidden": 8}}, rtol=1e-6)


def pyfunc_config() -> Case:
    X, _ = _cancer()
    model = registry_fixtures.ThresholdModel("mean radius", 14.0)
    return Case(model, X, "pyfunc", model.predict, model.predict_proba, "numpy")


def pyfunc_dict() -> Case:
    X, _ = _diabetes()
    model = registry_fixtures.LinearModel({"bmi": 2.0, "bp": -1.0}, 0.5)
    return Case(model, X, "pyfunc", model.predict, None, "numpy")


CASES: dict[str, Callable[[], Case]] = {
    f.__name__: f
    for f in (sklearn_classifier, sklearn_regressor_array, xgboost_classifier, xgboost_booster,
              lightgbm_classifier, lightgbm_booster, onnx_from_sklearn, onnx_model_proto,
              pytorch_module, pyfunc_config, pyfunc_dict)
}


@functools.cache
def case(name: str) -> Case:
    return CASES[name]()


@pytest.fixture(scope="module")
def shared_yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    """One SQLite yard for the checks that do not damage their store."""
    home = tmp_path_factory.mktemp("flavors")
    y = my.connect(settings=Settings.load({}, home=home))
    yield y
    y.close()


def _register(yard: my.Yard, c: Case, name: str) -> Any:
    return yard.models.register(c.model, name, example=c.X[:5], **c.register)


def _close(actual: Any, expected: Any, rtol: float) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(actual, expected)


# ---- the checks ------------------------------------------------------------------------------
def check_round_trip(yard: my.Yard, c: Case, name: str) -> None:
    mv = _register(yard, c, name)
    assert mv.flavor == c.flavor
    loaded = yard.models.load(f"{name}/{mv.version}")
    _close(loaded.predict(c.X), c.expected(c.X), c.rtol)
    assert hasattr(loaded, "predict_proba") == (c.expected_proba is not None)
    if c.expected_proba is not None:
        _close(loaded.predict_proba(c.X), c.expected_proba(c.X), c.rtol)


def check_one_row_and_other_inputs(yard: my.Yard, c: Case, name: str) -> None:
    _register(yard, c, name)
    loaded = yard.models.load(name)
    frame = c.frame
    _close(loaded.predict(frame.iloc[:1]), c.expected(c.X[:1]), c.rtol)
    _close(loaded.predict(pl.from_pandas(frame.iloc[:7])), c.expected(c.X[:7]), c.rtol)
    records = frame.iloc[:3].to_dict(orient="records")
    _close(loaded.predict(records), c.expected(c.X[:3]), c.rtol)
    # extra columns are dropped and the order is the signature's
    shuffled = frame.iloc[:4, ::-1].assign(unused="x")
    _close(loaded.predict(shuffled), c.expected(c.X[:4]), c.rtol)


def check_signature_inferred(yard: my.Yard, c: Case, name: str) -> None:
    mv = _register(yard, c, name)
    assert mv.signature is not None
    assert mv.signature.input_names == [str(col) for col in c.frame.columns]
    assert {col.type for col in mv.signature.inputs} == {"float"}
    assert mv.signature.outputs and mv.signature.outputs[0].name.startswith("prediction")


def check_missing_column_named(yard: my.Yard, c: Case, name: str) -> None:
    _register(yard, c, name)
    loaded = yard.models.load(name)
    first = str(c.frame.columns[0])
    with pytest.raises(SchemaMismatch, match=f"Column '{first}' is missing") as info:
        loaded.predict(c.frame.iloc[:2].drop(columns=[first]))
    assert info.value.field == first


def check_wrong_type_named(yard: my.Yard, c: Case, name: str) -> None:
    _register(yard, c, name)
    loaded = yard.models.load(name)
    bad = c.frame.iloc[:2].astype(object)
    column = str(bad.columns[1])
    bad[column] = [0.5, "abc"]
    with pytest.raises(SchemaMismatch,
                       match=f"Column '{column}' must be float. Got 'abc' \\(str\\) in row 1"):
        loaded.predict(bad)


def check_manifest_records_versions(yard: my.Yard, c: Case, name: str) -> None:
    mv = _register(yard, c, name)
    assert c.library in mv.requirements
    assert {"numpy", "python"} <= set(mv.requirements)
    assert mv.digest == manifest_digest(mv.manifest())
    assert all(yard.backend.blobs.exists(d) for d in mv.files.values())
    assert yard.models.get(mv.ref) == mv


def check_second_load_uses_cache(yard: my.Yard, c: Case, name: str) -> None:
    mv = _register(yard, c, name)
    yard.models.load(mv.ref)
    cache = yard.models.cache_dir(mv)
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) \
        == sorted(mv.files)
    # a damaged cached file is noticed and fetched again
    victim = cache / max(mv.files)
    victim.write_bytes(b"damaged")
    loaded = yard.models.load(mv.ref)
    _close(loaded.predict(c.X[:3]), c.expected(c.X[:3]), c.rtol)


CHECKS = [check_round_trip, check_one_row_and_other_inputs, check_signature_inferred,
          check_missing_column_named, check_wrong_type_named, check_manifest_records_versions,
          check_second_load_uses_cache]


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case_name", list(CASES))
def test_flavor_conformance(shared_yard: my.Yard, case_name: str,
                            check: Callable[[my.Yard, Case, str], None]) -> None:
    name = f"{case_name}-{check.__name__}".replace("_", "-")
    check(shared_yard, case(case_name), name)


@pytest.mark.parametrize("case_name", list(CASES))
def test_flavor_tampered_blob_refused(local_yard: my.Yard, case_name: str) -> None:
    c = case(case_name)
    mv = _register(local_yard, c, "tampered")
    main_file = mv.options.get("file", min(mv.files))
    path = Path(local_yard.backend.blobs.blob_path(mv.files[main_file]))
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(IntegrityError, match="corrupt"):
        local_yard.models.load(mv.ref)
