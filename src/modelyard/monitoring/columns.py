"""Summaries of one column, the unit every drift and quality check compares.

A :class:`NumericSummary` holds either the sorted values (exact tests) or a cumulative
distribution known at bin edges (a stored dataset profile, or a window streamed batch by batch
into a :class:`NumericAccumulator`); a :class:`CategoricalSummary` holds counts per category,
which are exact in every case. Building one from a polars Series costs one sort (numerical)
or one hash aggregation (categorical); nothing here loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from .stats import quantile_edges

__all__ = [
    "CATEGORICAL",
    "DISCRETE_MAX_UNIQUE",
    "NUMERICAL",
    "SKETCH_BINS",
    "CategoricalAccumulator",
    "CategoricalSummary",
    "ColumnSummary",
    "NumericAccumulator",
    "NumericSummary",
    "category_keys",
    "kind_of_dtype",
    "numeric_values",
    "summarize",
]

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
DISCRETE_MAX_UNIQUE = 5
"""A numerical reference column with at most this many distinct values is compared as
categorical (Evidently's rule too): a KS test on five values says little."""
SKETCH_BINS = 1000
"""Reference-quantile bins of the sketch a stream is summarised into (levels k/1000)."""

Floats = NDArray[np.float64]


def kind_of_dtype(dtype: pl.DataType) -> str | None:
    """``numerical``, ``categorical`` or None (a type drift cannot compare: lists, structs …)."""
    if dtype.is_numeric() or dtype.is_temporal():
        return NUMERICAL
    if dtype in (pl.String, pl.Boolean, pl.Categorical) or isinstance(dtype, (pl.Enum, pl.Categorical)):
        return CATEGORICAL
    if dtype == pl.Null:
        return NUMERICAL
    return None


@dataclass
class NumericSummary:
    """One numerical column: counts, moments, and either sorted values or a CDF at edges.

    ``edges``/``cdf``: the fraction of values ``<= edges[i]`` (empty when ``values`` is set and
    no sketch was asked for). ``below``/``above``: mean over *all* values of how far each lies
    below ``edges[0]`` / above ``edges[-1]`` (0 for the others), which keeps Wasserstein exact
    beyond the reference range. ``n`` counts non-missing values.
    """

    n: int
    missing: int
    mean: float
    std: float
    min: float
    max: float
    values: Floats | None = None
    edges: Floats = field(default_factory=lambda: np.empty(0))
    cdf: Floats = field(default_factory=lambda: np.empty(0))
    below: float = 0.0
    above: float = 0.0
    n_below: int = 0  # values < edges[0] (for a current sketch on reference edges)
    n_above: int = 0
    n_unique: int | None = None
    unreadable: int = 0  # values present but not numbers (a type mismatch)
    kind: str = NUMERICAL
    bin_cache: dict[int, Floats] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.values is not None

    @property
    def total(self) -> int:
        return self.n + self.missing

    def cdf_at(self, x: Floats) -> Floats:
        """The fraction of values ``<= x``: exact from the values, else linear between edges."""
        x = np.asarray(x, dtype=np.float64)
        if self.n == 0:
            return np.zeros_like(x)
        if self.values is not None:
            return np.searchsorted(self.values, x, side="right") / self.n
        xp, fp = self.edges, self.cdf
        # mass beyond the edges (a current sketch on reference edges) spreads to min/max
        if xp.shape[0] and self.min < xp[0]:
            xp, fp = np.concatenate(([self.min], xp)), np.concatenate(([0.0], fp))
        if xp.shape[0] and self.max > xp[-1]:
            xp, fp = np.concatenate((xp, [self.max])), np.concatenate((fp, [1.0]))
        return np.interp(x, xp, fp, left=0.0, right=1.0)

    def inner_edges(self, n_bins: int) -> Floats:
        """Inner edges of ``n_bins`` quantile bins of this (reference) column: exact from the
        values, else read off the CDF (cached, so a sketch keeps the exact ones)."""
        cached = self.bin_cache.get(n_bins)
        if cached is not None:
            return cached
        if self.values is not None:
            edges = quantile_edges(self.values, n_bins)
        elif self.edges.shape[0]:
            levels = np.arange(1, n_bins) / n_bins
            edges = np.unique(np.interp(levels, self.cdf, self.edges))
        else:
            edges = np.empty(0)
        self.bin_cache[n_bins] = edges
        return edges

    def tails(self, lo: float, hi: float) -> tuple[float, float]:
        """Mean distance below ``lo`` and above ``hi`` (exact from values; from the sketch only
        when ``lo``/``hi`` are its own first/last edge)."""
        if self.n == 0:
            return 0.0, 0.0
        if self.values is not None:
            v = self.values
            i = int(np.searchsorted(v, lo, side="left"))
            j = int(np.searchsorted(v, hi, side="right"))
            below = float(lo * i - v[:i].sum()) / self.n if i else 0.0
            above = float(v[j:].sum() - hi * (v.shape[0] - j)) / self.n if j < v.shape[0] else 0.0
            return below, above
        if self.edges.shape[0] and lo == self.edges[0] and hi == self.edges[-1]:
            return self.below, self.above
        return 0.0, 0.0

    def outside(self, lo: float, hi: float) -> int:
        """How many values lie strictly outside ``[lo, hi]``."""
        if self.n == 0:
            return 0
        if self.values is not None:
            v = self.values
            return int(np.searchsorted(v, lo, side="left") + v.shape[0] - np.searchsorted(v, hi, side="right"))
        if self.edges.shape[0] and lo == self.edges[0] and hi == self.edges[-1]:
            return self.n_below + self.n_above
        return round(self.n * (float(self.cdf_at(np.array([lo]))[0]) + 1.0 - float(self.cdf_at(np.array([hi]))[0])))

    def sketch(self) -> tuple[Floats, Floats]:
        """Edges (reference quantiles at levels k/1000, deduplicated) and the CDF there."""
        if self.edges.shape[0] or self.values is None or self.n == 0:
            return self.edges, self.cdf
        levels = np.arange(SKETCH_BINS + 1) / SKETCH_BINS
        edges = np.unique(np.quantile(self.values, levels))
        self.edges = edges
        self.cdf = np.searchsorted(self.values, edges, side="right") / self.n
        return self.edges, self.cdf

    def drop_values(self, n_bins: int = 10) -> None:
        """Keep only the sketch (for a reference kept across many windows)."""
        self.sketch()
        self.inner_edges(n_bins)
        self.values = None


@dataclass
class CategoricalSummary:
    """One categorical column: counts per category (keys as text) and missing values."""

    counts: dict[str, int]
    missing: int
    kind: str = CATEGORICAL
    source_kind: str = CATEGORICAL  # NUMERICAL for a discrete numerical column

    @property
    def n(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def total(self) -> int:
        return self.n + self.missing

    @property
    def n_unique(self) -> int:
        return len(self.counts)


ColumnSummary = NumericSummary | CategoricalSummary


def numeric_values(series: pl.Series) -> tuple[Floats, int, int]:
    """The non-missing values of ``series`` as float64 (unsorted), the number missing, and the
    number of values that are present but not numbers (text in a numerical column)."""
    dtype = series.dtype
    unreadable = 0
    if dtype.is_temporal():
        s = series.to_physical().cast(pl.Float64)
    elif dtype.is_numeric() or dtype == pl.Boolean:
        s = series.cast(pl.Float64)
    else:
        text = series.cast(pl.String, strict=False)
        s = text.str.strip_chars().cast(pl.Float64, strict=False)
        unreadable = int(s.null_count() - text.null_count())
    arr = s.to_numpy()
    if arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    ok = ~np.isnan(arr)
    n_ok = int(ok.sum())
    values = arr if n_ok == arr.shape[0] else arr[ok]
    return values, series.len() - n_ok - unreadable, unreadable


def _numeric_from_values(values: Floats, missing: int, unreadable: int = 0) -> NumericSummary:
    values = np.sort(values)
    n = int(values.shape[0])
    if n == 0:
        nan = float("nan")
        return NumericSummary(0, missing, nan, nan, nan, nan, values=values, n_unique=0,
                              unreadable=unreadable)
    changes = int(np.count_nonzero(values[1:] != values[:-1])) + 1
    return NumericSummary(
        n=n, missing=missing, mean=float(values.mean()), std=float(values.std()),
        min=float(values[0]), max=float(values[-1]), values=values, n_unique=changes,
        unreadable=unreadable,
    )


def category_keys(series: pl.Series, source_kind: str) -> pl.Series:
    """Category labels as text. Numbers go through float64 first, so 1 and 1.0 are one key."""
    dtype = series.dtype
    if source_kind == NUMERICAL:
        if dtype.is_numeric() or dtype == pl.Boolean:
            s = series.cast(pl.Float64)
        else:
            s = series.cast(pl.String, strict=False).str.strip_chars().cast(pl.Float64, strict=False)
        return s.fill_nan(None).cast(pl.String)
    if dtype == pl.Boolean:
        return series.cast(pl.String)
    return series.cast(pl.String, strict=False)


def _category_counts(keys: pl.Series) -> tuple[dict[str, int], int]:
    missing = keys.null_count()
    vc = keys.drop_nulls().value_counts(sort=True, name="__n")
    return dict(zip(vc[keys.name].to_list(), vc["__n"].to_list())), int(missing)


def summarize(series: pl.Series, kind: str | None = None, *, source_kind: str | None = None) -> ColumnSummary:
    """Summarise one column as ``kind`` (default: from its dtype; a numerical column with at
    most :data:`DISCRETE_MAX_UNIQUE` distinct values becomes categorical)."""
    kind = kind or kind_of_dtype(series.dtype) or CATEGORICAL
    if kind == NUMERICAL:
        values, missing, unreadable = numeric_values(series)
        summary = _numeric_from_values(values, missing, unreadable)
        return summary
    src = source_kind or (kind_of_dtype(series.dtype) or CATEGORICAL)
    counts, missing = _category_counts(category_keys(series, src))
    return CategoricalSummary(counts=counts, missing=missing, source_kind=src)


def discrete_as_categorical(summary: NumericSummary) -> CategoricalSummary:
    """A numerical summary with few distinct values, re-counted per value (keys as text)."""
    assert summary.values is not None
    vals, counts = np.unique(summary.values, return_counts=True)
    keys = pl.Series("k", vals, dtype=pl.Float64).cast(pl.String).to_list()
    return CategoricalSummary(
        counts=dict(zip(keys, (int(c) for c in counts))), missing=summary.missing,
        source_kind=NUMERICAL,
    )


class NumericAccumulator:
    """Summarise a numerical column batch by batch on fixed edges (the reference's sketch).

    Memory is ``O(len(edges))`` whatever the number of rows; counts below/above the edges and
    the mean distances beyond them are exact, the CDF is exact at every edge.
    """

    def __init__(self, edges: Floats) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.counts = np.zeros(self.edges.shape[0] + 1, dtype=np.int64)
        self.n = 0
        self.missing = 0
        self.unreadable = 0
        self.sum = 0.0
        self.sumsq = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.below_sum = 0.0
        self.above_sum = 0.0
        self.n_below = 0
        self.n_above = 0

    def update(self, series: pl.Series) -> None:
        values, missing, unreadable = numeric_values(series)
        self.missing += missing
        self.unreadable += unreadable
        if values.shape[0] == 0:
            return
        self.n += int(values.shape[0])
        self.sum += float(values.sum())
        self.sumsq += float(np.einsum("i,i->", values, values))
        if self.edges.shape[0] == 0:
            self.min = min(self.min, float(values.min()))
            self.max = max(self.max, float(values.max()))
            return
        # sorting the batch and searching the ~1,000 edges in it is ~10x faster than
        # searching every value among the edges
        v = np.sort(values)
        self.min = min(self.min, float(v[0]))
        self.max = max(self.max, float(v[-1]))
        at = np.searchsorted(v, self.edges, side="right")  # values <= each edge
        self.counts[0] += at[0]
        self.counts[1:-1] += np.diff(at)
        self.counts[-1] += v.shape[0] - at[-1]
        lo, hi = self.edges[0], self.edges[-1]
        i = int(np.searchsorted(v, lo, side="left"))
        j = int(at[-1])
        self.n_below += i
        self.n_above += v.shape[0] - j
        self.below_sum += float(lo * i - v[:i].sum())
        self.above_sum += float(v[j:].sum() - hi * (v.shape[0] - j))

    def summary(self) -> NumericSummary:
        n = self.n
        if n == 0:
            nan = float("nan")
            return NumericSummary(0, self.missing, nan, nan, nan, nan, values=None,
                                  edges=self.edges, cdf=np.zeros_like(self.edges),
                                  unreadable=self.unreadable, n_unique=0)
        mean = self.sum / n
        var = max(self.sumsq / n - mean * mean, 0.0)
        cdf = np.cumsum(self.counts[:-1]) / n
        return NumericSummary(
            n=n, missing=self.missing, mean=mean, std=float(np.sqrt(var)), min=self.min,
            max=self.max, values=None, edges=self.edges, cdf=cdf,
            below=self.below_sum / n, above=self.above_sum / n,
            n_below=self.n_below, n_above=self.n_above, unreadable=self.unreadable,
        )


class CategoricalAccumulator:
    """Counts per category, merged batch by batch (exact)."""

    def __init__(self, source_kind: str = CATEGORICAL) -> None:
        self.source_kind = source_kind
        self.counts: dict[str, int] = {}
        self.missing = 0

    def update(self, series: pl.Series) -> None:
        counts, missing = _category_counts(category_keys(series, self.source_kind))
        self.missing += missing
        for key, c in counts.items():
            self.counts[key] = self.counts.get(key, 0) + int(c)

    def summary(self) -> CategoricalSummary:
        return CategoricalSummary(counts=dict(self.counts), missing=self.missing,
                                  source_kind=self.source_kind)


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if not isinstance(obj, Mapping) and hasattr(obj, name):
            return getattr(obj, name)
    return default


def from_profile(column: Any) -> ColumnSummary | None:
    """A reference summary from a stored dataset profile's column entry
    (``datasets.entities.ColumnProfile`` or a dict with the same names): ``count`` (non-null
    values), ``nulls``, ``nan``, ``min``/``max``, ``mean``/``std`` and ``histogram`` (bin
    ``edges`` + ``counts``) for numbers; ``top`` categories with counts (or frequencies) for
    the rest. None when the entry carries neither a histogram nor categories (datetimes)."""
    count = _get(column, "count", "n", "n_rows")
    nulls = int(_get(column, "nulls", "null_count", "missing", default=0) or 0)
    nan = int(_get(column, "nan", default=0) or 0)
    top = _get(column, "top", "categories", "top_categories", "frequencies")
    hist = _get(column, "histogram", "hist")
    edges = _get(hist, "edges", "bin_edges", "bins") if hist is not None else _get(column, "bin_edges", "edges")
    counts = _get(hist, "counts", "count") if hist is not None else _get(column, "bin_counts", "counts")
    if edges is not None and counts is not None and len(counts) == len(edges) - 1 and len(counts):
        e = np.asarray(edges, dtype=np.float64)
        c = np.asarray(counts, dtype=np.float64)
        total = max(float(c.sum()), 1.0)
        # histogram bins are [a, b): the CDF at the right edge of bin i is the mass up to it
        cdf = np.concatenate(([0.0], np.cumsum(c))) / total
        centers = (e[:-1] + e[1:]) / 2
        w = c / total
        mean = _get(column, "mean")
        std = _get(column, "std")
        mean = float(mean) if mean is not None else float(np.sum(centers * w))
        std = float(std) if std is not None else float(np.sqrt(np.sum(w * (centers - mean) ** 2)))
        lo, hi = _get(column, "min", default=e[0]), _get(column, "max", default=e[-1])
        return NumericSummary(
            n=int(c.sum()), missing=nulls + nan, mean=mean, std=std,
            min=float(lo) if lo is not None else float(e[0]),
            max=float(hi) if hi is not None else float(e[-1]),
            values=None, edges=e, cdf=cdf, n_unique=_get(column, "n_unique", "n_distinct"),
        )
    if top:
        if isinstance(top, Mapping):
            items = list(top.items())
        elif isinstance(top[0], (list, tuple)):
            items = [(t[0], t[1]) for t in top]
        else:
            items = [(_get(t, "value", "category", "key"), _get(t, "count", "frequency", "n")) for t in top]
        values = [float(v) for _, v in items]
        total = int(count) if count is not None else None
        if values and total and sum(values) <= 1.0 + 1e-9:  # frequencies
            values = [v * total for v in values]
        out = {str(k): round(v) for (k, _), v in zip(items, values)}
        if total is not None and total > sum(out.values()):
            out["__other__"] = total - sum(out.values())  # categories past the profile's top list
        return CategoricalSummary(counts=out, missing=nulls)
    return None
