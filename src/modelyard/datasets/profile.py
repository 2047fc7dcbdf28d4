"""Column profiles, streamed by record batch in bounded memory and merged across fragments.

Each fragment gets a *sketch* when it is written (:class:`FragmentProfiler`, one pass over its
batches): exact count, nulls, NaN, min, max, mean and M2 (Chan's parallel merge), an exact
histogram on aligned bins of width ``2**k`` (a bin is ``[i * 2**k, (i + 1) * 2**k)``; when the
values spread over more than ``MAX_BINS`` bins, ``k`` grows by one and neighbouring bins merge,
so any two sketches align), 201 quantile points from a uniform sample of at most
``SAMPLE_SIZE`` rows (bottom-k sampling with seeded random keys: exact when the fragment has
fewer rows), and the most frequent values of categoricals.

A version's profile (:func:`build_profile`) merges the sketches of its fragments: counts and
moments add up, histograms align, quantiles come from the mixture of the fragments'
distributions. Old rows are never read again on append. Memory is bounded by the sample and the
category table, not by the number of rows.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .entities import CategoryCount, ColumnKind, ColumnProfile, Histogram, Profile

__all__ = [
    "MAX_BINS",
    "QUANTILE_LEVELS",
    "SAMPLE_SIZE",
    "FragmentProfiler",
    "build_profile",
    "column_kind",
    "merge_sketches",
]

SAMPLE_SIZE = 65_536
MAX_BINS = 64
TOP_KEEP = 1_000  # distinct values kept per fragment and column
TOP_SHOWN = 20  # values shown in a profile
_SKETCH_LEVELS = np.linspace(0.0, 1.0, 201)
QUANTILE_LEVELS: list[float] = [round(i / 100, 2) for i in range(101)]
_MAX_INDEX = 2**52


def column_kind(dtype: pa.DataType) -> ColumnKind:
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "datetime"
    if (
        pa.types.is_boolean(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_dictionary(dtype)
    ):
        return "categorical"
    return "other"


class FragmentProfiler:
    """Accumulates the sketch of one fragment, batch by batch."""

    def __init__(self, schema: pa.Schema, seed: int) -> None:
        self.schema = schema
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._n_rows = 0
        self._cols: dict[str, dict[str, Any]] = {}
        self._sampled = [
            f.name for f in schema if column_kind(f.type) in ("numeric", "datetime")
        ]
        self._sample_keys: list[np.ndarray] = []
        self._sample_vals: dict[str, list[np.ndarray]] = {name: [] for name in self._sampled}
        self._threshold = 1.0
        self._sample_len = 0
        for f in schema:
            self._cols[f.name] = _empty_column(f.type)

    # ---- streaming -------------------------------------------------------------------------
    def update(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        if n == 0:
            return
        self._n_rows += n
        values: dict[str, np.ndarray] = {}
        for f, column in zip(self.schema, batch.columns):
            state = self._cols[f.name]
            nulls = column.null_count
            state["nulls"] += nulls
            state["count"] += n - nulls
            kind = state["kind"]
            if kind == "numeric":
                arr = _as_float(column)
                values[f.name] = arr
                _update_numeric(state, arr, nulls)
            elif kind == "datetime":
                arr = _as_micros(column)
                values[f.name] = arr
                finite = arr[~np.isnan(arr)] if nulls else arr
                if finite.size:
                    state["min"] = _min(state["min"], float(finite.min()))
                    state["max"] = _max(state["max"], float(finite.max()))
            elif kind == "categorical":
                _update_categories(state, column)
        if self._sampled:
            self._update_sample(n, values)

    def _update_sample(self, n: int, values: dict[str, np.ndarray]) -> None:
        keys = self._rng.random(n)
        if self._threshold < 1.0:
            chosen = np.flatnonzero(keys < self._threshold)
            if chosen.size == 0:
                return
            keys = keys[chosen]
            values = {name: values[name][chosen] for name in self._sampled}
        self._sample_keys.append(keys)
        for name in self._sampled:
            self._sample_vals[name].append(values[name])
        self._sample_len += keys.size
        if self._sample_len > 2 * SAMPLE_SIZE:
            self._trim_sample()

    def _trim_sample(self) -> None:
        """Keep the rows with the ``SAMPLE_SIZE`` smallest keys (a uniform sample), in row
        order."""
        keys = _joined(self._sample_keys)
        if keys.size > SAMPLE_SIZE:
            self._threshold = _kth_smallest(keys, SAMPLE_SIZE)
            keep = np.flatnonzero(keys <= self._threshold)
            self._sample_keys = [keys[keep]]
            for name in self._sampled:
                self._sample_vals[name] = [_joined(self._sample_vals[name])[keep]]
        else:
            self._sample_keys = [keys]
            for name in self._sampled:
                self._sample_vals[name] = [_joined(self._sample_vals[name])]
        self._sample_len = self._sample_keys[0].size

    # ---- result ----------------------------------------------------------------------------
    def sketch(self) -> dict[str, Any]:
        """The JSON-able sketch of everything seen so far."""
        if self._sampled and self._sample_keys:
            self._trim_sample()
        columns: dict[str, Any] = {}
        for f in self.schema:
            state = dict(self._cols[f.name])
            if self._sample_vals.get(f.name):
                sample = self._sample_vals[f.name][0]
                missing = np.isnan(sample)
                if missing.any():
                    sample = sample[~missing]
                if sample.size:
                    state["q"] = [float(v) for v in _quantiles(sample)]
            if state["kind"] == "numeric" and not (
                math.isfinite(state["mean"]) and math.isfinite(state["m2"])
            ):
                state["mean"] = state["m2"] = None  # overflowed (values near 1e308)
            if state["kind"] == "categorical":
                top = state["top"]
                if len(top) > TOP_KEEP:
                    state["top"] = dict(sorted(top.items(), key=lambda kv: -kv[1])[:TOP_KEEP])
                    state["truncated"] = True
            columns[f.name] = state
        return {"n_rows": self._n_rows, "columns": columns}


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _quantiles(values: np.ndarray) -> np.ndarray:
    """``np.quantile(values, _SKETCH_LEVELS)`` (linear) from the few order statistics it
    needs (:func:`_order_statistics`) instead of 201 partitions or a full sort."""
    position = _SKETCH_LEVELS * (values.size - 1)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, values.size - 1)
    ranks = np.unique(np.concatenate([lo, hi]))
    at = _order_statistics(values, ranks)
    frac = position - lo
    low, high = at[np.searchsorted(ranks, lo)], at[np.searchsorted(ranks, hi)]
    return low + frac * (high - low)


_BUCKETS = 4096
_HEAVY = 1024  # values in a bucket worth cutting again rather than sorting


def _order_statistics(values: np.ndarray, ranks: np.ndarray, depth: int = 0) -> np.ndarray:
    """``np.sort(values)[ranks]`` (``values`` without NaN) without sorting every value.

    The values are cut into ``_BUCKETS`` equal ranges (an order-preserving map), and only the
    buckets holding a wanted rank are looked at: the light ones are sorted together, a heavy
    one (a pile of tied values, or the crowded end of a skewed column) is cut again the same
    way. Exact: the same answer as a full sort."""
    n = values.size
    if n > 1 and bool(np.all(values[1:] >= values[:-1])):  # already in order (event times)
        return values[ranks]
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return np.full(ranks.shape, lo)
    if n <= _BUCKETS or depth > 8 or not math.isfinite(hi - lo):
        return np.sort(values)[ranks]
    scaled = values - lo
    if hi - lo < _BUCKETS and bool(np.all(np.floor(scaled) == scaled)):
        # whole numbers on a narrow range (flags, codes, counts): counting is sorting
        ends = np.cumsum(np.bincount(scaled.astype(np.int64)))
        return lo + np.searchsorted(ends, ranks, side="right").astype(np.float64)
    scaled *= _BUCKETS / (hi - lo)
    bucket = np.minimum(scaled.astype(np.int64), _BUCKETS - 1)
    counts = np.bincount(bucket, minlength=_BUCKETS)
    ends = np.cumsum(counts)
    where = np.searchsorted(ends, ranks, side="right")  # the bucket holding each rank
    first = ends[where] - counts[where]  # the rank of that bucket's smallest value
    wanted = np.zeros(counts.size, dtype=bool)
    wanted[where] = True
    light = wanted & (counts <= max(_HEAVY, n // 16))  # piles above that are cut again
    kept = np.where(light, counts, 0)
    if int(kept.sum()) > n // 4:  # the wanted buckets hold much of the column: just sort
        return np.sort(values)[ranks]
    out = np.empty(ranks.shape, dtype=np.float64)
    in_light = light[where]
    if in_light.any():
        before = np.cumsum(kept) - kept  # light values in the buckets before each one
        ordered = np.sort(values[light[bucket]])
        out[in_light] = ordered[(ranks - first + before[where])[in_light]]
    for heavy in np.unique(where[~in_light]):
        these = where == heavy
        out[these] = _order_statistics(values[bucket == heavy], (ranks - first)[these],
                                       depth + 1)
    return out


def _kth_smallest(keys: np.ndarray, k: int) -> float:
    """The ``k``-th smallest of ``keys`` (uniform in [0, 1)), from a histogram of them and a
    sort of the one bin that holds it."""
    bins = np.minimum((keys * _BUCKETS).astype(np.int64), _BUCKETS - 1)
    ends = np.cumsum(np.bincount(bins, minlength=_BUCKETS))
    b = int(np.searchsorted(ends, k - 1, side="right"))
    inside = np.sort(keys[bins == b])
    return float(inside[k - 1 - (int(ends[b - 1]) if b else 0)])


# ---- per kind ----------------------------------------------------------------------------------
def _empty_column(dtype: pa.DataType) -> dict[str, Any]:
    kind = column_kind(dtype)
    state: dict[str, Any] = {"kind": kind, "type": str(dtype), "count": 0, "nulls": 0}
    if kind == "numeric":
        state.update(nan=0, n_finite=0, min=None, max=None, mean=0.0, m2=0.0, hist=None, q=None)
    elif kind == "datetime":
        state.update(min=None, max=None, q=None)
    elif kind == "categorical":
        state.update(top={}, truncated=False)
    return state


def _as_float(column: pa.Array) -> np.ndarray:
    if pa.types.is_decimal(column.type):
        column = pc.cast(column, pa.float64())
    arr = column.to_numpy(zero_copy_only=False)
    return np.asarray(arr, dtype=np.float64)  # nulls become NaN


def _as_micros(column: pa.Array) -> np.ndarray:
    if pa.types.is_date(column.type):
        column = pc.cast(column, pa.timestamp("us"))
    elif column.type.unit != "us":
        column = pc.cast(column, pa.timestamp("us", column.type.tz), safe=False)
    ints = pc.cast(column, pa.int64())
    return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.float64)


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _max(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)


def _update_numeric(state: dict[str, Any], arr: np.ndarray, nulls: int) -> None:
    finite_mask = np.isfinite(arr)
    n_finite = int(np.count_nonzero(finite_mask))
    if n_finite < arr.size:
        state["nan"] += int(np.count_nonzero(np.isnan(arr))) - nulls  # nulls read back as NaN
    if n_finite == 0:
        return
    v = arr if n_finite == arr.size else arr[finite_mask]
    lo, hi = float(v.min()), float(v.max())
    state["min"] = _min(state["min"], lo)
    state["max"] = _max(state["max"], hi)
    mean_b = float(v.mean())
    scratch = v - mean_b  # one temporary, reused by the histogram (no BLAS: its threads spin)
    m2_b = float(np.square(scratch, out=scratch).sum())
    _merge_moments(state, n_finite, mean_b, m2_b)
    state["hist"] = _hist_add(state["hist"], v, lo, hi, scratch)


def _merge_moments(state: dict[str, Any], n_b: int, mean_b: float, m2_b: float) -> None:
    n_a, mean_a, m2_a = state["n_finite"], state["mean"], state["m2"]
    n = n_a + n_b
    delta = mean_b - mean_a
    state["mean"] = mean_a + delta * n_b / n
    state["m2"] = m2_a + m2_b + delta * delta * n_a * n_b / n
    state["n_finite"] = n


def _update_categories(state: dict[str, Any], column: pa.Array) -> None:
    if column.null_count == len(column):
        return
    top: dict[str, int] = state["top"]
    if pa.types.is_boolean(column.type):  # counting the trues is enough
        trues = int(pc.sum(column).as_py() or 0)
        for key, count in (("true", trues), ("false", len(column) - column.null_count - trues)):
            if count:
                top[key] = top.get(key, 0) + count
        return
    counts = pc.value_counts(column.drop_null() if column.null_count else column)
    if len(counts) > TOP_KEEP:
        state["truncated"] = True
        order = pc.select_k_unstable(counts.field("counts"), k=TOP_KEEP,
                                     sort_keys=[("dummy", "descending")])
        counts = counts.take(order)
    for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
        key = _category_key(value)
        top[key] = top.get(key, 0) + count
    if len(top) > 10 * TOP_KEEP:
        state["truncated"] = True
        state["top"] = dict(sorted(top.items(), key=lambda kv: -kv[1])[: 2 * TOP_KEEP])


def _category_key(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- histograms on aligned power-of-two bins -------------------------------------------------
def _hist_add(hist: dict[str, Any] | None, v: np.ndarray, lo: float, hi: float,
              scratch: np.ndarray | None = None) -> dict[str, Any]:
    if hist is None:
        span = hi - lo
        if span > 0:
            k = math.ceil(math.log2(span / MAX_BINS)) if span / MAX_BINS > 0 else 0
        else:
            k = (math.floor(math.log2(abs(lo))) - 6) if lo != 0 else -20
        hist = {"k": k, "lo": 0, "counts": []}
    k = hist["k"]
    # keep indices well inside int64 (and float precision)
    biggest = max(abs(lo), abs(hi))
    while biggest / 2.0**k > _MAX_INDEX:
        k += 1
    hist = _coarsen(hist, k - hist["k"])
    i_lo, i_hi = math.floor(lo * 2.0**-k), math.floor(hi * 2.0**-k)
    if hist["counts"]:
        i_lo, i_hi = min(i_lo, hist["lo"]), max(i_hi, hist["lo"] + len(hist["counts"]) - 1)
    steps = 0
    while (i_hi >> steps) - (i_lo >> steps) + 1 > MAX_BINS:
        steps += 1
    scaled = np.multiply(v, 2.0**-k, out=scratch)  # exact: a power of two
    np.floor(scaled, out=scaled)
    if steps:  # bins 2**steps wider: the same as shifting the integer bin numbers
        scaled *= 2.0**-steps
        np.floor(scaled, out=scaled)
        hist = _coarsen(hist, steps)
        i_lo, i_hi = i_lo >> steps, i_hi >> steps
    scaled -= i_lo  # small whole numbers from here: exact
    counts = np.zeros(i_hi - i_lo + 1, dtype=np.int64)
    if hist["counts"]:
        start = hist["lo"] - i_lo
        counts[start : start + len(hist["counts"])] += np.asarray(hist["counts"], dtype=np.int64)
    counts += np.bincount(scaled.astype(np.intp), minlength=counts.size)
    return {"k": hist["k"], "lo": i_lo, "counts": counts.tolist()}


def _coarsen(hist: dict[str, Any], steps: int) -> dict[str, Any]:
    """The same histogram with bins ``2**steps`` times wider."""
    if steps <= 0 or not hist["counts"]:
        return {"k": hist["k"] + max(steps, 0), "lo": hist["lo"] >> max(steps, 0),
                "counts": list(hist["counts"])}
    idx = np.arange(hist["lo"], hist["lo"] + len(hist["counts"]), dtype=np.int64) >> steps
    lo = int(idx[0])
    counts = np.bincount(idx - lo, weights=np.asarray(hist["counts"], dtype=np.float64))
    return {"k": hist["k"] + steps, "lo": lo, "counts": [int(c) for c in counts]}


def _hist_merge_all(hists: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One histogram for many: align every one to the widest bins once, then add up."""
    present = [h for h in hists if h is not None and h["counts"]]
    if len(present) <= 1:
        return present[0] if present else None
    k = max(h["k"] for h in present)
    aligned = [_coarsen(h, k - h["k"]) for h in present]
    lo = min(h["lo"] for h in aligned)
    hi = max(h["lo"] + len(h["counts"]) for h in aligned) - 1
    steps = 0
    while (hi >> steps) - (lo >> steps) + 1 > MAX_BINS:
        steps += 1
    total = np.zeros(hi - lo + 1, dtype=np.int64)
    for h in aligned:
        total[h["lo"] - lo : h["lo"] - lo + len(h["counts"])] += np.asarray(h["counts"])
    return _coarsen({"k": k, "lo": lo, "counts": total.tolist()}, steps)


