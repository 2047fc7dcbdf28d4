"""A loaded model as the server uses it: input checks against the signature, a lean path from
JSON rows to the model's frame, and outputs as lists.

The registry's ``LoadedModel`` (``yard.models.load(ref)``) does the flavor work; this module
only avoids per-request overhead around it: for an all-numeric signature a request becomes one
float64 numpy array in signature order (no pandas per row). Gathering concurrent requests into
one call is ``batching.py``'s job.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, SchemaMismatch

__all__ = ["ModelHandle", "Prepared", "load_handle"]

log = logging.getLogger("modelyard.serving")

_NUMERIC = ("float", "int")


class Prepared:
    """One request's rows, checked: ``x`` (a float64 matrix in signature order, or a
    DataFrame), the row count and each row's inputs for the log."""

    __slots__ = ("inputs", "n", "x")

    def __init__(self, x: Any, n: int, inputs: list[dict[str, Any]]) -> None:
        self.x = x
        self.n = n
        self.inputs = inputs


class ModelHandle:
    """A model version ready to serve. Build it with :func:`load_handle`."""

    def __init__(self, loaded: Any, ref: str) -> None:
        self.loaded = loaded
        self.ref = ref
        version = loaded.version
        self.name: str = version.name
        self.version: int = int(version.version)
        self.flavor: str = getattr(version, "flavor", "unknown")
        self.label = f"{self.name}/{self.version}"
        self.signature = getattr(loaded, "signature", None)
        cols = list(self.signature.inputs) if self.signature is not None else []
        self.columns = cols
        self.names: list[str] = [c.name for c in cols]
        self.types: dict[str, str] = {c.name: c.type for c in cols}
        self.numeric = bool(cols) and all(c.type in _NUMERIC for c in cols)
        self.float_only = bool(cols) and all(c.type == "float" for c in cols)
        self.has_proba = callable(getattr(loaded, "predict_proba", None))
        # The flavor's own predictor takes the frame as is: this module has already checked it
        # against the signature, so going through LoadedModel.predict would check it twice.
        predictor = loaded.predictor
        self._predict = predictor.predict
        self._proba = getattr(predictor, "predict_proba", None) if self.has_proba else None
        self.classes: list[str] | None = None
        self._np = _numpy_estimator(loaded, self.names) if self.float_only else None
        if self._np is not None:  # the estimator itself, fed the checked float matrix
            self._predict = self._np.predict
            if self._proba is not None:
                self._proba = self._np.predict_proba
        # the flavor's predictor takes the checked float matrix as is (no frame around it)
        self._takes_matrix = self._np is not None or (self.float_only
                                                      and self.flavor == "pytorch")
        self._argmax_classes = _argmax_classes(loaded) if self._proba is not None else None
        self.sample: Any = None  # one prediction of the warm-up (its type is the output's)

    # ---- inputs ---------------------------------------------------------------------------
    def prepare_records(self, records: Any) -> Prepared:
        if not isinstance(records, list) or not records:
            raise SchemaMismatch("'records' must be a non-empty list of objects (one per row). "
                                 f"Got {_kind(records)} instead.", field="records")
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise SchemaMismatch(f"'records' must hold objects (one per row). Got "
                                     f"{_kind(r)} in row {i}.", field="records")
        if not self.names:
            return Prepared(pd.DataFrame.from_records(records), len(records), records)
        names = self.names
        try:
            inputs = [{n: r[n] for n in names} for r in records]
        except KeyError:
            for r in records:
                for n in names:
                    if n not in r:
                        raise _missing(n, names) from None
            raise
        if self.numeric:
            x = _numeric_matrix([[row[n] for n in names] for row in inputs])
            if x is not None:
                return self._finish(x, inputs)
        return self._finish(pd.DataFrame.from_records(inputs, columns=names), inputs)

    def prepare_columns(self, columns: Any) -> Prepared:
        if not isinstance(columns, dict) or not columns:
            raise SchemaMismatch("'columns' must be a non-empty object of column name -> list "
                                 f"of values. Got {_kind(columns)} instead.", field="columns")
        lengths = set()
        for k, v in columns.items():
            if not isinstance(v, list):
                raise SchemaMismatch(f"Column {k!r} must be a list of values. Got {_kind(v)}.",
                                     field=k)
            lengths.add(len(v))
        if len(lengths) != 1 or 0 in lengths:
            raise SchemaMismatch("Every column must hold the same number of values (at least "
                                 f"one). Got lengths {sorted(lengths)}.", field="columns")
        n = lengths.pop()
        names = self.names or list(columns)
        for name in names:
            if name not in columns:
                raise _missing(name, names)
        inputs = [{name: columns[name][i] for name in names} for i in range(n)]
        if self.numeric:
            x = _numeric_matrix([list(r) for r in zip(*(columns[name] for name in names))])
            if x is not None:
                return self._finish(x, inputs)
        return self._finish(pd.DataFrame({name: columns[name] for name in names}), inputs)

    def prepare_matrix(self, rows: list[list[Any]]) -> Prepared:
        """Rows of values in signature order (the V2 protocol's one 2-D tensor)."""
        names = self.names
        if any(not isinstance(r, list) or len(r) != len(names) for r in rows):
            raise SchemaMismatch(f"Each row must hold {len(names)} values, one per column "
                                 f"{names}.", field="inputs")
        inputs = [dict(zip(names, r)) for r in rows]
        if self.numeric:
            x = _numeric_matrix(rows)
            if x is not None:
                return self._finish(x, inputs)
        return self._finish(pd.DataFrame(rows, columns=names), inputs)

    def _finish(self, x: Any, inputs: list[dict[str, Any]]) -> Prepared:
        if isinstance(x, np.ndarray):
            if self.float_only:
                return Prepared(x, len(inputs), inputs)
            x = pd.DataFrame(x, columns=self.names)
        from ..registry.signature import enforce

        if self.signature is not None:
            x = enforce(self.signature, x)
        return Prepared(x, len(inputs), inputs)

    # ---- predicting -----------------------------------------------------------------------
    def frame(self, x: Any) -> Any:
        if isinstance(x, np.ndarray):
            if self._takes_matrix:
                return x
            return pd.DataFrame(x, columns=self.names, copy=False)
        return x  # type: ignore[no-any-return]

    def run(self, x: Any) -> tuple[list[Any], np.ndarray | None]:
        """Predictions (as a list) and class probabilities (n x k, or None) of ``x``."""
        df = self.frame(x)
        if self._argmax_classes is not None:
            # predict() of these estimators is the class of highest probability: one pass
            # over the model instead of two, unless a row has a tie
            proba = np.asarray(self._proba(df), dtype=np.float64)
            top = np.sort(proba, axis=1)
            if proba.ndim == 2 and (top[:, -1] - top[:, -2] > 1e-9).all():
                if self.classes is None:
                    self.classes = _classes(self.loaded, proba.shape[1])
                return self._argmax_classes[proba.argmax(axis=1)].tolist(), proba
        preds = self._predict(df)
        proba = None
        if self._proba is not None:
            proba = self._proba(df)
            if isinstance(proba, pd.DataFrame):
                if self.classes is None:
                    self.classes = [str(c) for c in proba.columns]
                proba = proba.to_numpy()
            proba = np.asarray(proba, dtype=np.float64)
            if proba.ndim != 2:
                proba = None
            elif self.classes is None:
                self.classes = _classes(self.loaded, proba.shape[1])
        return _to_list(preds), proba

    def warm(self) -> None:
        """One prediction on a made-up row, so the first request pays no lazy setup."""
        row: dict[str, Any] = {}
        for c in self.columns:
            row[c.name] = {"float": 0.0, "int": 0, "bool": False, "string": "",
                           "datetime": "2000-01-01T00:00:00"}.get(c.type, "")
            if c.type == "category" and c.categories:
                row[c.name] = c.categories[0]
        if not row:
            return
        try:
            preds, _ = self.run(self.prepare_records([row]).x)
            self.sample = preds[0] if preds else None
        except Exception as exc:  # noqa: BLE001 - warming is best effort
            log.info("warm-up prediction of %s failed: %s", self.label, exc)

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.label, "flavor": self.flavor,
            "inputs": [{"name": c.name, "type": c.type, "nullable": c.nullable}
                       for c in self.columns],
            "classes": self.classes,
        }


