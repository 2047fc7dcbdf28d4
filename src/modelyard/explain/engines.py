"""Explanation engines: how the attributions of one model's outputs are computed.

One engine per kind of model, chosen by :func:`engine_for` from the loaded version:

- XGBoost: the booster's own exact TreeSHAP, ``predict(pred_contribs=True)``;
- LightGBM: the booster's own exact TreeSHAP, ``predict(pred_contrib=True)``;
- scikit-learn trees (decision trees, random forests, extra trees, gradient boosting, histogram
  gradient boosting): exact TreeSHAP with ``shap.TreeExplainer``;
- anything else (pipelines, linear models, ONNX, Python functions, PyTorch …): model-agnostic
  permutation SHAP against a background sample (:mod:`modelyard.explain.agnostic`).

As ``shap/explainers/_tree.py`` does, tree contributions are taken in the model's margin
space: they add up to the raw margin (log-odds of a binary classifier, the softmax logit of a
multiclass one), not to the probability; the last column of the libraries' matrices is the bias
(the base value); multiclass shapes differ between XGBoost (``strict_shape``: rows x classes x
(features + 1)) and LightGBM (rows x classes*(features + 1), flattened class by class). Every
engine also computes the model's own output in that space, independently of the
contributions, so the caller can check additivity.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..errors import InvalidParameter

__all__ = [
    "Attributions",
    "Engine",
    "LightGBMEngine",
    "SklearnTreeEngine",
    "XGBoostEngine",
    "class_labels",
    "engine_for",
    "is_tree_model",
    "shap_module",
]

_SMALL = 64  # rows up to which the boosters predict on one thread (no pool to wake up)


@dataclass
class Attributions:
    """``values``: rows x features; ``base`` and ``output``: one value per row, in ``space``;
    ``target``: the class index explained per row (None for a single-output model)."""

    values: np.ndarray
    base: np.ndarray
    output: np.ndarray
    target: list[int | None]
    space: str
    link: str


class Engine(Protocol):
    method: str
    needs_background: bool

    def explain(self, frame: pd.DataFrame, predicted: np.ndarray | None) -> Attributions:
        """Attributions of the rows of ``frame`` (already checked against the signature).
        ``predicted``: each row's predicted class index, for multiclass models."""
        ...


def shap_module() -> Any:
    """``shap``, or an ImportError naming the extra that installs it."""
    try:
        import shap
    except ImportError as exc:
        raise ImportError(
            "Explaining this model needs shap, which is not installed. Install it with: "
            "pip install modelyard[explain]") from exc
    return shap


def _pick(matrix: np.ndarray, predicted: np.ndarray | None, n: int) -> list[int | None]:
    """The class explained per row: the positive class of a single-margin model (index 0 of
    its one output), else the predicted class."""
    k = matrix.shape[1]
    if k == 1:
        return [None] * n
    if predicted is None:
        raise InvalidParameter("a multiclass explanation needs the predicted class of each row.",
                               field="predicted")
    return [int(i) for i in predicted]


