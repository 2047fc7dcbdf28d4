"""``yard.models``: register, load by version/alias/latest, aliases, journal, and the safety
rules of each flavor (no untrusted types, no pickle, importable classes only)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import registry_fixtures
import sqlalchemy as sa
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import modelyard as my
from modelyard.errors import IntegrityError, InvalidParameter, SchemaMismatch, UnsafeModelError
from modelyard.registry.entities import Manifest
from modelyard.registry.flavors.base import get_flavor
from modelyard.registry.flavors.sklearn import trusted_types
from modelyard.registry.models import LoadedModel


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.iloc[:80, :4], y.iloc[:80]


def _linear(diabetes: tuple[pd.DataFrame, pd.Series], scale: float = 1.0) -> LinearRegression:
    X, y = diabetes
    return LinearRegression().fit(X, y * scale)


def test_register_and_load_by_version_alias_and_latest(yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    first, second = _linear(diabetes), _linear(diabetes, scale=2.0)
    v1 = yard.models.register(first, "loans", example=X[:5], description="baseline")
    v2 = yard.models.register(second, "loans", example=X[:5])
    yard.models.set_alias("loans", "production", v1.version, reason="safe default")
    by_alias = yard.models.load("loans@production")
    assert isinstance(by_alias, LoadedModel) and by_alias.version == yard.models.get("loans/1")
    np.testing.assert_allclose(by_alias.predict(X), first.predict(X))
    np.testing.assert_allclose(yard.models.load("loans/2").predict(X), second.predict(X))
    assert yard.models.load("loans").version.version == v2.version
    assert by_alias.signature == v1.signature and by_alias.flavor == "sklearn"
    pd.testing.assert_frame_equal(by_alias.input_example, X[:5].reset_index(drop=True))


def test_aliases_history_tags_descriptions_and_journal(yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    for scale in (1.0, 2.0):
        yard.models.register(_linear(diabetes, scale), "loans", example=X[:3])
    yard.models.set_alias("loans", "production", 1)
    yard.models.set_alias("loans", "production", 2, reason="retrained")
    yard.models.delete_alias("loans", "production", reason="incident 42")
    assert [(e.old_version, e.new_version) for e in yard.models.alias_history("loans")] == [
        (None, 1), (1, 2), (2, None)]
    assert yard.models.set_tag("loans", "validated", "yes", version=2).tags == {
        "validated": "yes"}
    assert yard.models.set_tag("loans", "team", "credit").tags == {"team": "credit"}
    assert yard.models.delete_tag("loans", "team").tags == {}
    assert yard.models.set_description("loans", "v2 notes", version=2).description == \
        "v2 notes"
    assert yard.models.set_description("loans", "risk model").description == "risk model"
    yard.models.journal("loans", "Rolled back after incident 42.")
    yard.models.journal("loans", "Overfits on 2025 cohort.", version=2)
    assert [e.text for e in yard.models.journal_entries("loans")] == [
        "Rolled back after incident 42.", "Overfits on 2025 cohort."]
    assert [e.version for e in yard.models.journal_entries("loans", version=2)] == [2]
    assert [m.name for m in yard.models.list()] == ["loans"]
    assert yard.models.get_model("loans").latest_version == 2
    assert [v.version for v in yard.models.versions("loans")] == [1, 2]
    assert [m.name for m in yard.models.search("loa")] == ["loans"]


def test_log_model_links_the_version_to_its_run(local_yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    with local_yard.start_run(experiment="loans") as run:
        mv = run.log_model(_linear(diabetes), name="loans", example=X[:5])
    assert mv.run_id == run.id
    assert [v.ref for v in local_yard.models.versions_of_run(run.id)] == ["loans/1"]


@pytest.mark.parametrize("ref", ["loans@", "loans/x", "loans/-1", "", "lo ans"])
def test_bad_refs_explain_the_forms(local_yard: my.Yard, ref: str) -> None:
    with pytest.raises(InvalidParameter, match="'name' .*'name/3'.*'name@alias'"):
        local_yard.models.load(ref)


def test_load_checks_the_signature_first(local_yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    local_yard.models.register(_linear(diabetes), "loans", example=X[:5])
    model = local_yard.models.load("loans")
    with pytest.raises(SchemaMismatch, match="Column 'bmi' is missing"):
        model.predict(X.drop(columns=["bmi"]))
    with pytest.raises(SchemaMismatch, match="Column 'age' must be float. Got 'old'"):
        model.predict({"age": ["old"], "sex": [1.0], "bmi": [0.1], "bp": [0.2]})


def test_predict_on_zero_rows_is_an_empty_result(local_yard: my.Yard, diabetes) -> None:
    """scikit-learn raises on an empty frame; a loaded model answers no rows with no rows."""
    X, y = diabetes
    from sklearn.linear_model import LogisticRegression

    local_yard.models.register(_linear(diabetes), "reg", example=X[:5])
    local_yard.models.register(LogisticRegression().fit(X, y > y.median()), "clf",
                               example=X[:5])
    reg, clf = local_yard.models.load("reg"), local_yard.models.load("clf")
    out = reg.predict(X.iloc[:0])
    assert out.shape == (0,) and out.dtype == np.float64
    assert clf.predict(X.iloc[:0]).shape == (0,)
    assert clf.predict_proba(X.iloc[:0]).shape == (0, 2)
    with pytest.raises(SchemaMismatch, match="is missing"):
        reg.predict(X.iloc[:0, :2])


def test_without_example_there_is_no_signature(local_yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    mv = local_yard.models.register(_linear(diabetes), "loans")
    assert mv.signature is None and "input_example.json" not in mv.files
    model = local_yard.models.load("loans")
    np.testing.assert_allclose(model.predict(X), _linear(diabetes).predict(X))


def test_second_load_is_served_from_the_cache(local_yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    mv = local_yard.models.register(_linear(diabetes), "loans", example=X[:5])
    local_yard.models.load(mv.ref)
    for digest in mv.files.values():  # the store loses the files: the verified cache remains
        Path(local_yard.backend.blobs.blob_path(digest)).unlink()
    np.testing.assert_allclose(local_yard.models.load(mv.ref).predict(X),
                               _linear(diabetes).predict(X))


def test_tampered_manifest_is_refused(local_yard: my.Yard, diabetes) -> None:
    mv = local_yard.models.register(_linear(diabetes), "loans")
    db = local_yard.backend.db
    with db.write() as conn:
        conn.execute(sa.text("UPDATE model_versions SET flavor = 'pyfunc'"))
    with pytest.raises(IntegrityError, match="loans/1 is corrupt"):
        local_yard.models.load(mv.ref)


def test_flavor_name_is_checked(local_yard: my.Yard, diabetes) -> None:
    with pytest.raises(InvalidParameter, match="flavor must be one of onnx, pytorch"):
        local_yard.models.register(_linear(diabetes), "loans", flavor="pickle")


def test_object_without_flavor_is_refused(local_yard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="Cannot tell how to save a builtins.object"):
        local_yard.models.register(object(), "loans")


def test_init_kwargs_only_for_pytorch(local_yard: my.Yard, diabetes) -> None:
    with pytest.raises(InvalidParameter, match="init_kwargs is only used by the pytorch"):
        local_yard.models.register(_linear(diabetes), "loans", init_kwargs={"n": 1})


def test_onnx_conversion_needs_an_example(local_yard: my.Yard, diabetes) -> None:
    with pytest.raises(InvalidParameter, match="needs example="):
        local_yard.models.register(_linear(diabetes), "loans", flavor="onnx")


# ---- sklearn: skops without untrusted types ------------------------------------------------
def test_skops_refuses_a_function_of_our_own_module(local_yard: my.Yard, diabetes) -> None:
    X, y = diabetes
    model = make_pipeline(FunctionTransformer(registry_fixtures.log1p_columns),
                          LinearRegression()).fit(X, y)
    with pytest.raises(UnsafeModelError,
                       match="'registry_fixtures.log1p_columns', which is not on the allowlist"):
        local_yard.models.register(model, "loans", example=X[:5])
    assert local_yard.models.list() == []


def test_skops_refuses_an_untrusted_file_at_load(local_yard: my.Yard, diabetes,
                                                  tmp_path: Path) -> None:
    """A file registered by other means (an old client, a direct upload) is checked again
    before anything in it is loaded."""
    import skops.io as sio

    X, y = diabetes
    model = make_pipeline(FunctionTransformer(registry_fixtures.log1p_columns),
                          LinearRegression()).fit(X, y)
    sio.dump(model, tmp_path / "model.skops")
    digest = local_yard.backend.blobs.put_file(tmp_path / "model.skops")
    local_yard.backend.registry.create_model_version(
        name="evil", manifest=Manifest(flavor="sklearn", options={"file": "model.skops"},
                                       files={"model.skops": digest}))
    with pytest.raises(UnsafeModelError, match="registry_fixtures.log1p_columns"):
        local_yard.models.load("evil/1")


def test_skops_refuses_builtin_eval(tmp_path: Path) -> None:
    import skops.io as sio

    sio.dump(FunctionTransformer(eval), tmp_path / "m.skops")
    with pytest.raises(UnsafeModelError, match="'builtins.eval'"):
        trusted_types(tmp_path / "m.skops")


def test_skops_allows_library_types(tmp_path: Path, diabetes) -> None:
    import skops.io as sio
    from sklearn.ensemble import RandomForestRegressor

    X, y = diabetes
    sio.dump(RandomForestRegressor(n_estimators=2, max_depth=2).fit(X, y), tmp_path / "m.skops")
    names = trusted_types(tmp_path / "m.skops")  # every type the file names, each checked
    assert {"sklearn.ensemble._forest.RandomForestRegressor", "sklearn.tree._tree.Tree",
            "sklearn.tree._classes.DecisionTreeRegressor"} <= set(names)


# ---- pyfunc: by reference, JSON state ------------------------------------------------------
def test_pyfunc_keeps_the_source_file_of_its_class(local_yard: my.Yard, diabetes) -> None:
    X, _ = diabetes
    mv = local_yard.models.register(registry_fixtures.LinearModel({"bmi": 1.0}, 0.0), "lin",
                                    example=X[:3])
    assert mv.options["class"] == "registry_fixtures:LinearModel"
    assert mv.options["source"] == "source/registry_fixtures.py"
    cached = local_yard.models.load(mv.ref).path / "source" / "registry_fixtures.py"
    assert cached.read_text() == Path(registry_fixtures.__file__).read_text()


def test_pyfunc_state_must_be_json(local_yard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="must be JSON-serialisable.*to_config"):
        local_yard.models.register(registry_fixtures.OpaqueModel(), "opaque")


def test_pyfunc_class_must_be_importable(local_yard: my.Yard) -> None:
    class Local:
        def predict(self, df: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(df))

    with pytest.raises(InvalidParameter, match="must be importable.*defined in a function"):
        local_yard.models.register(Local(), "local")


def test_manifest_class_is_checked_before_it_is_called(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{}")
    with pytest.raises(InvalidParameter, match="'subprocess:Popen' must be a class with a "
                                               "predict method"):
        get_flavor("pyfunc").load(tmp_path, {"class": "subprocess:Popen", "state": "dict"})


# ---- pytorch: optional extra, weights only -------------------------------------------------
def test_pytorch_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ImportError, match=r"pip install modelyard\[torch\]"):
        get_flavor("pytorch").load(tmp_path, {"class": "registry_fixtures:TinyNet"})


def test_pytorch_refuses_a_class_that_is_not_a_module(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with pytest.raises(InvalidParameter, match="must be a subclass of torch.nn"):
        get_flavor("pytorch").load(tmp_path, {"class": "subprocess:Popen",
                                              "init_kwargs": {"args": ["true"]}})


def test_pytorch_needs_the_constructor_arguments(local_yard: my.Yard) -> None:
    pytest.importorskip("torch")
    net = registry_fixtures.TinyNet(n_in=3, hidden=4)
    with pytest.raises(InvalidParameter, match="does not rebuild this module.*init_kwargs="):
        local_yard.models.register(net, "net", example=np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(InvalidParameter, match="init_kwargs must be JSON"):
        local_yard.models.register(net, "net", init_kwargs={"n_in": object()})
