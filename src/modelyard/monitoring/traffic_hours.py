"""An endpoint's traffic over a long window from per-hour summaries of its log, so a week of a
million predictions is read once, not on every look.

    cache = HourCache()                                       # one per server (bounded memory)
    t = hourly_traffic(yard.predictions, "loans", start, end, cache)   # an EndpointTraffic

Each compacted Parquet file of the log is immutable (one per write-ahead segment and date), so
its rows are summarised once per hour and route (requests, a latency histogram, a shadow's
agreement with the answers in the same file, the predictions' distribution) and the summary is
cached by the file's path (and size and modification time where the store is local). A window
sums the summaries of the whole hours it covers; the records still in the write-ahead log
and the partial hours at the window's two ends are summarised afresh on every call.

What is exact and what is not:

* request counts, rates, each route's share and the hourly buckets are exact;
* latency percentiles come from histograms with bins 2% wide (log-spaced from 0.01 ms to
  10 min): each is within 1% of the exact nearest-rank percentile (``approximate`` says so);
* a shadow's agreement is counted on the requests whose answer is in the same file (the same
  segment and date) or the same end of the window: a request answered just before a segment
  rolled over may not be compared (``compared`` says how many were);
* prediction distributions are exact counts for up to :data:`MAX_VALUES` distinct values per
  file; numerical predictions with more come from a per-file sample of whole requests (the
  same requests on every route), and ``sampled`` then says how many rows were used.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .traffic import (
    KEYS,
    MAX_CATEGORIES,
    N_BINS,
    PREDICTION,
    Distribution,
    EndpointTraffic,
    LatencySummary,
    RouteTraffic,
)

__all__ = ["LATENCY_EDGES", "MAX_VALUES", "HourCache", "HourSummary", "hourly_traffic",
           "summarize"]

HOUR_US = 3_600_000_000
_RATIO = 1.02
_LOW_MS = 0.01
_N_LAT = math.ceil(math.log(600_000 / _LOW_MS) / math.log(_RATIO))
# latency bin i (1.._N_LAT) holds [LOW * RATIO**(i-1), LOW * RATIO**i); 0 below, N_LAT+1 above
LATENCY_EDGES = _LOW_MS * _RATIO ** np.arange(_N_LAT + 1)
_N_BINS_LAT = _N_LAT + 2
MAX_VALUES = 50  # distinct predictions counted exactly per file
SAMPLE_SHARE = 2_000  # of 65,536 request-id hashes: about 3% of a file's requests
_READ = ["time", *KEYS, "latency_ms", "id", "request_id", PREDICTION]


class WindowSource(Protocol):
    """What is read of the log: ``yard.predictions`` (``window`` and ``scan``)."""

    def window(self, endpoint: str, start: Any, end: Any, *,
               model_version: int | None = None) -> Any: ...

    def scan(self, endpoint: str, start: Any, end: Any, *,
             model_version: int | None = None) -> pl.LazyFrame: ...


@dataclass
class HourSummary:
    """Some rows of one endpoint's log summarised by hour (``hours``: hour numbers since the
    epoch) and route key (``keys``: route, model name, model version, shadow)."""

    hours: np.ndarray  # (H,) int64
    keys: list[tuple[Any, ...]]
    counts: np.ndarray  # (H, K) int64
    latency: np.ndarray  # (H, K, bins) int32: the latency histogram
    compared: np.ndarray  # (H, K) int64: a shadow's rows matched with an answer
    same: np.ndarray  # (H, K) int64: ... that predicted the same
    abs_diff: np.ndarray  # (H, K) float64: sum of |prediction - answer| (numerical)
    kind: str = "none"  # "text" | "number" | "none"
    values: dict[Any, np.ndarray] | None = None  # value -> (H, K) counts, when few values
    sample: pl.DataFrame | None = None  # h, k, pred, weight (numbers, when many values)
    lo: float | None = None
    hi: float | None = None

    @property
    def nbytes(self) -> int:
        size = sum(a.nbytes for a in (self.hours, self.counts, self.latency, self.compared,
                                      self.same, self.abs_diff))
        size += sum(a.nbytes for a in (self.values or {}).values())
        return size + (self.sample.estimated_size() if self.sample is not None else 0)

    def take(self, keep: np.ndarray) -> HourSummary:
        """The summary of the hours where ``keep`` (a boolean mask over ``hours``) is true."""
        sample = self.sample
        if sample is not None:
            kept = np.flatnonzero(keep)
            remap = np.full(len(self.hours), -1, dtype=np.int64)
            remap[kept] = np.arange(len(kept))
            sample = sample.with_columns(pl.Series("h", remap[sample["h"].to_numpy()])) \
                .filter(pl.col("h") >= 0)
        return HourSummary(
            self.hours[keep], self.keys, self.counts[keep], self.latency[keep],
            self.compared[keep], self.same[keep], self.abs_diff[keep], self.kind,
            None if self.values is None else {v: c[keep] for v, c in self.values.items()},
            sample, self.lo, self.hi)


def _empty_summary() -> HourSummary:
    z = np.zeros((0, 0), dtype=np.int64)
    return HourSummary(np.zeros(0, dtype=np.int64), [], z, np.zeros((0, 0, _N_BINS_LAT),
                       dtype=np.int32), z, z, np.zeros((0, 0)))


def _latency_bins(values: np.ndarray) -> np.ndarray:
    safe = np.where(np.isfinite(values) & (values > 0), values, _LOW_MS / 2)
    bins = np.floor(np.log(safe / _LOW_MS) / math.log(_RATIO)).astype(np.int64) + 1
    return np.clip(bins, 0, _N_BINS_LAT - 1)


def _bin_value(i: int) -> float:
    """A latency bin's representative: the geometric middle of its range."""
    if i <= 0:
        return _LOW_MS / 2
    if i > _N_LAT:
        return float(LATENCY_EDGES[-1])
    return float(LATENCY_EDGES[i - 1] * math.sqrt(_RATIO))


