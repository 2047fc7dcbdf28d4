"""A per-row outlier score for incoming feature vectors, fit on the reference.

``mahalanobis`` (default): the distance of a row from the reference mean under the
reference covariance of the standardised numerical features (a pseudo-inverse, so constant
or collinear features do no harm); vectorised, cheap enough for every row of a window.
``isolation_forest``: scikit-learn's IsolationForest on the same features (``-score_samples``,
so higher is more unusual). Missing values are imputed with the reference mean.

The threshold is the reference's own ``quantile`` of scores (0.99: about 1% of reference
rows score above it), so ``outlier_share`` on a healthy window stays near 1 - quantile, and
a rise means unusual, broken or adversarial inputs. :class:`TopK` keeps the highest-scoring
rows of a stream (their prediction ids) to list them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from ..errors import InvalidParameter, NotFittedError

__all__ = ["OutlierDetector", "TopK"]

_METHODS = ("mahalanobis", "isolation_forest")


class OutlierDetector:
    """``fit(reference)`` on numerical columns, then ``score(frame)`` per batch."""

    def __init__(self, *, columns: Sequence[str] | None = None, method: str = "mahalanobis",
                 quantile: float = 0.99, max_fit_rows: int = 100_000, random_state: int = 0) -> None:
        self.columns = columns
        self.method = method
        self.quantile = quantile
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def fit(self, reference: pl.DataFrame) -> OutlierDetector:
        if self.method not in _METHODS:
            raise InvalidParameter(f"method must be one of {list(_METHODS)}. Got {self.method!r} "
                                   "instead.", field="method")
        if not 0 < self.quantile < 1:
            raise InvalidParameter(f"quantile must be in (0, 1). Got {self.quantile!r} instead.",
                                   field="quantile")
        names = list(self.columns) if self.columns is not None else reference.columns
        cols = [c for c in names if c in reference.columns and (
            reference.schema[c].is_numeric() or reference.schema[c] == pl.Boolean)]
        if reference.height > self.max_fit_rows:
            reference = reference.sample(self.max_fit_rows, seed=self.random_state)
        self.columns_ = cols
        x = self._matrix(reference, impute=False)
        self.mean_ = np.nanmean(x, axis=0) if x.shape[0] else np.zeros(len(cols))
        self.mean_ = np.nan_to_num(self.mean_)
        x = np.where(np.isnan(x), self.mean_, x)
        std = x.std(axis=0) if x.shape[0] else np.ones(len(cols))
        self.scale_ = np.where(std > 0, std, 1.0)
        z = (x - self.mean_) / self.scale_
        if self.method == "mahalanobis":
            cov = np.cov(z, rowvar=False) if z.shape[0] > 1 else np.eye(len(cols))
            self.precision_ = np.linalg.pinv(np.atleast_2d(cov))
        else:
            from sklearn.ensemble import IsolationForest

            self.forest_ = IsolationForest(random_state=self.random_state).fit(z)
        ref_scores = self._score_z(z) if z.shape[0] else np.zeros(0)
        self.threshold_ = float(np.quantile(ref_scores, self.quantile)) if ref_scores.size else 0.0
        return self

    def _matrix(self, frame: pl.DataFrame, *, impute: bool = True) -> np.ndarray:
        out = np.empty((frame.height, len(self.columns_)), dtype=np.float64)
        for j, c in enumerate(self.columns_):
            if c in frame.columns:
                s = frame.get_column(c)
                arr = s.cast(pl.Float64, strict=False).to_numpy() if (
                    s.dtype.is_numeric() or s.dtype == pl.Boolean) else _text_numbers(s)
                out[:, j] = arr
            else:
                out[:, j] = np.nan
        if impute:
            out = np.where(np.isnan(out), self.mean_, out)
        return out

    def _score_z(self, z: np.ndarray) -> np.ndarray:
        if not len(self.columns_):
            return np.zeros(z.shape[0])
        if self.method == "mahalanobis":
            return np.sqrt(np.maximum(np.einsum("ij,ij->i", z @ self.precision_, z), 0.0))
        return -self.forest_.score_samples(z)

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        """One score per row (higher = more unusual)."""
        if not hasattr(self, "columns_"):
            raise NotFittedError("This OutlierDetector is not fitted yet: call fit(reference).")
        if frame.height == 0:
            return np.zeros(0)
        z = (self._matrix(frame) - self.mean_) / self.scale_
        return self._score_z(z)

    def is_outlier(self, frame: pl.DataFrame) -> np.ndarray:
        return self.score(frame) > self.threshold_


def _text_numbers(s: pl.Series) -> np.ndarray:
    values = s.cast(pl.String, strict=False).str.strip_chars().cast(pl.Float64, strict=False)
    return values.to_numpy().astype(np.float64)


class TopK:
    """The ``k`` highest scores of a stream, with their ids (merged batch by batch)."""

    def __init__(self, k: int = 20) -> None:
        self.k = k
        self.ids: np.ndarray = np.empty(0, dtype=object)
        self.scores: np.ndarray = np.empty(0)

    def update(self, ids: Any, scores: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=object)
        if scores.shape[0] > self.k:
            keep = np.argpartition(-scores, self.k - 1)[: self.k]
            ids, scores = ids[keep], scores[keep]
        ids = np.concatenate([self.ids, ids])
        scores = np.concatenate([self.scores, scores])
        order = np.argsort(-scores, kind="stable")[: self.k]
        self.ids, self.scores = ids[order], scores[order]

    def items(self) -> list[dict[str, Any]]:
        return [{"id": str(i), "score": float(s)} for i, s in zip(self.ids, self.scores)]
