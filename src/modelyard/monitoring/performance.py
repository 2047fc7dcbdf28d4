"""Model performance over a window, accumulated batch by batch in bounded memory.

* :class:`ClassificationAccumulator`: a confusion table (exact accuracy, precision, recall,
  F1 — binary for the positive class, macro-averaged otherwise), the log-loss sum (exact) and
  10,000-bin score histograms per class for ROC AUC (binary; ties within 1e-4 of score count
  as ties).
* :class:`RegressionAccumulator`: sums for MAE, RMSE and R2 (exact).
* :class:`CBPEAccumulator`: performance *before* labels arrive, estimated from the model's
  own probabilities as NannyML's confidence-based performance estimation does: with
  calibrated probabilities the expected confusion matrix is ``E[TP] = sum of p over rows
  predicted positive``, ``E[FP] = sum of 1 - p`` over them, and so on; expected ROC AUC weighs
  every row as positive by ``p`` and negative by ``1 - p``. The estimate is only as good as
  the calibration; it is stored next to the realised figure once labels come.
* :class:`LatencyAccumulator`: p50/p90/p99 from a log-spaced histogram (~1.2% relative error).

Labels and predictions are compared as text (``1``, ``1.0`` and ``"1"`` are one class;
``True`` is ``"true"``), via :func:`class_labels`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "AUC_BINS",
    "CBPEAccumulator",
    "ClassificationAccumulator",
    "LatencyAccumulator",
    "RegressionAccumulator",
    "class_labels",
    "is_regression",
    "positive_class",
]

AUC_BINS = 10_000
_POSITIVE = ("1", "true", "yes", "y", "positive", "pos")
_EPS = float(np.finfo(np.float64).eps)


def class_labels(series: pl.Series) -> pl.Series:
    """Class labels as text: integer-valued numbers without ``.0``, booleans lower-case."""
    dtype = series.dtype
    if dtype.is_float():
        s = series.fill_nan(None)
        whole = s.drop_nulls()
        if whole.len() == 0 or bool((whole == whole.round(0)).all()):
            return s.cast(pl.Int64, strict=False).cast(pl.String)
        return s.cast(pl.String)
    if dtype.is_numeric() or dtype == pl.Boolean:
        return series.cast(pl.String)
    return series.cast(pl.String, strict=False)


def positive_class(classes: list[str], positive: str | None = None) -> str | None:
    """The positive class of a binary problem: ``positive`` if given, else ``1``/``true``/
    ``yes``…, else the last in sorted order. None when there are not exactly two classes."""
    if positive is not None:
        return positive
    if len(classes) != 2:
        return None
    for c in classes:
        if c.lower() in _POSITIVE:
            return c
    return max(classes)


def is_regression(predictions: pl.Series) -> bool:
    """Predictions are a regressor's when they are floats and not all whole numbers."""
    if not predictions.dtype.is_float():
        return False
    s = predictions.drop_nulls().drop_nans()
    return s.len() > 0 and not bool((s == s.round(0)).all())


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC from (weighted) counts of positives and negatives per ascending score bin."""
    p, n = float(pos.sum()), float(neg.sum())
    if p <= 0 or n <= 0:
        return float("nan")
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / (p * n))


def _bins(p: np.ndarray) -> np.ndarray:
    return np.clip((p * AUC_BINS).astype(np.int64), 0, AUC_BINS - 1)


class ClassificationAccumulator:
    """Realised classification metrics of labelled rows (see the module docstring)."""

    def __init__(self, positive: str | None = None) -> None:
        self.positive = positive
        self.confusion: dict[tuple[str, str], int] = defaultdict(int)
        self.n = 0
        self.log_loss_sum = 0.0
        self.n_proba = 0
        self.classes_proba: list[str] | None = None
        self.pos_hist = np.zeros(AUC_BINS, dtype=np.int64)
        self.neg_hist = np.zeros(AUC_BINS, dtype=np.int64)

    def update(self, y_true: pl.Series, y_pred: pl.Series,
               proba: dict[str, np.ndarray] | None = None) -> None:
        """``y_true``/``y_pred`` as class text (:func:`class_labels`); ``proba``: class ->
        probabilities of the same rows."""
        mask = (y_true.is_not_null() & y_pred.is_not_null()).to_numpy()
        if not mask.any():
            return
        t = y_true.filter(pl.Series(mask))
        pr = y_pred.filter(pl.Series(mask))
        counts = pl.DataFrame({"t": t, "p": pr}).group_by("t", "p").len()
        for tt, pp, c in counts.iter_rows():
            self.confusion[(tt, pp)] += int(c)
        self.n += t.len()
        if proba:
            classes = sorted(proba)
            self.classes_proba = classes
            matrix = np.column_stack([np.asarray(proba[c], dtype=np.float64)[mask] for c in classes])
            matrix = np.nan_to_num(matrix, nan=0.0)
            truth = t.to_numpy()
            idx = np.searchsorted(classes, truth)
            idx = np.clip(idx, 0, len(classes) - 1)
            known = np.asarray(classes, dtype=object)[idx] == truth
            # sklearn's log_loss: rows renormalised, probabilities clipped to [eps, 1 - eps]
            matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), _EPS)
            p_true = np.where(known, matrix[np.arange(matrix.shape[0]), idx], 0.0)
            p_true = np.clip(p_true, _EPS, 1 - _EPS)
            self.log_loss_sum += float(-np.log(p_true).sum())
            self.n_proba += int(matrix.shape[0])
            pos = positive_class(classes, self.positive)
            if pos is not None and pos in classes:
                score = matrix[:, classes.index(pos)]
                is_pos = truth == pos
                self.pos_hist += np.bincount(_bins(score[is_pos]), minlength=AUC_BINS)
                self.neg_hist += np.bincount(_bins(score[~is_pos]), minlength=AUC_BINS)

    def metrics(self) -> dict[str, float]:
        if self.n == 0:
            return {}
        conf = self.confusion
        labels = sorted({t for t, _ in conf} | {p for _, p in conf})
        correct = sum(c for (t, p), c in conf.items() if t == p)
        out = {"accuracy": correct / self.n, "n_labeled": float(self.n)}
        pos = positive_class(self.classes_proba or labels, self.positive)

        def prf(cls: str) -> tuple[float, float, float]:
            tp = conf.get((cls, cls), 0)
            fp = sum(c for (t, p), c in conf.items() if p == cls and t != cls)
            fn = sum(c for (t, p), c in conf.items() if t == cls and p != cls)
            prec = tp / (tp + fp) if tp + fp else 0.0
            rec = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            return prec, rec, f1

        if pos is not None and len(labels) <= 2:
            out["precision"], out["recall"], out["f1"] = prf(pos)
        elif labels:
            per = [prf(c) for c in labels]
            out["precision"] = float(np.mean([p[0] for p in per]))
            out["recall"] = float(np.mean([p[1] for p in per]))
            out["f1"] = float(np.mean([p[2] for p in per]))
        if self.n_proba:
            out["log_loss"] = self.log_loss_sum / self.n_proba
            auc = _auc(self.pos_hist, self.neg_hist)
            if np.isfinite(auc):
                out["roc_auc"] = auc
        return out


class RegressionAccumulator:
    """MAE, RMSE and R2 from running sums (exact)."""

    def __init__(self) -> None:
        self.n = 0
        self.abs_sum = 0.0
        self.sq_sum = 0.0
        self.y_sum = 0.0
        self.y_sq_sum = 0.0

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        ok = np.isfinite(y_true) & np.isfinite(y_pred)
        t, p = y_true[ok], y_pred[ok]
        err = t - p
        self.n += int(t.shape[0])
        self.abs_sum += float(np.abs(err).sum())
        self.sq_sum += float(np.einsum("i,i->", err, err))
        self.y_sum += float(t.sum())
        self.y_sq_sum += float(np.einsum("i,i->", t, t))

    def metrics(self) -> dict[str, float]:
        if self.n == 0:
            return {}
        n = self.n
        ss_tot = self.y_sq_sum - self.y_sum**2 / n
        out = {"mae": self.abs_sum / n, "rmse": float(np.sqrt(self.sq_sum / n)),
               "n_labeled": float(n)}
        if ss_tot > 0:
            out["r2"] = 1.0 - self.sq_sum / ss_tot
        return out


class CBPEAccumulator:
    """Confidence-based performance estimation (see the module docstring)."""

    def __init__(self, positive: str | None = None) -> None:
        self.positive = positive
        self.n = 0
        self.tp = self.fp = self.fn = self.tn = 0.0
        self.expected_correct = 0.0
        self.classes: list[str] | None = None
        self.pos_hist = np.zeros(AUC_BINS, dtype=np.float64)
        self.neg_hist = np.zeros(AUC_BINS, dtype=np.float64)

    def update(self, y_pred: pl.Series | None, proba: dict[str, np.ndarray]) -> None:
        classes = sorted(proba)
        if not classes:
            return
        self.classes = classes
        matrix = np.column_stack([np.asarray(proba[c], dtype=np.float64) for c in classes])
        ok = np.isfinite(matrix).all(axis=1)
        if not ok.any():
            return
        matrix = matrix[ok]
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), _EPS)
        if y_pred is not None:
            pred = y_pred.to_numpy()[ok].astype(object)
            idx = np.searchsorted(classes, pred.astype(str))
            idx = np.clip(idx, 0, len(classes) - 1)
            idx = np.where(np.asarray(classes, dtype=object)[idx] == pred, idx, matrix.argmax(axis=1))
        else:
            idx = matrix.argmax(axis=1)
        self.n += int(matrix.shape[0])
        self.expected_correct += float(matrix[np.arange(matrix.shape[0]), idx].sum())
        pos = positive_class(classes, self.positive)
        if pos is not None and pos in classes:
            k = classes.index(pos)
            p = matrix[:, k]
            predicted_pos = idx == k
            self.tp += float(p[predicted_pos].sum())
            self.fp += float((1 - p[predicted_pos]).sum())
            self.fn += float(p[~predicted_pos].sum())
            self.tn += float((1 - p[~predicted_pos]).sum())
            b = _bins(p)
            self.pos_hist += np.bincount(b, weights=p, minlength=AUC_BINS)
            self.neg_hist += np.bincount(b, weights=1 - p, minlength=AUC_BINS)

    def metrics(self) -> dict[str, float]:
        if self.n == 0:
            return {}
        out = {"estimated_accuracy": self.expected_correct / self.n}
        if self.tp + self.fp + self.fn + self.tn > 0:
            tp, fp, fn = self.tp, self.fp, self.fn
            out["estimated_precision"] = tp / (tp + fp) if tp + fp else 0.0
            out["estimated_recall"] = tp / (tp + fn) if tp + fn else 0.0
            out["estimated_f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            auc = _auc(self.pos_hist, self.neg_hist)
            if np.isfinite(auc):
                out["estimated_roc_auc"] = auc
        return out


class LatencyAccumulator:
    """Latency quantiles from a histogram of 2,000 log-spaced bins over 1 µs .. 1,000 s."""

    LO, HI, BINS = -3.0, 6.0, 2000

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS + 2, dtype=np.int64)
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def update(self, latency_ms: np.ndarray) -> None:
        v = latency_ms[np.isfinite(latency_ms)]
        if v.shape[0] == 0:
            return
        self.n += int(v.shape[0])
        self.total += float(v.sum())
        self.max = max(self.max, float(v.max()))
        logs = np.log10(np.maximum(v, 1e-12))
        idx = np.floor((logs - self.LO) / (self.HI - self.LO) * self.BINS).astype(np.int64) + 1
        idx = np.clip(idx, 0, self.BINS + 1)
        self.counts += np.bincount(idx, minlength=self.BINS + 2)

    def quantile(self, q: float) -> float:
        target = q * self.n
        k = int(np.searchsorted(np.cumsum(self.counts), target, side="left"))
        if k == 0:
            return 10**self.LO
        if k > self.BINS:
            return self.max
        lo = self.LO + (k - 1) * (self.HI - self.LO) / self.BINS
        hi = lo + (self.HI - self.LO) / self.BINS
        return float(min(10 ** ((lo + hi) / 2), self.max))

    def metrics(self) -> dict[str, float]:
        if self.n == 0:
            return {}
        return {"latency_mean_ms": self.total / self.n, "latency_p50_ms": self.quantile(0.5),
                "latency_p90_ms": self.quantile(0.9), "latency_p99_ms": self.quantile(0.99),
                "latency_max_ms": self.max}


def proba_columns(columns: list[str]) -> dict[str, str]:
    """``output.proba.<class>`` columns by class."""
    prefix = "output.proba."
    return {c[len(prefix):]: c for c in columns if c.startswith(prefix)}


def frame_proba(df: pl.DataFrame, columns: dict[str, str]) -> dict[str, np.ndarray]:
    out: dict[str, Any] = {}
    for cls, col in columns.items():
        if col in df.columns:
            out[cls] = df.get_column(col).cast(pl.Float64, strict=False).to_numpy()
    return out
