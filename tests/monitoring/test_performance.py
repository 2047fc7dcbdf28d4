"""Performance metrics agree with scikit-learn; CBPE estimates track the realised figures."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from modelyard.monitoring.performance import (
    CBPEAccumulator,
    ClassificationAccumulator,
    LatencyAccumulator,
    RegressionAccumulator,
    class_labels,
    positive_class,
)


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, n)
    y = (rng.random(n) < p).astype(int)
    return y, (p > 0.5).astype(int), p


def test_binary_metrics_match_sklearn_across_batches() -> None:
    y, pred, p = _binary(20_000)
    acc = ClassificationAccumulator()
    for i in range(0, y.size, 3000):
        sl = slice(i, i + 3000)
        acc.update(class_labels(pl.Series(y[sl])), class_labels(pl.Series(pred[sl])),
                   {"0": 1 - p[sl], "1": p[sl]})
    m = acc.metrics()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, np.column_stack([1 - p, p])), abs=1e-9)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-3)


def test_multiclass_metrics_are_macro_averaged_like_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.choice(["cat", "dog", "eel"], 5000)
    pred = np.where(rng.random(5000) < 0.7, y, rng.choice(["cat", "dog", "eel"], 5000))
    acc = ClassificationAccumulator()
    acc.update(pl.Series(y), pl.Series(pred))
    m = acc.metrics()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 10_000)
    pred = y + rng.normal(0, 1, 10_000)
    acc = RegressionAccumulator()
    acc.update(y[:4000], pred[:4000])
    acc.update(y[4000:], pred[4000:])
    m = acc.metrics()
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-9)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), rel=1e-9)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-9)


def test_cbpe_estimates_the_realised_performance_of_a_calibrated_model() -> None:
    y, pred, p = _binary(50_000, seed=4)
    est = CBPEAccumulator()
    est.update(class_labels(pl.Series(pred)), {"0": 1 - p, "1": p})
    e = est.metrics()
    assert e["estimated_accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=0.01)
    assert e["estimated_precision"] == pytest.approx(skm.precision_score(y, pred), abs=0.01)
    assert e["estimated_recall"] == pytest.approx(skm.recall_score(y, pred), abs=0.01)
    assert e["estimated_f1"] == pytest.approx(skm.f1_score(y, pred), abs=0.01)
    assert e["estimated_roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=0.01)


def test_class_labels_unify_numbers_booleans_and_text() -> None:
    assert class_labels(pl.Series([1.0, 0.0, None])).to_list() == ["1", "0", None]
    assert class_labels(pl.Series([True, False])).to_list() == ["true", "false"]
    assert class_labels(pl.Series([0.5])).to_list() == ["0.5"]
    assert positive_class(["no", "yes"]) == "yes"
    assert positive_class(["approved", "rejected"]) == "rejected"
    assert positive_class(["a", "b", "c"]) is None


def test_latency_quantiles_are_within_two_percent() -> None:
    rng = np.random.default_rng(5)
    lat = rng.lognormal(1.5, 0.8, 100_000)
    acc = LatencyAccumulator()
    acc.update(lat[:50_000])
    acc.update(lat[50_000:])
    m = acc.metrics()
    for q, key in ((0.5, "latency_p50_ms"), (0.99, "latency_p99_ms")):
        assert m[key] == pytest.approx(np.quantile(lat, q), rel=0.02)
    assert m["latency_max_ms"] == pytest.approx(lat.max())
