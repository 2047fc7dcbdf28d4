"""The statistics agree with scipy's reference implementations to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import jensenshannon

from modelyard.monitoring import stats

# values on a coarse grid produce ties, which is where KS/Wasserstein implementations differ
_values = hnp.arrays(
    np.float64,
    hs.integers(1, 60),
    elements=hs.one_of(
        hs.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        hs.integers(-5, 5).map(float),
    ),
)
_counts = hs.integers(2, 12).flatmap(
    lambda k: hs.tuples(
        hnp.arrays(np.int64, k, elements=hs.integers(0, 500)),
        hnp.arrays(np.int64, k, elements=hs.integers(0, 500)),
    )
)


@settings(max_examples=150, deadline=None)
@given(_values, _values)
def test_ks_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.sort(a), np.sort(b)
    ref = st.ks_2samp(a, b)
    d, p = stats.ks_2samp(a, b)
    assert d == pytest.approx(ref.statistic, abs=1e-6)
    assert p == pytest.approx(ref.pvalue, abs=1e-6)
    assert stats.compare_sorted(a, b).ks_statistic == pytest.approx(ref.statistic, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(_values, _values)
def test_wasserstein_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    expected = st.wasserstein_distance(a, b)
    got = stats.wasserstein(np.sort(a), np.sort(b))
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_ks_above_the_exact_limit_matches_scipy_asymptotic() -> None:
    rng = np.random.default_rng(7)
    a = np.sort(rng.normal(size=12_000))
    b = np.sort(rng.normal(0.03, size=15_000))
    ref = st.ks_2samp(a, b)
    d, p = stats.ks_2samp(a, b)
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(_counts)
def test_js_distance_matches_scipy(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    if p.sum() == 0 or q.sum() == 0:
        return
    assert stats.js_distance(p, q) == pytest.approx(jensenshannon(p, q), abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(_counts)
def test_chisquare_matches_scipy(pq: tuple[np.ndarray, np.ndarray]) -> None:
    obs, exp = pq
    exp = exp + 1  # expected counts must be positive
    exp = exp * obs.sum() / exp.sum()
    if obs.sum() == 0:
        return
    ref = st.chisquare(obs, exp)
    stat, p = stats.chisquare(obs, exp)
    assert stat == pytest.approx(ref.statistic, rel=1e-6, abs=1e-6)
    assert p == pytest.approx(ref.pvalue, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(_counts)
def test_chi2_homogeneity_matches_scipy_contingency(pq: tuple[np.ndarray, np.ndarray]) -> None:
    r, c = pq
    keep = (r + c) > 0
    if keep.sum() < 2 or r.sum() == 0 or c.sum() == 0:
        return
    ref = st.chi2_contingency(np.vstack([r[keep], c[keep]]), correction=False)
    stat, p = stats.chi2_homogeneity(r, c)
    assert stat == pytest.approx(ref.statistic, rel=1e-6, abs=1e-6)
    assert p == pytest.approx(ref.pvalue, abs=1e-6)


def test_chi2_on_two_categories_is_the_two_proportion_z_test() -> None:
    r, c = np.array([430, 570]), np.array([480, 520])
    p1, p2 = r[0] / r.sum(), c[0] / c.sum()
    pooled = (r[0] + c[0]) / (r.sum() + c.sum())
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / r.sum() + 1 / c.sum()))
    stat, p = stats.chi2_homogeneity(r, c)
    assert stat == pytest.approx(z**2)
    assert p == pytest.approx(2 * st.norm.sf(abs(z)))


@settings(max_examples=100, deadline=None)
@given(_counts)
def test_psi_matches_its_formula(pq: tuple[np.ndarray, np.ndarray]) -> None:
    r, c = pq
    if r.sum() == 0 or c.sum() == 0:
        return
    rp = np.maximum(r / r.sum(), stats.PSI_EPSILON)
    cp = np.maximum(c / c.sum(), stats.PSI_EPSILON)
    expected = float(np.sum((cp - rp) * np.log(cp / rp)))
    assert stats.psi(r, c) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert stats.psi(r, r) == pytest.approx(0.0, abs=1e-12)


def test_psi_of_a_third_sd_shift_is_near_the_published_figure() -> None:
    rng = np.random.default_rng(3)
    ref = np.sort(rng.normal(size=200_000))
    cur = np.sort(rng.normal(0.3, size=200_000))
    edges = stats.quantile_edges(ref, 10)
    value = stats.psi(stats.counts_in_bins(ref, edges), stats.counts_in_bins(cur, edges))
    assert 0.07 < value < 0.11  # PEERS.md: ~0.085-0.09 with 10 quantile bins


def test_counts_in_bins_match_numpy_histogram_semantics() -> None:
    values = np.sort(np.array([0.0, 1.0, 1.0, 2.0, 3.0, 5.0]))
    counts = stats.counts_in_bins(values, np.array([1.0, 3.0]))
    assert counts.tolist() == [3, 2, 1]  # (-inf, 1], (1, 3], (3, inf)


def test_binned_statistics_approach_the_exact_ones_on_fine_bins() -> None:
    rng = np.random.default_rng(11)
    ref = np.sort(rng.normal(size=50_000))
    cur = np.sort(rng.normal(0.4, 1.2, size=40_000))
    edges = np.unique(np.quantile(ref, np.arange(1001) / 1000))
    f_ref = np.searchsorted(ref, edges, "right") / ref.size
    f_cur = np.searchsorted(cur, edges, "right") / cur.size
    below = float(np.sum(np.maximum(edges[0] - cur, 0))) / cur.size
    above = float(np.sum(np.maximum(cur - edges[-1], 0))) / cur.size
    exact = stats.compare_sorted(ref, cur)
    assert stats.binned_ks(f_ref, f_cur) == pytest.approx(exact.ks_statistic, abs=2e-3)
    w = stats.binned_wasserstein(edges, f_ref, f_cur, below_cur=below, above_cur=above)
    assert w == pytest.approx(exact.wasserstein, rel=0.03)


def test_compare_sorted_rejects_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        stats.compare_sorted(np.array([]), np.array([1.0]))