def load_handle(yard: Any, ref: str, device: str | None = None, *,
                warm: bool = True) -> ModelHandle:
    """Load ``ref`` from the yard's registry (or ``bundle:<folder>`` from a bundle made by
    ``modelyard build``), move it to ``device`` (PyTorch models; None or ``cpu``: the CPU)
    and warm it."""
    if ref.startswith("bundle:"):
        from .build import load_bundle

        loaded = load_bundle(ref[len("bundle:"):])
    else:
        loaded = yard.models.load(ref)
    if device is not None and device != "cpu":
        to_device = getattr(loaded.predictor, "to_device", None)
        if to_device is None:
            raise InvalidParameter(
                f"Model {ref} ({loaded.flavor} flavor) runs on the CPU only: device must be "
                f"'cpu' (or unset) for it. Got {device!r}; only PyTorch models can choose a "
                "device.", field="device")
        try:
            to_device(device)
        except (RuntimeError, AssertionError) as exc:  # no such device here
            raise InvalidParameter(f"Model {ref} cannot be moved to device {device!r}: "
                                   f"{exc}", field="device") from exc
    handle = ModelHandle(loaded, ref)
    if warm:
        handle.warm()
    return handle


# scikit-learn classifiers whose predict() is classes_[argmax(predict_proba())] (ties aside)
_ARGMAX_CLASSIFIERS = {
    "GradientBoostingClassifier", "HistGradientBoostingClassifier", "RandomForestClassifier",
    "ExtraTreesClassifier", "DecisionTreeClassifier", "ExtraTreeClassifier",
    "LogisticRegression", "KNeighborsClassifier", "GaussianNB",
}


