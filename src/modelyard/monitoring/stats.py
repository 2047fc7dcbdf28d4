"""The statistical tests behind drift, on plain numpy arrays: no DataFrames, no per-row Python.

Numerical tests take *sorted* arrays without NaN: each column is sorted once and every test
reuses the order. Kolmogorov-Smirnov and Wasserstein share one merge of the two sorted
samples (a ``searchsorted`` of the current sample into the reference, then cumulative
counts), so both cost one pass after the two sorts. Categorical tests take aligned count
vectors (one entry per category, reference and current in the same order).

Every exact function agrees with scipy's reference implementation to 1e-6
(``tests/monitoring/test_stats.py`` checks that with hypothesis):

==================  ====================================================================
``ks_2samp``        ``scipy.stats.ks_2samp`` (method "auto": exact up to 10,000 rows a side)
``wasserstein``     ``scipy.stats.wasserstein_distance``
``js_distance``     ``scipy.spatial.distance.jensenshannon`` (natural log)
``chisquare``       ``scipy.stats.chisquare``
``chi2_homogeneity````scipy.stats.chi2_contingency(..., correction=False)`` on the 2 x k table
==================  ====================================================================

The ``binned_*`` functions work on cumulative distributions known only at bin edges (a
stored dataset profile, or a stream summarised batch by batch); they are approximations and
say so in their docstrings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import chdtrc

__all__ = [
    "KS_EXACT_MAX_N",
    "PSI_EPSILON",
    "SampleComparison",
    "binned_ks",
    "binned_wasserstein",
    "chi2_homogeneity",
    "chisquare",
    "compare_sorted",
    "counts_in_bins",
    "js_distance",
    "ks_2samp",
    "ks_pvalue",
    "psi",
    "quantile_edges",
    "wasserstein",
]

KS_EXACT_MAX_N = 10_000
"""Up to this many rows on the larger side the KS p-value is exact (as scipy's "auto")."""

PSI_EPSILON = 1e-4
"""Empty bins count as this proportion in PSI, so a category seen on one side only gives a
large but finite index (Evidently uses the same floor)."""

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class SampleComparison:
    """What one merge of two sorted samples gives: the KS statistic and the Wasserstein-1
    distance (not normalised)."""

    ks_statistic: float
    wasserstein: float


def compare_sorted(ref: Floats, cur: Floats) -> SampleComparison:
    """KS statistic and Wasserstein distance of two sorted, NaN-free, non-empty samples.

    The merged order comes from one ``searchsorted`` of ``cur`` into ``ref``: element ``j``
    of ``cur`` lands at ``#(ref <= cur[j]) + j``. Cumulative counts of "is current" along the
    merged array give both empirical CDFs; the CDFs are compared at the last element of every
    run of equal values, which is where scipy evaluates them too.
    """
    n1, n2 = ref.shape[0], cur.shape[0]
    if n1 == 0 or n2 == 0:
        raise ValueError("compare_sorted needs two non-empty samples.")
    n = n1 + n2
    index = np.int32 if n < 2**31 - 1 else np.int64
    pos_cur = np.searchsorted(ref, cur, side="right").astype(index, copy=False)
    pos_cur += np.arange(n2, dtype=index)
    is_cur = np.zeros(n, dtype=bool)
    is_cur[pos_cur] = True
    merged = np.empty(n, dtype=np.float64)
    merged[pos_cur] = cur
    del pos_cur
    merged[~is_cur] = ref
    c2 = np.cumsum(is_cur[:-1], dtype=index)
    del is_cur
    # F1 - F2 at positions 0..n-2 (the last position has both CDFs at 1):
    # F1 = (i + 1 - c2) / n1, F2 = c2 / n2
    cdf_diff = np.arange(1, n, dtype=np.float64)
    cdf_diff /= n1
    cdf_diff -= c2 * (1.0 / n1 + 1.0 / n2)
    del c2
    np.abs(cdf_diff, out=cdf_diff)
    gaps = np.diff(merged)
    del merged
    # the statistic where a run of equal values ends (gap > 0); then the integral. No BLAS
    # (np.dot): its threads spin against other work on a busy machine and cost more than the sum.
    d = float(np.max(cdf_diff, where=gaps > 0, initial=0.0))
    cdf_diff *= gaps
    w1 = float(cdf_diff.sum())
    return SampleComparison(ks_statistic=min(d, 1.0), wasserstein=w1)


def ks_pvalue(d: float, n1: int, n2: int) -> float:
    """Two-sided p-value of a two-sample KS statistic, the way scipy's "auto" method picks it
    above :data:`KS_EXACT_MAX_N` rows: Smirnov's asymptotic distribution (``kstwo``)."""
    from scipy.stats import kstwo  # scipy.stats takes seconds to import: only when asked

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def ks_2samp(ref: Floats, cur: Floats) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test of two sorted samples: ``(statistic, p_value)``.

    Up to :data:`KS_EXACT_MAX_N` rows on the larger side the exact p-value is scipy's own
    (cheap at that size); above it the statistic comes from :func:`compare_sorted` and the
    p-value from :func:`ks_pvalue`, which is what scipy does there too.
    """
    if max(ref.shape[0], cur.shape[0]) <= KS_EXACT_MAX_N:
        from scipy.stats import ks_2samp as _ks_2samp

        res = _ks_2samp(ref, cur)
        return float(res.statistic), float(res.pvalue)
    d = compare_sorted(ref, cur).ks_statistic
    return d, ks_pvalue(d, ref.shape[0], cur.shape[0])


def wasserstein(ref: Floats, cur: Floats) -> float:
    """First Wasserstein (earth mover's) distance of two sorted samples."""
    return compare_sorted(ref, cur).wasserstein


def js_distance(p: NDArray[np.floating] | NDArray[np.integer], q: NDArray[np.floating] | NDArray[np.integer]) -> float:
    """Jensen-Shannon *distance* (square root of the divergence, natural log) of two count or
    probability vectors over the same bins. 0 = identical, sqrt(ln 2) ~ 0.83 = disjoint."""
    pp = np.asarray(p, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    pp = pp / pp.sum()
    qq = qq / qq.sum()
    m = (pp + qq) / 2.0
    js = float(np.sum(_rel_entr(pp, m)) + np.sum(_rel_entr(qq, m)))
    return math.sqrt(max(js, 0.0) / 2.0)


def _rel_entr(x: Floats, y: Floats) -> Floats:
    out = np.zeros_like(x)
    pos = x > 0
    out[pos] = x[pos] * np.log(x[pos] / y[pos])
    return out


def psi(ref_counts: NDArray[np.floating] | NDArray[np.integer], cur_counts: NDArray[np.floating] | NDArray[np.integer], *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over proportions, with empty
    bins floored at ``epsilon``. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major."""
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    r = np.maximum(r / r.sum(), epsilon)
    c = np.maximum(c / c.sum(), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def chisquare(f_obs: NDArray[np.floating] | NDArray[np.integer], f_exp: NDArray[np.floating] | NDArray[np.integer]) -> tuple[float, float]:
    """Pearson's goodness-of-fit test of observed counts against expected counts (same total):
    ``(statistic, p_value)`` with ``k - 1`` degrees of freedom."""
    o = np.asarray(f_obs, dtype=np.float64)
    e = np.asarray(f_exp, dtype=np.float64)
    stat = float(np.sum((o - e) ** 2 / e))
    dof = o.shape[0] - 1
    if dof < 1:
        return stat, 1.0
    return stat, float(chdtrc(dof, stat))


def chi2_homogeneity(ref_counts: NDArray[np.floating] | NDArray[np.integer], cur_counts: NDArray[np.floating] | NDArray[np.integer]) -> tuple[float, float]:
    """Chi-square test that two samples come from the same categorical distribution: the
    2 x k contingency table of counts, expected counts from the pooled proportions, ``k - 1``
    degrees of freedom. Unlike a goodness-of-fit test against the reference proportions (which
    treats them as exact and raises false alarms on large samples), both sides carry sampling
    noise. For two categories it is the two-proportion z-test (the statistic is z squared).
    Categories empty on both sides are dropped."""
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    nr, nc = r.sum(), c.sum()
    if r.shape[0] < 2 or nr == 0 or nc == 0:
        return 0.0, 1.0
    total = r + c
    n = nr + nc
    er = total * (nr / n)
    ec = total * (nc / n)
    stat = float(np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec))
    return stat, float(chdtrc(r.shape[0] - 1, stat))


def quantile_edges(sorted_values: Floats, n_bins: int) -> Floats:
    """The inner edges of ``n_bins`` quantile bins of a sorted sample (``n_bins - 1`` edges or
    fewer: equal quantiles of a sample with ties collapse into one edge)."""
    if sorted_values.shape[0] == 0 or n_bins < 2:
        return np.empty(0, dtype=np.float64)
    levels = np.arange(1, n_bins) / n_bins
    return np.unique(np.quantile(sorted_values, levels))


def counts_in_bins(sorted_values: Floats, inner_edges: Floats) -> NDArray[np.int64]:
    """How many of a sorted sample fall in each bin ``(-inf, e0], (e0, e1], …, (ek, inf)``."""
    cuts = np.searchsorted(sorted_values, inner_edges, side="right")
    bounds = np.concatenate(([0], cuts, [sorted_values.shape[0]]))
    return np.diff(bounds).astype(np.int64)


def binned_ks(cdf_ref: Floats, cdf_cur: Floats) -> float:
    """KS statistic from two CDFs known at the same edges: the largest gap *at an edge*.

    Approximation: the true statistic can exceed it by at most the larger probability mass
    of one bin (with 1,000 reference-quantile bins, about 0.001)."""
    return float(np.max(np.abs(np.asarray(cdf_ref) - np.asarray(cdf_cur)))) if len(cdf_ref) else 0.0


def binned_wasserstein(
    edges: Floats,
    cdf_ref: Floats,
    cdf_cur: Floats,
    *,
    below_ref: float = 0.0,
    above_ref: float = 0.0,
    below_cur: float = 0.0,
    above_cur: float = 0.0,
) -> float:
    """Wasserstein-1 distance from two CDFs known at the same edges.

    Inside ``[edges[0], edges[-1]]`` each CDF is taken as linear between edges (mass spread
    evenly within a bin) and ``|F_ref - F_cur|`` is integrated exactly for that shape. Beyond
    the edges the distance is exact when only one side has mass there: ``below_*`` is the mean
    of ``(edges[0] - x)`` over values below the first edge (0 for the others) and ``above_*``
    the mean of ``(x - edges[-1])`` over values above the last; when both sides have mass
    beyond an edge the difference of the two means is used (a lower bound).
    Approximation error inside is at most the bin width times the CDF gap change in the bin.
    """
    e = np.asarray(edges, dtype=np.float64)
    a = np.asarray(cdf_ref, dtype=np.float64) - np.asarray(cdf_cur, dtype=np.float64)
    inner = 0.0
    if e.shape[0] > 1:
        w = np.diff(e)
        lo, hi = a[:-1], a[1:]
        alo, ahi = np.abs(lo), np.abs(hi)
        same = lo * hi >= 0
        denom = np.where(same, 1.0, alo + ahi)
        crossing = (lo * lo + hi * hi) / (2.0 * np.where(denom == 0, 1.0, denom))
        inner = float(np.sum(w * np.where(same, (alo + ahi) / 2.0, crossing)))
    return inner + abs(below_ref - below_cur) + abs(above_ref - above_cur)
