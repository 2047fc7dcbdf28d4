"""scikit-learn models, saved with skops and loaded without pickle.

On load, every type in the file that skops does not trust by default is checked against an
allowlist (scikit-learn, numpy, scipy, collections, a few plain builtins, the xgboost and
lightgbm scikit-learn wrappers); anything else — a function of the author's own module,
``builtins.eval`` … — raises :class:`~modelyard.errors.UnsafeModelError` naming the type, and
nothing in the file is executed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import UnsafeModelError
from .base import Predictor

__all__ = ["SAFE_NAMES", "SAFE_PREFIXES", "SklearnFlavor", "flavor", "trusted_types"]

FILE = "model.skops"
# skops walks the file with ``ast``; on CPython 3.11 two threads doing that at once can fail
# with "AST constructor recursion depth mismatch" (a model server loading two routes, say), so
# every skops call here takes this lock.
_SKOPS_LOCK = threading.Lock()
SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "collections.")
SAFE_NAMES = frozenset({
    *(f"builtins.{t}" for t in ("int", "float", "complex", "bool", "str", "bytes", "bytearray",
                                "list", "tuple", "dict", "set", "frozenset", "slice", "range",
                                "NoneType", "type", "object")),
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "xgboost.sklearn.XGBRanker",
    "xgboost.sklearn.XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
})
# inside the allowed packages: entry points that read or write files or load native code
# (a FunctionTransformer could call them on the data it is given)
DENIED_PREFIXES = ("numpy.load", "numpy.save", "numpy.fromfile", "numpy.memmap",
                   "numpy.genfromtxt", "numpy.lib.npyio", "numpy.lib.format", "numpy.ctypeslib",
                   "numpy.f2py", "numpy.testing", "numpy.distutils", "scipy.io",
                   "sklearn.utils._testing", "sklearn.datasets")


def _is_safe(type_name: str) -> bool:
    if type_name in SAFE_NAMES:
        return True
    if type_name.startswith(DENIED_PREFIXES):
        return False
    return type_name.startswith(SAFE_PREFIXES)


def trusted_types(file: str | Path) -> list[str]:
    """The untrusted-by-default types in a skops file, all of which must be on the allowlist;
    raises :class:`UnsafeModelError` naming the first that is not."""
    import skops.io as sio

    with _SKOPS_LOCK:
        names = sio.get_untrusted_types(file=file)
    unsafe = [n for n in names if not _is_safe(n)]
    if unsafe:
        raise UnsafeModelError(
            f"Refusing to load {Path(file).name}: it contains the type {unsafe[0]!r}, which is "
            "not on the allowlist of scikit-learn, numpy, scipy and a few builtins"
            + (f" (also: {', '.join(unsafe[1:6])})" if len(unsafe) > 1 else "")
            + ". Loading it could run arbitrary code; register the model with only library "
            "types, or use the pyfunc flavor for custom code.",
            field="model",
        )
    return list(names)


class _SklearnPredictor:
    def __init__(self, model: Any) -> None:
        self.model = model
        # fitted on a DataFrame: give it one (its column names are checked); else an array
        self._frame = hasattr(model, "feature_names_in_")
        if hasattr(model, "predict_proba"):
            self.predict_proba = self._predict_proba

    def _input(self, df: pd.DataFrame) -> Any:
        return df if self._frame else df.to_numpy()

    def predict(self, df: pd.DataFrame) -> Any:
        return self.model.predict(self._input(df))

    def _predict_proba(self, df: pd.DataFrame) -> Any:
        return self.model.predict_proba(self._input(df))


class SklearnFlavor:
    name = "sklearn"
    libraries = ("scikit-learn", "skops")

    def detect(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover - scikit-learn is a core dependency
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        import skops.io as sio

        with _SKOPS_LOCK:
            sio.dump(model, path / FILE)
        # refuse at registration what would be refused at load
        trusted_types(path / FILE)
        return {"file": FILE, "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        import skops.io as sio

        file = path / options.get("file", FILE)
        trusted = trusted_types(file)
        with _SKOPS_LOCK:
            model = sio.load(file, trusted=trusted)
        return _SklearnPredictor(model)


flavor = SklearnFlavor()
