"""Metrics on a holdout and the paired comparison of two models on the same rows.

The gate asks one question of a challenger: *is it worse than the champion by more than
``max_regression``?* Point values alone cannot answer it (on 500 rows a 1-point difference is
noise), so both models are scored on the same rows and the difference is tested as a paired,
one-sided non-inferiority test:

* :func:`paired_bootstrap` resamples rows (the same rows for both models) and takes the
  ``1 - confidence`` quantile of the improvement as its lower bound. For a metric that is a
  mean of per-row values (accuracy, log loss, squared error …) with few distinct per-row
  differences (accuracy: -1, 0, 1) the resample is drawn as multinomial counts of those values,
  which is the same distribution at O(1) cost per resample; other metrics (F1, ROC AUC, R²)
  are recomputed on each resample.
* :func:`mcnemar` (accuracy only) uses the discordant pairs ``b`` (champion right, challenger
  wrong) and ``c`` (the reverse): the improvement ``(c - b) / n`` with its Wald standard error
  ``sqrt(((b + c) / n - d²) / n)`` (the non-inferiority form of McNemar's test), plus McNemar's
  classic exact two-sided p-value for equality.

The challenger passes when the lower bound is at least ``-max_regression``. "Improvement" is
direction-aware: for a loss (log loss, MAE …) it is champion minus challenger, so a sign never
flips the comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from ..errors import InvalidParameter

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "PairedResult",
    "check_metric",
    "compute_metric",
    "mcnemar",
    "needs_proba",
    "paired_bootstrap",
    "per_row_scores",
]

# name -> higher is better
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "error_rate": False,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "brier": False,
    "mae": False,
    "mse": False,
    "rmse": False,
    "r2": True,
}
METRICS = tuple(HIGHER_IS_BETTER)
_PER_ROW = {"accuracy", "error_rate", "log_loss", "brier", "mae", "mse"}
_NEEDS_PROBA = {"roc_auc", "log_loss", "brier"}
_EPS = 1e-15


def check_metric(name: str, *, field: str = "metric") -> str:
    if name not in HIGHER_IS_BETTER:
        raise InvalidParameter(f"{field} must be one of {', '.join(METRICS)}. Got {name!r} "
                               "instead.", field=field)
    return name


def needs_proba(name: str) -> bool:
    return name in _NEEDS_PROBA


def _binary_positive(y: np.ndarray, proba: np.ndarray | None) -> np.ndarray:
    """The probability of the positive (last) class for binary problems."""
    if proba is None:
        raise InvalidParameter("this metric needs class probabilities; the model has no "
                               "predict_proba.", field="metric")
    p = np.asarray(proba, dtype=float)
    return p[:, -1] if p.ndim == 2 else p


def per_row_scores(name: str, y: np.ndarray, pred: np.ndarray,
                   proba: np.ndarray | None = None, classes: Any = None) -> np.ndarray:
    """Per-row values whose mean is the metric (for the metrics that are means)."""
    y = np.asarray(y)
    if name == "accuracy":
        return (np.asarray(pred) == y).astype(float)
    if name == "error_rate":
        return (np.asarray(pred) != y).astype(float)
    if name in ("mae", "mse"):
        diff = np.asarray(pred, dtype=float) - y.astype(float)
        return np.abs(diff) if name == "mae" else diff * diff
    if name in ("log_loss", "brier"):
        if proba is None:
            raise InvalidParameter(f"{name} needs class probabilities; the model has no "
                                   "predict_proba.", field="metric")
        p = np.asarray(proba, dtype=float)
        if p.ndim == 1:
            p = np.column_stack([1 - p, p])
        labels = np.asarray(classes) if classes is not None else np.arange(p.shape[1])
        index = {v: i for i, v in enumerate(labels.tolist())}
        cols = np.array([index.get(v, -1) for v in y.tolist()])
        if (cols < 0).any():
            unknown = y[cols < 0][0]
            raise InvalidParameter(f"the label {unknown!r} is not one of the model's classes "
                                   f"{labels.tolist()}.", field="label")
        if name == "log_loss":
            return -np.log(np.clip(p[np.arange(len(y)), cols], _EPS, 1.0))
        onehot = np.zeros_like(p)
        onehot[np.arange(len(y)), cols] = 1.0
        return ((p - onehot) ** 2).sum(axis=1)
    raise InvalidParameter(f"{name} is not a mean of per-row values.", field="metric")


def compute_metric(name: str, y: np.ndarray, pred: np.ndarray,
                   proba: np.ndarray | None = None, classes: Any = None) -> float:
    """The metric over all rows (NaN when it is undefined, e.g. ROC AUC with one class)."""
    check_metric(name)
    y = np.asarray(y)
    if len(y) == 0:
        return math.nan
    if name in _PER_ROW:
        return float(per_row_scores(name, y, pred, proba, classes).mean())
    if name == "rmse":
        return float(math.sqrt(per_row_scores("mse", y, pred).mean()))
    if name == "r2":
        yf = y.astype(float)
        total = float(((yf - yf.mean()) ** 2).sum())
        if total == 0:
            return math.nan
        return 1.0 - float(((yf - np.asarray(pred, dtype=float)) ** 2).sum()) / total
    if name == "roc_auc":
        return _auc(y, _binary_positive(y, proba), classes)
    return _prf(name, y, np.asarray(pred))


def _positive(y: np.ndarray, classes: Any) -> Any:
    labels = list(classes) if classes is not None else sorted(set(np.asarray(y).tolist()))
    return labels[-1] if labels else 1


def _prf(name: str, y: np.ndarray, pred: np.ndarray) -> float:
    """Precision, recall or F1: binary on the larger label, macro-averaged with more."""
    labels = sorted(set(y.tolist()) | set(pred.tolist()))
    chosen = [labels[-1]] if len(labels) <= 2 else labels
    values = []
    for label in chosen:
        tp = float(np.sum((pred == label) & (y == label)))
        fp = float(np.sum((pred == label) & (y != label)))
        fn = float(np.sum((pred != label) & (y == label)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        if name == "precision":
            values.append(precision)
        elif name == "recall":
            values.append(recall)
        else:
            values.append(2 * precision * recall / (precision + recall)
                          if precision + recall else 0.0)
    return float(np.mean(values))


def _auc(y: np.ndarray, score: np.ndarray, classes: Any) -> float:
    positive = _positive(y, classes)
    is_pos = y == positive
    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = sps.rankdata(score)
    return float((ranks[is_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass
class PairedResult:
    """The comparison of a challenger with the champion on the same rows.

    ``difference``: the observed improvement (challenger better > 0, direction-aware);
    ``ci``: its ``(1 - confidence, confidence)`` bounds, so ``ci[0]`` is the one-sided lower
    bound the decision uses; ``passed``: ``ci[0] >= -max_regression``.
    """

    metric: str
    test: str
    champion: float
    challenger: float
    difference: float
    ci: tuple[float, float]
    confidence: float
    max_regression: float
    passed: bool
    n: int
    details: dict[str, Any] = field(default_factory=dict)


def _improvement(metric: str, challenger: float, champion: float) -> float:
    return challenger - champion if HIGHER_IS_BETTER[metric] else champion - challenger


def _decide(metric: str, test: str, champion: float, challenger: float, lo: float, hi: float,
            confidence: float, max_regression: float, n: int,
            details: dict[str, Any]) -> PairedResult:
    diff = _improvement(metric, challenger, champion)
    passed = bool(math.isfinite(lo) and lo >= -max_regression)
    return PairedResult(metric, test, champion, challenger, diff, (lo, hi), confidence,
                        max_regression, passed, n, details)


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1:
        raise InvalidParameter(f"confidence must be in [0.5, 1). Got {confidence!r} instead.",
                               field="confidence")


def paired_bootstrap(
    metric: str,
    y: np.ndarray,
    champion: tuple[np.ndarray, np.ndarray | None],
    challenger: tuple[np.ndarray, np.ndarray | None],
    *,
    max_regression: float,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    classes: Any = None,
) -> PairedResult:
    """Bootstrap the improvement of ``challenger`` over ``champion`` (each ``(pred, proba)``)
    on the same resampled rows; see the module docstring."""
    check_metric(metric)
    _check_confidence(confidence)
    y = np.asarray(y)
    n = len(y)
    if n == 0:
        raise InvalidParameter("the holdout has no rows to compare the models on.",
                               field="holdout")
    rng = np.random.default_rng(seed)
    a = compute_metric(metric, y, champion[0], champion[1], classes)
    b = compute_metric(metric, y, challenger[0], challenger[1], classes)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    if metric in _PER_ROW:
        d = sign * (per_row_scores(metric, y, challenger[0], challenger[1], classes)
                    - per_row_scores(metric, y, champion[0], champion[1], classes))
        means = _bootstrap_means(d, n_boot, rng)
        method = "multinomial" if len(np.unique(d)) <= 64 else "resample"
    else:
        means = _bootstrap_recompute(metric, y, champion, challenger, n_boot, rng, classes)
        method = "recompute"
    means = means[np.isfinite(means)]
    if len(means) == 0:
        lo = hi = math.nan
    else:
        lo = float(np.quantile(means, 1 - confidence))
        hi = float(np.quantile(means, confidence))
    return _decide(metric, "bootstrap", a, b, lo, hi, confidence, max_regression, n,
                   {"n_boot": int(n_boot), "seed": seed, "method": method,
                    "valid_resamples": len(means)})


def _bootstrap_means(d: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = len(d)
    values, counts = np.unique(d, return_counts=True)
    if len(values) <= 64:
        # resampling n rows with replacement = multinomial counts of the distinct values
        drawn = rng.multinomial(n, counts / n, size=n_boot)
        return np.asarray(drawn @ values / n, dtype=float)
    out = np.empty(n_boot)
    chunk = max(1, min(n_boot, 4_000_000 // max(n, 1)))
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        out[start:start + k] = d[rng.integers(0, n, size=(k, n))].mean(axis=1)
    return out


def _bootstrap_recompute(metric: str, y: np.ndarray,
                         champion: tuple[np.ndarray, np.ndarray | None],
                         challenger: tuple[np.ndarray, np.ndarray | None],
                         n_boot: int, rng: np.random.Generator, classes: Any) -> np.ndarray:
    n = len(y)
    out = np.empty(n_boot)

    def take(pair: tuple[np.ndarray, np.ndarray | None], idx: np.ndarray) -> tuple[Any, Any]:
        pred, proba = pair
        return np.asarray(pred)[idx], None if proba is None else np.asarray(proba)[idx]

    for i in range(n_boot):
        idx = rng.integers(0, n, size=n)
        ca, pa = take(champion, idx)
        cb, pb = take(challenger, idx)
        out[i] = _improvement(metric, compute_metric(metric, y[idx], cb, pb, classes),
                              compute_metric(metric, y[idx], ca, pa, classes))
    return out


def mcnemar(
    y: np.ndarray,
    champion_pred: np.ndarray,
    challenger_pred: np.ndarray,
    *,
    max_regression: float,
    confidence: float = 0.95,
) -> PairedResult:
    """Non-inferiority of the challenger's accuracy from the discordant pairs (module
    docstring); ``details`` has ``b``, ``c`` and McNemar's exact two-sided ``p_value``."""
    _check_confidence(confidence)
    y = np.asarray(y)
    n = len(y)
    if n == 0:
        raise InvalidParameter("the holdout has no rows to compare the models on.",
                               field="holdout")
    right_a = np.asarray(champion_pred) == y
    right_b = np.asarray(challenger_pred) == y
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    d = (c - b) / n
    se = math.sqrt(max((b + c) / n - d * d, 0.0) / n)
    z = float(sps.norm.ppf(confidence))
    p_value = float(sps.binomtest(c, b + c, 0.5).pvalue) if b + c else 1.0
    return _decide("accuracy", "mcnemar", float(right_a.mean()), float(right_b.mean()),
                   d - z * se, d + z * se, confidence, max_regression, n,
                   {"b": b, "c": c, "se": se, "p_value": p_value})

