"""The paired gate on synthetic predictions whose true accuracies are known."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.validation.stats import compute_metric, mcnemar, paired_bootstrap

N = 4000


def _pair(seed: int, challenger_error: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a champion right with probability 0.85 and a challenger right with probability
    ``1 - challenger_error``; their errors are correlated as two models of one problem are
    (nine rows in ten share the champion's difficulty)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    u = rng.random(N)
    v = np.where(rng.random(N) < 0.9, u, rng.random(N))
    champion = np.where(u > 0.15, y, 1 - y)
    challenger = np.where(v > challenger_error, y, 1 - y)
    return y, champion, challenger


@pytest.mark.parametrize("test", ["bootstrap", "mcnemar"])
def test_a_challenger_worse_by_two_points_fails(test: str) -> None:
    for seed in range(20):
        y, champion, challenger = _pair(seed, 0.17)
        if test == "mcnemar":
            res = mcnemar(y, champion, challenger, max_regression=0.01, confidence=0.95)
        else:
            res = paired_bootstrap("accuracy", y, (champion, None), (challenger, None),
                                   max_regression=0.01, confidence=0.95, seed=seed)
        assert not res.passed, (seed, res)
        assert res.ci[0] < -0.01 < res.ci[1] or res.ci[1] < -0.01


@pytest.mark.parametrize("test", ["bootstrap", "mcnemar"])
def test_equal_models_pass_in_at_least_95_of_100_seeded_runs(test: str) -> None:
    passed = 0
    for seed in range(100):
        y, champion, challenger = _pair(1000 + seed, 0.15)
        if test == "mcnemar":
            res = mcnemar(y, champion, challenger, max_regression=0.01, confidence=0.95)
        else:
            res = paired_bootstrap("accuracy", y, (champion, None), (challenger, None),
                                   max_regression=0.01, confidence=0.95, seed=seed)
        passed += res.passed
    assert passed >= 95


def test_losses_compare_in_the_right_direction() -> None:
    """For a loss the improvement is champion minus challenger: a challenger with a higher
    log loss is worse, whatever the signs."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good = np.clip(np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.05, 2000), 0.01, 0.99)
    bad = np.clip(np.where(y == 1, 0.6, 0.4) + rng.normal(0, 0.05, 2000), 0.01, 0.99)
    as_proba = lambda p: np.column_stack([1 - p, p])
    res = paired_bootstrap("log_loss", y, ((good > 0.5).astype(int), as_proba(good)),
                           ((bad > 0.5).astype(int), as_proba(bad)), max_regression=0.01,
                           n_boot=500)
    assert res.difference < 0 and not res.passed
    assert res.challenger > res.champion == pytest.approx(
        compute_metric("log_loss", y, None, as_proba(good)))  # type: ignore[arg-type]
    flipped = paired_bootstrap("log_loss", y, ((bad > 0.5).astype(int), as_proba(bad)),
                               ((good > 0.5).astype(int), as_proba(good)), max_regression=0.0,
                               n_boot=500)
    assert flipped.difference > 0 and flipped.passed


def test_identical_predictions_pass_with_a_zero_interval() -> None:
    y = np.array([0, 1, 1, 0, 1])
    res = mcnemar(y, y, y, max_regression=0.0)
    assert res.passed and res.ci == (0.0, 0.0) and res.details["p_value"] == 1.0
