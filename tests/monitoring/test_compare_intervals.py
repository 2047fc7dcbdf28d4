"""The intervals of the comparison: the same figures as scipy's tests where one exists, and
their coverage on simulated pairs of models with a known difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelyard.monitoring.compare import (
    paired_accuracy,
    paired_error,
    unpaired_accuracy,
    unpaired_error,
)


def test_paired_error_is_the_paired_t_test_and_unpaired_error_welchs() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2, 1, 200), rng.gamma(2, 1.2, 200)
    d = paired_error(a, b)
    t = stats.ttest_rel(a, b)
    assert d.p_value == pytest.approx(t.pvalue, rel=1e-9)
    ci = t.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    w = unpaired_error(a, b[:150])
    t = stats.ttest_ind(a, b[:150], equal_var=False)
    assert w.p_value == pytest.approx(t.pvalue, rel=1e-9)
    ci = t.confidence_interval(0.95)
    assert (w.low, w.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.verdict == "candidate better"  # a errs less than b


def test_paired_accuracy_counts_discordant_requests_and_mcnemars_p() -> None:
    cand = np.array([1, 1, 1, 0, 1, 1, 0, 1], bool)
    champ = np.array([1, 0, 0, 0, 1, 0, 1, 1], bool)
    d = paired_accuracy(cand, champ)
    assert d.n == 8 and d.difference == pytest.approx((3 - 1) / 8)
    assert d.p_value == pytest.approx(stats.binomtest(3, 4, 0.5).pvalue)
    assert d.low is not None and d.high is not None and d.low < 0 < d.high
    assert d.verdict == "no clear difference"
    assert paired_accuracy(np.zeros(0, bool), np.zeros(0, bool)).verdict == "too few labels"


@pytest.mark.parametrize("paired", [True, False])
def test_accuracy_intervals_cover_the_true_difference(paired: bool) -> None:
    """Two correlated classifiers (right 80% and 72% of the time); 95% intervals from 120
    requests cover the true difference of 0.08 in about 95 of 100 repetitions."""
    rng = np.random.default_rng(7)
    covered, reps, n = 0, 400, 120
    for _ in range(reps):
        u = rng.random(n)
        cand = u < 0.80
        champ = np.where(rng.random(n) < 0.7, u < 0.72, rng.random(n) < 0.72)
        if not paired:
            champ = rng.random(n) < 0.72
        d = (paired_accuracy if paired else unpaired_accuracy)(cand, champ)
        assert d.low is not None and d.high is not None
        covered += d.low <= 0.08 <= d.high
    assert 0.91 <= covered / reps <= 0.99
