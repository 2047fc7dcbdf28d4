"""The sklearn flavor trusts exact types, never a package prefix, and loads fast: every model
the tests use round-trips, a private numpy I/O function is refused, and a fresh process loads a
model without walking scikit-learn (so without torch, dask or pytest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris

from modelyard.errors import UnsafeModelError
from modelyard.registry.flavors.sklearn import flavor, is_trusted, skops_io, trusted_types


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:200, :6], y.iloc[:200]


def _models() -> dict[str, Callable[[pd.DataFrame, pd.Series], Any]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )
    from sklearn.tree import DecisionTreeClassifier

    def binned(X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        out["band"] = np.where(X.iloc[:, 0] > X.iloc[:, 0].median(), "high", "low")
        return out

    return {
        "scaled logistic": lambda X, y: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y),
        "ridge": lambda X, y: Ridge().fit(X, y),
        "forest": lambda X, y: RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        "gradient boosting": lambda X, y: GradientBoostingClassifier(n_estimators=3).fit(X, y),
        "hist gradient boosting": lambda X, y: HistGradientBoostingClassifier(
            max_iter=3).fit(X.to_numpy(), y),
        "isolation forest": lambda X, y: IsolationForest(n_estimators=5, random_state=0).fit(X),
        "grid search": lambda X, y: GridSearchCV(
            DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2]}, cv=2).fit(X, y),
        "log1p": lambda X, y: make_pipeline(
            FunctionTransformer(np.log1p), LogisticRegression(max_iter=300)).fit(X, y),
        "one-hot": lambda X, y: make_pipeline(
            OneHotEncoder(handle_unknown="ignore"), LogisticRegression()).fit(
                binned(X)[["band"]], y),
        "column transformer": lambda X, y: make_pipeline(
            ColumnTransformer([("cat", OrdinalEncoder(handle_unknown="use_encoded_value",
                                                      unknown_value=-1), ["band"])],
                              remainder="passthrough"),
            HistGradientBoostingClassifier(max_iter=3)).fit(binned(X), y),
    }


@pytest.mark.parametrize("kind", sorted(_models()))
def test_every_model_kind_the_tests_use_round_trips(kind: str, cancer, tmp_path: Path) -> None:
    X, y = cancer
    model = _models()[kind](X, y)
    options = flavor.save(model, tmp_path, None)
    loaded = flavor.load(tmp_path, options).model
    frame = X if kind not in ("one-hot", "column transformer") else None
    if frame is not None:
        data = frame.to_numpy() if kind == "hist gradient boosting" else frame
        method = "score_samples" if kind == "isolation forest" else "predict"
        np.testing.assert_allclose(getattr(loaded, method)(data), getattr(model, method)(data))


def test_a_private_numpy_io_function_is_refused(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    sio = skops_io()
    reader = np.lib._npyio_impl._read  # numpy's private text reader: it opens files
    assert reader.__module__ == "numpy.lib._npyio_impl"
    sio.dump(FunctionTransformer(reader), tmp_path / "model.skops")
    with pytest.raises(UnsafeModelError, match="'numpy.lib._npyio_impl._read'"):
        trusted_types(tmp_path / "model.skops")
    with pytest.raises(UnsafeModelError, match="_npyio_impl"):
        flavor.load(tmp_path, {"file": "model.skops"})


@pytest.mark.parametrize("name", [
    "numpy.load", "numpy.save", "numpy.fromfile", "numpy.lib._npyio_impl.loadtxt",
    "numpy.lib.format.read_array", "scipy.io.loadmat", "sklearn.datasets.fetch_openml",
    "sklearn.utils._testing.TempMemmap", "sklearn.base.clone", "builtins.eval", "os.system",
    "sklearn.externals.array_api_compat.torch.asarray", "numpy.linalg.norm",
])
def test_names_under_trusted_packages_are_not_trusted_by_prefix(name: str) -> None:
    assert not is_trusted(name)


@pytest.mark.parametrize("name", [
    "sklearn.linear_model._logistic.LogisticRegression", "sklearn.pipeline.Pipeline",
    "sklearn.tree._tree.Tree", "numpy.float64", "numpy.log1p", "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix", "builtins.dict", "sklearn.model_selection._split.KFold",
])
def test_exact_library_types_are_trusted(name: str) -> None:
    assert is_trusted(name)


def _fresh(script: str) -> Any:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=300, env=os.environ.copy())
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_fresh_process_loads_a_model_without_walking_scikit_learn(cancer, tmp_path: Path
                                                                    ) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = cancer
    options = flavor.save(LogisticRegression(max_iter=300).fit(X, y), tmp_path, None)
    modules = _fresh(
        "import sys, json\n"
        "from pathlib import Path\n"
        "from modelyard.registry.flavors.sklearn import flavor\n"
        f"flavor.load(Path({str(tmp_path)!r}), {options!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    tops = {m.split(".")[0] for m in modules}
    assert sorted(tops & {"torch", "dask", "pytest", "_pytest"}) == []
    # all_estimators imports sklearn.utils._testing; the walk imports every sklearn module
    assert "sklearn.utils._testing" not in modules
    assert "sklearn.gaussian_process" not in modules and "sklearn.semi_supervised" not in modules


def test_the_stand_in_lists_equal_skops_own(tmp_path: Path) -> None:
    """skops' cheap default lists, computed by skops itself (its slow walk switched off), are
    the stand-in's; the two slow ones are the stand-in's empty lists."""
    names = ["PRIMITIVE_TYPE_NAMES", "CONTAINER_TYPE_NAMES", "NUMPY_UFUNC_TYPE_NAMES",
             "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES", "NUMPY_DTYPE_TYPE_NAMES"]
    real = _fresh(
        "import sys, json\n"
        "import sklearn.utils\n"
        "sklearn.utils.all_estimators = lambda *a, **k: []\n"
        "import skops.io._trusted_types as t\n"
        f"print(json.dumps({{n: getattr(t, n) for n in {names!r}}}))\n"
    )
    ours = _fresh(
        "import sys, json\n"
        "from modelyard.registry.flavors.sklearn import skops_io\n"
        "skops_io()\n"
        "t = sys.modules['skops.io._trusted_types']\n"
        f"print(json.dumps({{n: getattr(t, n) for n in {names!r}}}))\n"
    )
    assert ours == real


def test_a_file_that_is_not_a_skops_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"not a zip")
    with pytest.raises(UnsafeModelError, match="must be a skops file"):
        trusted_types(tmp_path / "model.skops")


def test_iris_multiclass_model_loads_by_exact_types(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = load_iris(return_X_y=True)
    options = flavor.save(HistGradientBoostingClassifier(max_iter=3).fit(X, y), tmp_path, None)
    assert "sklearn._loss._loss.CyHalfMultinomialLoss" in trusted_types(tmp_path / "model.skops")
    assert flavor.load(tmp_path, options).model.predict(X).shape == (150,)


def test_a_stand_in_that_lacks_a_name_falls_back_to_skops_own_module() -> None:
    """A skops release that imports a name the stand-in does not define still loads."""
    result = _fresh(
        "import sys, json\n"
        "import sklearn.utils\n"
        "sklearn.utils.all_estimators = lambda *a, **k: []  # only to keep this test fast\n"
        "from modelyard.registry.flavors import sklearn as flavor\n"
        "full = flavor._trusted_types_stand_in\n"
        "def lacking():\n"
        "    module = full()\n"
        "    del module.NUMPY_DTYPE_TYPE_NAMES\n"
        "    return module\n"
        "flavor._trusted_types_stand_in = lacking\n"
        "sio = flavor.skops_io()\n"
        "t = sys.modules['skops.io._trusted_types']\n"
        "print(json.dumps([callable(sio.load), hasattr(t, 'NUMPY_DTYPE_TYPE_NAMES'),\n"
        "                  t.__doc__ is None or 'stand-in' not in t.__doc__]))\n"
    )
    assert result == [True, True, True]