def _numpy_estimator(loaded: Any, names: list[str]) -> Any:
    """For a plain scikit-learn estimator whose input columns are exactly the signature's (same
    names, same order), an estimator that takes the float matrix as is: a shallow copy without
    ``feature_names_in_``, so scikit-learn neither converts a DataFrame nor warns about missing
    names (the column check was done against the signature). None otherwise."""
    if getattr(loaded, "flavor", None) != "sklearn":
        return None
    model = getattr(loaded, "model", None)
    if model is None or hasattr(model, "steps") \
            or not type(model).__module__.startswith("sklearn."):
        return None
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None:
        return model if getattr(model, "n_features_in_", None) == len(names) else None
    if [str(n) for n in fitted] != names or "feature_names_in_" not in vars(model):
        return None
    clone = copy.copy(model)
    del clone.feature_names_in_
    return clone


def _argmax_classes(loaded: Any) -> np.ndarray | None:
    if getattr(loaded, "flavor", None) != "sklearn":
        return None
    model = getattr(loaded, "model", None)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if type(final).__name__ not in _ARGMAX_CLASSIFIERS \
            or not type(final).__module__.startswith("sklearn."):
        return None
    classes = getattr(model, "classes_", None)
    return np.asarray(classes) if classes is not None and len(classes) >= 2 else None


def _classes(loaded: Any, k: int) -> list[str]:
    for obj in (loaded, getattr(loaded, "model", None), getattr(loaded, "raw", None)):
        classes = getattr(obj, "classes_", None) if obj is not None else None
        if classes is None and obj is not None:
            classes = getattr(obj, "classes", None)
        if classes is not None and not callable(classes) and len(classes) == k:
            return [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    return [str(i) for i in range(k)]


def _to_list(preds: Any) -> list[Any]:
    if isinstance(preds, (pd.DataFrame, pd.Series)):
        preds = preds.to_numpy()
    if isinstance(preds, np.ndarray):
        if preds.ndim == 2 and preds.shape[1] == 1:
            preds = preds[:, 0]
        return preds.tolist()  # type: ignore[no-any-return]
    return list(preds)


def _numeric_matrix(rows: Sequence[Sequence[Any]]) -> np.ndarray | None:
    """A float64 matrix when every value is a real number (not bool, not text); else None
    (the caller falls back to the signature's full checks, which name the bad value)."""
    for row in rows:
        for v in row:
            t = type(v)
            if t is not float and t is not int:
                return None
    try:
        return np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None


def _missing(name: str, names: list[str]) -> SchemaMismatch:
    return SchemaMismatch(f"Column {name!r} is missing. The model expects columns {names}.",
                          field=name)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return repr(value)[:80]