# ---- merging sketches ------------------------------------------------------------------------
def merge_sketches(sketches: list[dict[str, Any]], start: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """One sketch for the rows of all ``sketches`` (the fragments of a version, in order).

    Counts, moments, histograms and categories are folded in fragment order, so ``start``,
    a merge this function returned for the first ``start["fragments"]`` of the same sketches
    (the version appended to), saves folding those again: an append costs the same whatever
    the number of fragments before it. Quantiles come from the mixture of every fragment's
    points."""
    if not sketches:
        return {"n_rows": 0, "fragments": 0, "columns": {}}
    if len(sketches) == 1:
        return {**sketches[0], "fragments": 1}
    done = int(start["fragments"]) if start is not None else 0
    if not 0 < done <= len(sketches):
        start, done = sketches[0], 1
    folded = start
    assert folded is not None
    for sketch in sketches[done:]:
        folded = {
            "n_rows": folded["n_rows"] + sketch["n_rows"],
            "columns": {
                name: _merge_column([column, sketch["columns"][name]])
                for name, column in folded["columns"].items()
            },
        }
    columns = dict(folded["columns"])
    for name, column in columns.items():
        if column["kind"] in ("numeric", "datetime"):
            parts = [s["columns"][name] for s in sketches]
            weights = [p.get("n_finite", p["count"]) for p in parts]
            columns[name] = {**column,
                             "q": _mixture_quantiles([p.get("q") for p in parts], weights)}
    return {"n_rows": folded["n_rows"], "fragments": len(sketches), "columns": columns}


def _merge_column(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, moments, histogram and categories of ``parts`` together (quantiles aside: they
    need every fragment, see :func:`merge_sketches`)."""
    out: dict[str, Any] = {
        "kind": parts[0]["kind"],
        "type": parts[0]["type"],
        "count": sum(p["count"] for p in parts),
        "nulls": sum(p["nulls"] for p in parts),
    }
    kind = out["kind"]
    if kind in ("numeric", "datetime"):
        mins = [p["min"] for p in parts if p.get("min") is not None]
        maxs = [p["max"] for p in parts if p.get("max") is not None]
        out["min"] = min(mins) if mins else None
        out["max"] = max(maxs) if maxs else None
        out["q"] = None
    if kind == "numeric":
        out.update(nan=sum(p["nan"] for p in parts), n_finite=0, mean=0.0, m2=0.0, hist=None)
        for p in parts:
            if p["n_finite"] and out["mean"] is not None:
                if p["mean"] is None:
                    out["mean"] = out["m2"] = None
                else:
                    _merge_moments(out, p["n_finite"], p["mean"], p["m2"])
        out["hist"] = _hist_merge_all([p["hist"] for p in parts])
    elif kind == "categorical":
        top: dict[str, int] = {}
        for p in parts:
            for value, count in p["top"].items():
                top[value] = top.get(value, 0) + count
        out["truncated"] = any(p["truncated"] for p in parts)
        if len(top) > TOP_KEEP:
            top = dict(sorted(top.items(), key=lambda kv: -kv[1])[:TOP_KEEP])
            out["truncated"] = True
        out["top"] = top
    return out


def _mixture_quantiles(points: list[list[float] | None], weights: list[int]) -> list[float] | None:
    """Quantiles (at the sketch levels) of the mixture of the distributions given by their
    quantile points, each weighted by its count.

    Each fragment's points describe a CDF that is linear between distinct points and jumps at a
    repeated point (a value many rows share: a 0/1 flag, a tied or zero-inflated column): the
    mass between two neighbouring levels is spread evenly between their points, or sits on the
    point when both are the same value. The mixture's CDF is built in one sweep over all the
    points (a density that changes only at points, plus point masses), both at each point and
    just below it, so its jumps stay jumps: a quantile inside a jump is the value itself, never
    a value interpolated between two neighbours that no row has. The cost is a sort of all the
    points, whatever the number of fragments."""
    pairs = [(p, w) for p, w in zip(points, weights) if p and w]
    if not pairs:
        return None
    if len(pairs) == 1:
        return [float(v) for v in pairs[0][0]]
    stacked = np.asarray([p for p, _ in pairs], dtype=np.float64)  # (fragments, levels)
    share = np.asarray([w for _, w in pairs], dtype=np.float64)
    mass = (share / share.sum())[:, None] * np.diff(_SKETCH_LEVELS)[None, :]
    lo, hi = stacked[:, :-1].ravel(), stacked[:, 1:].ravel()
    mass = mass.ravel()
    xs, where = np.unique(stacked, return_inverse=True)
    where = where.reshape(stacked.shape)  # the index in xs of every point
    at_lo, at_hi = where[:, :-1].ravel(), where[:, 1:].ravel()
    # a stretch too narrow to hold a slope in float64 is a point mass at its top
    narrow = (hi - lo) <= (xs[-1] - xs[0]) * 1e-12
    atoms = np.bincount(at_hi[narrow], weights=mass[narrow], minlength=xs.size)
    wide = ~narrow
    density = mass[wide] / (hi[wide] - lo[wide])
    change = np.bincount(at_lo[wide], weights=density, minlength=xs.size)
    change -= np.bincount(at_hi[wide], weights=density, minlength=xs.size)
    slope = np.cumsum(change)  # the density on (xs[j], xs[j + 1])
    spread = np.concatenate([[0.0], np.cumsum(slope[:-1] * np.diff(xs))])
    at = np.clip(spread + np.cumsum(atoms), 0.0, 1.0)  # the mixture's CDF at each point
    below = np.clip(at - atoms, 0.0, 1.0)  # and its limit from the left
    return [float(v) for v in _invert(at, below, xs, _SKETCH_LEVELS)]


def _invert(at: np.ndarray, below: np.ndarray, xs: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """The smallest x whose CDF reaches each level: a candidate where the level falls in its
    jump, else interpolated in the linear stretch before it."""
    j = np.clip(np.searchsorted(at, qs, side="left"), 0, xs.size - 1)
    out = xs[j].copy()
    prev = np.maximum(j - 1, 0)
    inside = (j > 0) & (qs < below[j])  # before the jump at xs[j]: in (xs[j-1], xs[j])
    span = np.where(inside, below[j] - at[prev], 1.0)
    frac = np.clip((qs - at[prev]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    out[inside] = (xs[prev] + frac * (xs[j] - xs[prev]))[inside]
    return out


# ---- the profile a user sees ---------------------------------------------------------------------
def build_profile(dataset: str, version: int, sketch: dict[str, Any]) -> Profile:
    """The :class:`Profile` of a version from the merged sketch of its fragments."""
    columns = {name: _column_profile(name, col) for name, col in sketch["columns"].items()}
    return Profile(dataset=dataset, version=version, n_rows=sketch["n_rows"], columns=columns)


def _column_profile(name: str, col: dict[str, Any]) -> ColumnProfile:
    kind = col["kind"]
    base: dict[str, Any] = {
        "name": name, "type": col["type"], "kind": kind, "count": col["count"],
        "nulls": col["nulls"],
    }
    if kind == "numeric":
        n = col["n_finite"]
        base.update(
            nan=col["nan"],
            min=None if col["min"] is None else float(col["min"]),
            max=None if col["max"] is None else float(col["max"]),
            mean=col["mean"] if n and col["mean"] is not None else None,
            std=math.sqrt(col["m2"] / n) if n and col["m2"] is not None else None,
            histogram=_histogram(col["hist"]),
            quantiles=_levels(col.get("q"), col["min"], col["max"]),
        )
    elif kind == "datetime":
        base.update(min=_iso(col["min"]), max=_iso(col["max"]))
    elif kind == "categorical":
        ranked = sorted(col["top"].items(), key=lambda kv: (-kv[1], kv[0]))
        base.update(
            top=[CategoryCount(value=v, count=c) for v, c in ranked[:TOP_SHOWN]],
            n_distinct=None if col["truncated"] else len(col["top"]),
            approximate=col["truncated"],
        )
    return ColumnProfile(**base)


def _histogram(hist: dict[str, Any] | None) -> Histogram | None:
    if hist is None or not hist["counts"]:
        return None
    width = 2.0 ** hist["k"]
    edges = [(hist["lo"] + i) * width for i in range(len(hist["counts"]) + 1)]
    return Histogram(edges=edges, counts=[int(c) for c in hist["counts"]])


def _levels(q: list[float] | None, lo: float | None, hi: float | None) -> dict[float, float]:
    if not q:
        return {}
    # PostgreSQL's JSONB hands back large floats as integers: make them floats again
    values = np.interp(QUANTILE_LEVELS, _SKETCH_LEVELS, np.asarray(q, dtype=np.float64))
    out = {level: float(v) for level, v in zip(QUANTILE_LEVELS, values)}
    if lo is not None and hi is not None:
        out[0.0], out[1.0] = float(lo), float(hi)
    return out


def _iso(micros: float | None) -> str | None:
    if micros is None:
        return None
    from datetime import datetime, timedelta

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (epoch + timedelta(microseconds=int(micros))).isoformat()