def _percentiles(hist: np.ndarray) -> LatencySummary:
    """Nearest-rank p50/p95/p99 of a latency histogram (as :func:`traffic._sorted_percentiles`
    picks them from sorted values)."""
    n = int(hist.sum())
    if n == 0:
        return LatencySummary()
    cum = np.cumsum(hist)
    last = n - 1
    p50, p95, p99 = (_bin_value(int(np.searchsorted(cum, round(q * last) + 1)))
                     for q in (0.5, 0.95, 0.99))
    return LatencySummary(p50_ms=p50, p95_ms=p95, p99_ms=p99)


def _frame(table: pa.Table | pl.DataFrame) -> pl.DataFrame:
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    cols = frame.columns
    request = pl.coalesce("request_id", "id") if "request_id" in cols else pl.col("id")
    pred = pl.col(PREDICTION) if PREDICTION in cols else pl.lit(None, pl.Int64)
    return frame.select(
        (pl.col("time").dt.epoch("us") // HOUR_US).alias("hour"),
        *KEYS, pl.col("latency_ms").cast(pl.Float64), request.alias("request_id"),
        pred.alias("pred"))


def summarize(table: pa.Table | pl.DataFrame) -> HourSummary:
    """The :class:`HourSummary` of some log rows (columns as the log stores them)."""
    frame = _frame(table)
    if frame.height == 0:
        return _empty_summary()
    codes = frame.select(pl.struct(KEYS).hash(seed=3)).to_series().to_numpy()
    _, first, k = np.unique(codes, return_index=True, return_inverse=True)
    keys = [tuple(row) for row in frame.select(KEYS)[first.tolist()].iter_rows()]
    k = k.astype(np.int64)
    hours, h = np.unique(frame["hour"].to_numpy(), return_inverse=True)
    n_h, n_k = len(hours), len(keys)
    cell = h * n_k + k
    counts = np.bincount(cell, minlength=n_h * n_k).reshape(n_h, n_k)
    lat = _latency_bins(frame["latency_ms"].fill_null(float("nan")).to_numpy())
    latency = np.bincount(cell * _N_BINS_LAT + lat, minlength=n_h * n_k * _N_BINS_LAT) \
        .astype(np.int32).reshape(n_h, n_k, _N_BINS_LAT)
    out = HourSummary(hours.astype(np.int64), keys, counts.astype(np.int64), latency,
                      np.zeros((n_h, n_k), dtype=np.int64), np.zeros((n_h, n_k), dtype=np.int64),
                      np.zeros((n_h, n_k)))
    frame = frame.with_columns(pl.Series("h", h.astype(np.int64)), pl.Series("k", k))
    dtype = frame.schema["pred"]
    with_pred = frame.filter(pl.col("pred").is_not_null())
    if with_pred.height == 0:
        return out
    numeric = dtype.is_numeric() and dtype != pl.Boolean
    out.kind = "number" if numeric else "text"
    _agreement(out, frame, numeric)
    distinct = with_pred.select(pl.col("pred").unique().head(MAX_VALUES + 1)).height
    if distinct <= MAX_VALUES or not numeric:
        pred = pl.col("pred") if numeric else pl.col("pred").cast(pl.String)
        top = (with_pred.group_by(pred.alias("v")).len().sort("len", descending=True)
               .head(MAX_VALUES)["v"].to_list())
        counted = with_pred.filter(pred.is_in(top)).group_by("h", "k", pred.alias("v")).len()
        out.values = {}
        for v in top:
            grid = np.zeros((n_h, n_k), dtype=np.int64)
            part = counted.filter(pl.col("v") == v)
            grid[part["h"].to_numpy(), part["k"].to_numpy()] = part["len"].to_numpy()
            out.values[v] = grid
    else:
        stats = with_pred.select(pl.col("pred").min().alias("lo"), pl.col("pred").max().alias("hi"))
        out.lo, out.hi = (float(x) for x in stats.row(0))
        chosen = with_pred.filter(pl.col("request_id").hash(seed=7) % 65_536 < SAMPLE_SHARE)
        cells = ["h", "k"]  # each sampled row stands for its cell's rows / its cell's sample
        out.sample = (
            chosen.join(chosen.group_by(cells).len().rename({"len": "m"}), on=cells)
            .join(with_pred.group_by(cells).len().rename({"len": "n"}), on=cells)
            .select(*cells, pl.col("pred").cast(pl.Float64),
                    (pl.col("n") / pl.col("m")).alias("weight")))
    return out


def _agreement(out: HourSummary, frame: pl.DataFrame, numeric: bool) -> None:
    """Each shadow row's prediction against the answer to the same request (in these rows)."""
    answers = frame.filter(~pl.col("shadow")).select(
        pl.col("request_id").alias("answered"), pl.col("pred").alias("theirs"))
    pairs = frame.filter(pl.col("shadow")).join(answers, left_on="request_id",
                                                right_on="answered", how="inner")
    if pairs.height == 0:
        return
    aggs = [pl.len().alias("n"), (pl.col("pred") == pl.col("theirs")).sum().alias("same")]
    if numeric:
        aggs.append((pl.col("pred").cast(pl.Float64) - pl.col("theirs").cast(pl.Float64))
                    .abs().sum().alias("diff"))
    grouped = pairs.group_by("h", "k").agg(aggs)
    h, k = grouped["h"].to_numpy(), grouped["k"].to_numpy()
    out.compared[h, k] = grouped["n"].to_numpy()
    out.same[h, k] = grouped["same"].to_numpy()
    if numeric:
        out.abs_diff[h, k] = grouped["diff"].fill_null(0.0).to_numpy()


class HourCache:
    """Summaries of immutable log files, least recently used first out once they hold more
    than ``max_bytes``. Safe to share between threads."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], HourSummary] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> HourSummary | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return found

    def put(self, key: tuple[Any, ...], summary: HourSummary) -> None:
        with self._lock:
            self.misses += 1
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = summary
            self._bytes += summary.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def __len__(self) -> int:
        return len(self._items)


def _file_key(window: Any, path: str) -> tuple[Any, ...]:
    if window.artifacts.is_local:
        st = os.stat(path)
        return path, st.st_size, st.st_mtime_ns
    return (path,)


def _file_summary(window: Any, path: str, cache: HourCache) -> HourSummary:
    key = _file_key(window, path)
    found = cache.get(key)
    if found is not None:
        return found
    fs = None if window.artifacts.is_local else window.artifacts.fs
    present = pq.read_schema(path, filesystem=fs).names
    summary = summarize(pq.read_table(path, columns=[c for c in _READ if c in present],
                                      filesystem=fs))
    cache.put(key, summary)
    return summary


def _hour_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_number(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp() * 1_000_000) // HOUR_US


@dataclass
class _Total:
    """Summaries added together over a window's route keys and buckets."""

    keys: dict[tuple[Any, ...], int] = field(default_factory=dict)
    parts: list[tuple[HourSummary, np.ndarray]] = field(default_factory=list)  # (summary, bucket)

    def add(self, summary: HourSummary, buckets: np.ndarray) -> None:
        for key in summary.keys:
            self.keys.setdefault(key, len(self.keys))
        self.parts.append((summary, buckets))


def hourly_traffic(log: WindowSource, endpoint: str, start: datetime, end: datetime,
                   cache: HourCache, *, recent: int = 10) -> EndpointTraffic:
    """The traffic of ``endpoint`` between ``start`` and ``end`` (see the module docstring),
    in hourly buckets (the first and last cut at the window's ends)."""
    first_whole = _hour_floor(start) + (timedelta(0) if _hour_floor(start) == start
                                        else timedelta(hours=1))
    last_whole = _hour_floor(end)  # the whole hours: [first_whole, last_whole)
    inner = first_whole < last_whole
    window = log.window(endpoint, start, end)
    total = _Total()
    if not inner:  # no whole hour: one bucket, read afresh
        bucket_starts = [start]
        edges = [(start, end, True, 0)]
    else:
        lo_h, hi_h = _hour_number(first_whole), _hour_number(last_whole)
        partial_first, partial_last = start < first_whole, end > last_whole
        bucket_starts = ([start] if partial_first else []) + \
            [first_whole + timedelta(hours=i) for i in range(hi_h - lo_h)] + \
            ([last_whole] if partial_last else [])
        offset = 1 if partial_first else 0
        sources = [_file_summary(window, path, cache) for path in window.files]
        pending = window.pending
        if pending is not None and pending.num_rows:
            sources.append(summarize(pending))
        for s in sources:
            keep = (s.hours >= lo_h) & (s.hours < hi_h)
            if keep.any():
                part = s.take(keep)
                total.add(part, offset + (part.hours - lo_h))
        # the ends, read afresh: before the first whole hour, and from the last one to the
        # end (rows at exactly ``end`` go to the last bucket)
        edges = ([(start, first_whole, False, 0)] if partial_first else []) + \
            [(last_whole, end, True, len(bucket_starts) - 1)]
    for lo, hi, inclusive, bucket in edges:
        lf = log.scan(endpoint, lo, hi)
        if not inclusive:
            lf = lf.filter(pl.col("time") < hi)
        names = lf.collect_schema().names()
        part = summarize(lf.select([c for c in _READ if c in names]).collect())
        total.add(part, np.full(len(part.hours), bucket, dtype=np.int64))
    return _figures(log, endpoint, start, end, bucket_starts, total, recent)


def _figures(log: WindowSource, endpoint: str, start: datetime, end: datetime,
             bucket_starts: list[datetime], total: _Total, recent: int) -> EndpointTraffic:
    n_b, n_k = len(bucket_starts), len(total.keys)
    counts = np.zeros((n_b, n_k), dtype=np.int64)
    latency = np.zeros((n_b, n_k, _N_BINS_LAT), dtype=np.int64)
    compared = np.zeros(n_k, dtype=np.int64)
    same = np.zeros(n_k, dtype=np.int64)
    abs_diff = np.zeros(n_k)
    for s, buckets in total.parts:
        idx = np.array([total.keys[k] for k in s.keys], dtype=np.int64)
        for j, b in enumerate(buckets):  # a summary's hours fall in distinct buckets
            counts[b, idx] += s.counts[j]
            latency[b, idx] += s.latency[j]
        compared[idx] += s.compared.sum(axis=0)
        same[idx] += s.same.sum(axis=0)
        abs_diff[idx] += s.abs_diff.sum(axis=0)
    keys = sorted(total.keys, key=total.keys.__getitem__)
    answered = np.array([not k[3] for k in keys], dtype=bool)
    per_bucket = counts[:, answered].sum(axis=1) if n_k else np.zeros(n_b, dtype=np.int64)
    n_answered = int(per_bucket.sum())
    seconds = max((end - start).total_seconds(), 1e-9)
    out = EndpointTraffic(endpoint=endpoint, start=start, end=end, requests=n_answered,
                          rate_per_s=n_answered / seconds,
                          latency=_percentiles(latency[:, answered].sum(axis=(0, 1))),
                          bucket_starts=bucket_starts, bucket_counts=per_bucket.tolist(),
                          approximate=True)
    out.bucket_p95_ms = [_percentiles(latency[b][answered].sum(axis=0)).p95_ms
                         for b in range(n_b)]
    dists, sampled = _distributions(total, keys)
    out.sampled = sampled
    totals = counts.sum(axis=0)
    for i, key in enumerate(keys):
        shadow = bool(key[3])
        n = int(totals[i])
        if n == 0:
            continue
        numerical = dists[i].kind == "numerical"
        out.routes.append(RouteTraffic(
            route=str(key[0]), model_name=str(key[1]), model_version=int(key[2]),
            shadow=shadow, requests=n,
            share=0.0 if shadow or not n_answered else n / n_answered,
            latency=_percentiles(latency[:, i].sum(axis=0)),
            agreement=float(same[i] / compared[i]) if compared[i] else None,
            mean_abs_difference=float(abs_diff[i] / compared[i])
            if compared[i] and numerical else None,
            compared=int(compared[i]), predictions=dists[i]))
    out.routes.sort(key=lambda r: (r.shadow, -r.requests, r.route))
    if n_answered:
        newest = max(b for b in range(n_b) if per_bucket[b])
        since = bucket_starts[newest]
        out.last_prediction_ids = (
            log.scan(endpoint, since, end).filter(~pl.col("shadow")).select("id", "time")
            .collect().sort("time", descending=True)["id"].head(recent).to_list())
    return out


def _distributions(total: _Total, keys: list[tuple[Any, ...]]
                   ) -> tuple[list[Distribution], int | None]:
    """Each route key's prediction distribution on shared categories or bins (see the module
    docstring), and how many rows a sample stood for (None when counted exactly)."""
    n_k = len(keys)
    index = total.keys
    parts = [s for s, _ in total.parts if s.kind != "none"]
    if not parts:
        return [Distribution(kind="none") for _ in keys], None
    text = any(s.kind == "text" for s in parts)
    counted: dict[Any, np.ndarray] = {}
    for s in parts:
        idx = np.array([index[k] for k in s.keys], dtype=np.int64)
        for v, grid in (s.values or {}).items():
            row = counted.setdefault(str(v) if text else v, np.zeros(n_k, dtype=np.int64))
            row[idx] += grid.sum(axis=0)
    sampled = any(s.sample is not None for s in parts)
    if text or (not sampled and len(counted) <= MAX_CATEGORIES):
        top = sorted(counted, key=lambda v: -int(counted[v].sum()))[:MAX_CATEGORIES]
        labels = sorted(str(v) for v in top)
        by_label = {str(v): counted[v] for v in top}
        return [Distribution(kind="categorical", labels=labels,
                             counts=[int(by_label[lb][i]) for lb in labels])
                for i in range(n_k)], None
    lows = [float(v) for v in counted] + [s.lo for s in parts if s.lo is not None]
    highs = [float(v) for v in counted] + [s.hi for s in parts if s.hi is not None]
    lo, hi = min(lows), max(highs)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, N_BINS + 1)
    width = (edges[-1] - edges[0]) / N_BINS
    grid = np.zeros((n_k, N_BINS))
    for v, row in counted.items():
        slot = min(max(int((float(v) - lo) // width), 0), N_BINS - 1)
        grid[:, slot] += row
    used = 0
    for s in parts:
        if s.sample is None:
            continue
        idx = np.array([index[k] for k in s.keys], dtype=np.int64)
        slots = np.clip(((s.sample["pred"].to_numpy() - lo) // width).astype(np.int64), 0,
                        N_BINS - 1)
        np.add.at(grid, (idx[s.sample["k"].to_numpy()], slots), s.sample["weight"].to_numpy())
        used += s.sample.height
    return [Distribution(kind="numerical", edges=edges.tolist(),
                         counts=[round(float(c)) for c in grid[i]]) for i in range(n_k)], \
        (used or None)