def _gather(contribs: np.ndarray, margin: np.ndarray,
            target: list[int | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From rows x classes x (features + 1) contributions and rows x classes margins: each
    row's attributions, bias and margin for its class."""
    rows = np.arange(contribs.shape[0])
    cls = np.array([0 if t is None else t for t in target], dtype=np.intp)
    chosen = contribs[rows, cls, :]
    return chosen[:, :-1], chosen[:, -1], margin[rows, cls]


# ---- XGBoost ----------------------------------------------------------------------------------
_XGB_LINKS = {
    "binary:logistic": ("log-odds", "logistic"), "reg:logistic": ("log-odds", "logistic"),
    "multi:softprob": ("margin", "softmax"), "multi:softmax": ("margin", "softmax"),
    "count:poisson": ("log", "exp"), "reg:gamma": ("log", "exp"), "reg:tweedie": ("log", "exp"),
    "survival:cox": ("log", "exp"),
}


class XGBoostEngine:
    """An XGBoost booster's own TreeSHAP (``pred_contribs``)."""

    method = "xgboost.pred_contribs"
    needs_background = False

    def __init__(self, model: Any, enable_categorical: bool = False) -> None:
        self.model = model
        self.booster = model.get_booster() if hasattr(model, "get_booster") else model
        self.enable_categorical = enable_categorical
        objective = json.loads(self.booster.save_config())["learner"]["objective"]["name"]
        self.objective = objective
        self.space, self.link = _XGB_LINKS.get(objective, ("raw", "identity"))
        self._lock = threading.Lock()
        self._threads: int | None = None

    def _matrix(self, frame: pd.DataFrame) -> Any:
        import xgboost as xgb

        b = self.booster
        if self.enable_categorical:
            return xgb.DMatrix(frame, enable_categorical=True, nthread=1)
        numeric = frame.to_numpy(dtype=np.float32)
        if b.feature_names is None:
            return xgb.DMatrix(numeric, nthread=1)
        return xgb.DMatrix(numeric, feature_names=b.feature_names,
                           feature_types=b.feature_types, nthread=1)

    def explain(self, frame: pd.DataFrame, predicted: np.ndarray | None) -> Attributions:
        dm = self._matrix(frame)
        threads = 1 if len(frame) <= _SMALL else 0
        with self._lock:
            if threads != self._threads:
                self.booster.set_param({"nthread": threads})
                self._threads = threads
            contribs = np.asarray(self.booster.predict(dm, pred_contribs=True, strict_shape=True),
                                  dtype=np.float64)
            margin = np.asarray(self.booster.predict(dm, output_margin=True, strict_shape=True),
                                dtype=np.float64)
        target = _pick(margin, predicted, len(frame))
        values, base, output = _gather(contribs, margin, target)
        return Attributions(values, base, output, target, self.space, self.link)


# ---- LightGBM ---------------------------------------------------------------------------------
def _lgbm_link(objective: str) -> tuple[str, str]:
    kind = objective.split(" ", 1)[0]
    if kind in ("binary", "cross_entropy", "xentropy", "multiclassova", "ova"):
        return "log-odds", "logistic"
    if kind in ("multiclass", "softmax"):
        return "margin", "softmax"
    if kind in ("poisson", "gamma", "tweedie"):
        return "log", "exp"
    return "raw", "identity"


class LightGBMEngine:
    """A LightGBM booster's own TreeSHAP (``pred_contrib``)."""

    method = "lightgbm.pred_contrib"
    needs_background = False

    def __init__(self, booster: Any) -> None:
        self.booster = getattr(booster, "booster_", booster)
        self.space, self.link = _lgbm_link(str(self.booster.dump_model(num_iteration=0)
                                               .get("objective", "regression")))

    def explain(self, frame: pd.DataFrame, predicted: np.ndarray | None) -> Attributions:
        categorical = any(isinstance(t, pd.CategoricalDtype) for t in frame.dtypes)
        data: Any = frame if categorical else frame.to_numpy(dtype=np.float64)
        threads = 1 if len(frame) <= _SMALL else 0
        opts = {"num_threads": threads} if threads else {}
        flat = np.asarray(self.booster.predict(data, pred_contrib=True, **opts), dtype=np.float64)
        margin = np.asarray(self.booster.predict(data, raw_score=True, **opts), dtype=np.float64)
        n, p1 = len(frame), frame.shape[1] + 1
        margin = margin.reshape(n, -1)
        contribs = flat.reshape(n, margin.shape[1], p1)  # flattened class by class
        target = _pick(margin, predicted, n)
        values, base, output = _gather(contribs, margin, target)
        return Attributions(values, base, output, target, self.space, self.link)


# ---- scikit-learn trees (shap.TreeExplainer) --------------------------------------------------
# estimator class -> (space, link) of TreeExplainer's raw output
_SKLEARN_TREES = {
    "DecisionTreeClassifier": ("probability", "identity"),
    "ExtraTreeClassifier": ("probability", "identity"),
    "RandomForestClassifier": ("probability", "identity"),
    "ExtraTreesClassifier": ("probability", "identity"),
    "DecisionTreeRegressor": ("raw", "identity"),
    "ExtraTreeRegressor": ("raw", "identity"),
    "RandomForestRegressor": ("raw", "identity"),
    "ExtraTreesRegressor": ("raw", "identity"),
    "GradientBoostingRegressor": ("raw", "identity"),
    "HistGradientBoostingRegressor": ("raw", "identity"),
    "GradientBoostingClassifier": ("log-odds", "logistic"),
    "HistGradientBoostingClassifier": ("log-odds", "logistic"),
}


def _sklearn_tree_kind(model: Any) -> tuple[str, str] | None:
    cls = type(model)
    if not cls.__module__.startswith("sklearn.") or cls.__name__ not in _SKLEARN_TREES:
        return None
    space, link = _SKLEARN_TREES[cls.__name__]
    classes = getattr(model, "classes_", None)
    if link == "logistic" and classes is not None and len(classes) > 2:
        if cls.__name__ == "GradientBoostingClassifier":
            return None  # shap's TreeExplainer explains only its binary case
        return "margin", "softmax"
    return space, link


class SklearnTreeEngine:
    """Exact TreeSHAP of a scikit-learn tree model with ``shap.TreeExplainer``."""

    method = "shap.TreeExplainer"
    needs_background = False

    def __init__(self, model: Any) -> None:
        kind = _sklearn_tree_kind(model)
        if kind is None:
            raise InvalidParameter(f"{type(model).__qualname__} is not a tree model shap's "
                                   "TreeExplainer explains exactly.", field="model")
        self.model = model
        self.space, self.link = kind
        self._explainer = shap_module().TreeExplainer(model)
        self._lock = threading.Lock()
        # the estimator fed the checked float matrix as is (the columns were checked against
        # the signature): a shallow copy without feature_names_in_, so scikit-learn neither
        # converts a frame nor warns about names (what the model server does too)
        self._numpy = copy.copy(model)
        if "feature_names_in_" in vars(self._numpy):
            del self._numpy.feature_names_in_

    def _margin(self, x: np.ndarray) -> np.ndarray:
        m = self._numpy
        if self.space == "probability":
            out = m.predict_proba(x)
        elif self.link in ("logistic", "softmax"):
            out = m.decision_function(x)
        else:
            out = m.predict(x)
        out = np.asarray(out, dtype=np.float64)
        return out.reshape(len(x), -1)

    def explain(self, frame: pd.DataFrame, predicted: np.ndarray | None) -> Attributions:
        x = frame.to_numpy(dtype=np.float64)
        with self._lock:
            raw = np.asarray(self._explainer.shap_values(x, check_additivity=False),
                             dtype=np.float64)
            expected = np.atleast_1d(np.asarray(self._explainer.expected_value, dtype=np.float64))
        margin = self._margin(x)
        if raw.ndim == 2:  # one output: rows x features
            raw = raw[:, :, None]
        n, _p, k = raw.shape
        if margin.shape[1] == 2 and k == 2 and self.space == "probability":
            target = [1] * n  # a binary classifier's probabilities: explain the positive class
        else:
            target = _pick(margin, predicted, n)
        cls = np.array([0 if t is None else t for t in target], dtype=np.intp)
        rows = np.arange(n)
        values = raw[rows, :, cls]
        base = expected[cls] if len(expected) > 1 else np.repeat(expected[0], n)
        return Attributions(values, base, margin[rows, cls], target, self.space, self.link)


# ---- choosing ---------------------------------------------------------------------------------
def is_tree_model(loaded: Any) -> bool:
    """Whether the loaded version gets exact TreeSHAP (no background data needed)."""
    if loaded.flavor in ("xgboost", "lightgbm"):
        return True
    return loaded.flavor == "sklearn" and _sklearn_tree_kind(loaded.model) is not None


def engine_for(loaded: Any, background: Any = None) -> Engine:
    """The engine of a loaded model version (``yard.models.load``). ``background`` (a
    :class:`~modelyard.explain.agnostic.Background`) is needed by the model-agnostic engine
    only (see :func:`is_tree_model`)."""
    flavor = loaded.flavor
    if flavor == "xgboost":
        return XGBoostEngine(loaded.model,
                             bool(loaded.version.options.get("enable_categorical")))
    if flavor == "lightgbm":
        return LightGBMEngine(loaded.model)
    if flavor == "sklearn" and _sklearn_tree_kind(loaded.model) is not None:
        return SklearnTreeEngine(loaded.model)
    from .agnostic import PermutationEngine

    if background is None:
        raise InvalidParameter(
            f"Model {loaded.ref} ({flavor}) is explained model-agnostically, which needs a "
            "background sample. Got none.", field="background")
    return PermutationEngine(loaded, background)


def class_labels(loaded: Any, k: int) -> list[str]:
    """The labels of a classifier's ``k`` probability columns, as the model server logs them
    (the estimator's ``classes_``, a LightGBM classifier's recorded classes, else 0..k-1)."""
    for obj in (loaded, getattr(loaded, "model", None), getattr(loaded, "predictor", None)):
        for attr in ("classes_", "classes"):
            classes = getattr(obj, attr, None) if obj is not None else None
            if classes is not None and not callable(classes) and len(classes) == k:
                return [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    return [str(i) for i in range(k)]
