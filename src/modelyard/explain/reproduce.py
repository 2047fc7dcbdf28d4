"""Reproduce a logged prediction before explaining it.

The exact model version (loaded by its digest) predicts the logged input again; the answer must
equal what was logged: the same predicted label (or a number within tolerance) and, for a
classifier, the same class probabilities within tolerance (float32 rounding: a model may give a
row a slightly different output in a batch of another size). Otherwise the explanation would be
of some other computation, and :class:`~modelyard.errors.NotReproducible` is raised with the
difference shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NotReproducible
from .entities import Reproduction

__all__ = ["ATOL", "RTOL", "reproduce"]

# float32 models (ONNX, XGBoost, LightGBM) give a row a slightly different output in another
# batch (vectorised sums in another order): measured up to ~2e-6 relative on one ONNX row
RTOL = 1e-5
ATOL = 1e-6
TOLERANCE = f"|logged - recomputed| <= {ATOL:g} + {RTOL:g} * |logged|"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _first(out: Any) -> Any:
    if isinstance(out, pd.DataFrame):
        out = out.to_numpy()
    if isinstance(out, pd.Series):
        out = out.to_numpy()
    arr = np.asarray(out)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    value = arr[0]
    return value.tolist() if isinstance(value, np.ndarray) else _plain(value)


def _diff(logged: Any, recomputed: Any) -> float | None:
    """The absolute difference of two numbers; 0 for equal values; None when they differ in
    a way no tolerance covers (another label, another shape)."""
    a, b = _number(logged), _number(recomputed)
    if a is not None and b is not None:
        if math.isnan(a) and math.isnan(b):
            return 0.0
        d = abs(a - b)
        return math.inf if math.isnan(d) else d
    if isinstance(logged, list) and isinstance(recomputed, list) and len(logged) == len(recomputed):
        parts = [_diff(x, y) for x, y in zip(logged, recomputed)]
        return None if any(p is None for p in parts) else max(parts, default=0.0)  # type: ignore[type-var]
    return 0.0 if logged == recomputed or str(logged) == str(recomputed) else None


def _within(logged: Any, d: float) -> bool:
    a = _number(logged)
    return d <= ATOL + RTOL * (abs(a) if a is not None else 0.0)


def reproduce(loaded: Any, frame: pd.DataFrame, logged: Mapping[str, Any],
              *, prediction_id: str) -> tuple[Reproduction, np.ndarray | None]:
    """Predict ``frame`` (one logged row, checked against the signature) with ``loaded`` and
    compare with the ``logged`` outputs. Returns the comparison and the recomputed class
    probabilities (None for a model without them); raises NotReproducible on a mismatch."""
    predictor = loaded.predictor
    recomputed: dict[str, Any] = {"prediction": _first(predictor.predict(frame))}
    proba = None
    problems: list[str] = []
    worst = 0.0
    if "proba" in logged and callable(getattr(predictor, "predict_proba", None)):
        raw = predictor.predict_proba(frame)
        if isinstance(raw, pd.DataFrame):
            raw = raw.to_numpy()
        proba = np.asarray(raw, dtype=np.float64).reshape(1, -1)
        labels = list((logged.get("proba") or {}).keys())
        if len(labels) != proba.shape[1]:
            problems.append(f"the log holds {len(labels)} class probabilities, the model gives "
                            f"{proba.shape[1]}")
        else:
            recomputed["proba"] = dict(zip(labels, proba[0].tolist()))
            for label in labels:
                d = _diff(logged["proba"][label], recomputed["proba"][label])
                if d is None or not _within(logged["proba"][label], d):
                    problems.append(f"proba[{label}]: logged {logged['proba'][label]!r}, "
                                    f"recomputed {recomputed['proba'][label]!r}")
                if d is not None:
                    worst = max(worst, d)
    d = _diff(logged.get("prediction"), recomputed["prediction"])
    if d is None or not _within(logged.get("prediction"), d if d is not None else 0.0):
        problems.insert(0, f"prediction: logged {logged.get('prediction')!r}, recomputed "
                           f"{recomputed['prediction']!r}")
    if d is not None and math.isfinite(d):
        worst = max(worst, d)
    if problems:
        raise NotReproducible(
            f"Prediction {prediction_id} must be reproduced by model {loaded.ref} (digest "
            f"{loaded.version.digest[:12]}) before it is explained; expected the logged output "
            f"within {TOLERANCE}. Got a different output instead: " + "; ".join(problems) + ".",
            field="prediction_id")
    return Reproduction(logged=dict(logged), recomputed=recomputed, max_abs_diff=worst,
                        tolerance=TOLERANCE), proba
