"""Outlier scores fit on the reference flag unusual rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from modelyard.errors import InvalidParameter, NotFittedError
from modelyard.monitoring.outliers import OutlierDetector, TopK


def _reference(n: int = 5000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    a = rng.normal(size=n)
    return pl.DataFrame({"a": a, "b": a * 0.9 + rng.normal(0, 0.3, n), "k": [1.0] * n,
                         "city": ["x"] * n})


@pytest.mark.parametrize("method", ["mahalanobis", "isolation_forest"])
def test_unusual_rows_score_above_the_threshold(method: str) -> None:
    det = OutlierDetector(method=method).fit(_reference())
    assert det.columns_ == ["a", "b", "k"]
    healthy = _reference(2000)
    share = det.is_outlier(healthy).mean()
    assert share < 0.05
    # a row that breaks the correlation between a and b, and one far away
    odd = pl.DataFrame({"a": [3.5, 40.0], "b": [-3.5, 40.0], "k": [1.0, 1.0]})
    assert det.is_outlier(odd).all()


def test_missing_columns_and_values_are_imputed_and_text_is_read() -> None:
    det = OutlierDetector().fit(_reference())
    scores = det.score(pl.DataFrame({"a": [None, 0.0], "b": ["0.0", "oops"]}))
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_the_detector_validates_and_must_be_fitted() -> None:
    with pytest.raises(NotFittedError):
        OutlierDetector().score(_reference(10))
    with pytest.raises(InvalidParameter, match="method must be one of"):
        OutlierDetector(method="lof").fit(_reference(10))


def test_top_k_keeps_the_highest_scores_of_a_stream() -> None:
    top = TopK(3)
    top.update(["a", "b", "c", "d"], np.array([1.0, 5.0, 3.0, 0.0]))
    top.update(["e", "f"], np.array([4.0, 0.5]))
    assert [i["id"] for i in top.items()] == ["b", "e", "c"]
