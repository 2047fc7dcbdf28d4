"""What an endpoint's traffic looked like over a window, from its prediction log: the figures
the endpoints page shows, computed where the data is (columnar scans, aggregated by polars).

    t = endpoint_traffic(yard.predictions, "loans", start, end)
    t.requests, t.rate_per_s, t.latency          # answered requests (shadows excluded)
    t.routes[i].agreement                        # a shadow vs the answer on the same requests
    t.routes[i].predictions                      # its prediction distribution (shared bins)

Only the columns needed are read (time, route, version, latency, the request id and the
prediction), so the cost follows the window, not the width of the inputs. Errors are not in
the log (it records answered predictions), so an error rate comes from elsewhere (a canary's
statistics, the model server's ``/metrics``).

    performance_by_version(yard.monitoring, "loans", since)   # realised performance once
                                                                # labels arrived (monitor runs)
    drift_by_feature(yard.monitoring, "loans", since)          # feature x time drift (PSI)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

__all__ = [
    "Distribution",
    "DriftGrid",
    "EndpointTraffic",
    "LatencySummary",
    "PredictionLog",
    "RouteTraffic",
    "VersionPerformance",
    "agreement_query",
    "distribution_query",
    "drift_by_feature",
    "drift_by_version",
    "endpoint_traffic",
    "pairs_with_answers",
    "performance_by_version",
    "request_counts",
    "shared_bins",
]

PREDICTION = "output.prediction"
PERFORMANCE = ("accuracy", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2")
MAX_CATEGORIES = 20
N_BINS = 20


class PredictionLog(Protocol):
    """What this module reads: ``yard.predictions`` (a local yard)."""

    def scan(self, endpoint: str, start: Any, end: Any, *,
             model_version: int | None = None) -> pl.LazyFrame: ...


class MonitorSeries(Protocol):
    """What this module reads of ``yard.monitoring``: the stored monitor figures."""

    def results(self, endpoint: str | None = None, *, name: str | None = None,
                feature: str | None = None, model_version: str | int | None = None,
                start: Any = None, end: Any = None) -> pl.DataFrame: ...


class LatencySummary(BaseModel):
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class Distribution(BaseModel):
    """Counts of predictions: by category (``labels``) or in bins (``edges``, one more than
    ``counts``); every route of one endpoint shares the same bins or categories."""

    kind: str  # "categorical" | "numerical" | "none"
    labels: list[str] = Field(default_factory=list)
    edges: list[float] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list)


class RouteTraffic(BaseModel):
    """One route (or shadow) and model version on the endpoint's traffic."""

    route: str
    model_name: str
    model_version: int
    shadow: bool
    requests: int
    share: float  # of the answered requests (0 for a shadow)
    latency: LatencySummary
    agreement: float | None = None  # share of the same prediction as the answer
    mean_abs_difference: float | None = None  # numerical predictions vs the answer
    compared: int = 0  # requests both answered and seen by this shadow
    predictions: Distribution


class EndpointTraffic(BaseModel):
    endpoint: str
    start: datetime
    end: datetime
    requests: int  # answered rows (shadows excluded)
    rate_per_s: float
    latency: LatencySummary
    bucket_starts: list[datetime] = Field(default_factory=list)
    bucket_counts: list[int] = Field(default_factory=list)
    bucket_p95_ms: list[float | None] = Field(default_factory=list)
    routes: list[RouteTraffic] = Field(default_factory=list)
    last_prediction_ids: list[str] = Field(default_factory=list)
    sampled: int | None = None  # rows the distributions and agreement used, when sampled
    approximate: bool = False  # latency percentiles from histograms (traffic_hours)


KEYS = ["route", "model_name", "model_version", "shadow"]


def _quantiles(prefix: str = "") -> list[pl.Expr]:
    lat = pl.col("latency_ms")
    return [lat.quantile(q).alias(f"{prefix}p{int(q * 100)}") for q in (0.5, 0.95, 0.99)]


def _sorted_percentiles(values: np.ndarray) -> LatencySummary:
    """p50/p95/p99 of sorted values (nearest rank), or nothing without values."""
    if not len(values):
        return LatencySummary()
    last = len(values) - 1
    p50, p95, p99 = (float(values[round(q * last)]) for q in (0.5, 0.95, 0.99))
    return LatencySummary(p50_ms=p50, p95_ms=p95, p99_ms=p99)


def _latency(row: dict[str, Any]) -> LatencySummary:
    return LatencySummary(p50_ms=row.get("p50"), p95_ms=row.get("p95"), p99_ms=row.get("p99"))


def shared_bins(lazy: pl.LazyFrame, dtype: pl.DataType) -> tuple[str, list[Any]]:
    """Shared categories (the most frequent ones) or bin edges for every route's predictions."""
    pred = pl.col("pred").drop_nulls()
    if dtype in (pl.String, pl.Boolean, pl.Categorical) or not dtype.is_numeric():
        categorical = True
    else:
        few = lazy.select(pred.unique().head(MAX_CATEGORIES + 1)).collect()
        categorical = few.height <= MAX_CATEGORIES
    if categorical:
        top = (lazy.select(pred.cast(pl.String)).group_by("pred").len()
               .sort("len", descending=True).head(MAX_CATEGORIES).collect())
        return ("categorical", sorted(top["pred"].to_list())) if top.height else ("none", [])
    lo, hi = lazy.select(pred.min().alias("lo"), pred.max().alias("hi")).collect().row(0)
    if lo is None:
        return "none", []
    lo, hi = float(lo), float(hi)
    return "numerical", np.linspace(lo, hi if hi > lo else lo + 1.0, N_BINS + 1).tolist()


def distribution_query(lazy: pl.LazyFrame, kind: str, bins: list[Any], *,
                       keys: list[str] = KEYS) -> pl.LazyFrame:
    """Counts per route (``keys``) and category (or bin index) of the ``pred`` column."""
    pred = pl.col("pred")
    if kind == "categorical":
        slot = pred.cast(pl.String)
    else:
        lo, width = bins[0], (bins[-1] - bins[0]) / N_BINS
        slot = ((pred.cast(pl.Float64) - lo) / width).floor().clip(0, N_BINS - 1).cast(pl.Int64)
    return lazy.filter(pred.is_not_null()).group_by([*keys, slot.alias("slot")]).len()


def pairs_with_answers(lazy: pl.LazyFrame, *, keys: list[str] = KEYS,
                       answers: pl.Expr | None = None, carry: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Each shadow row (``keys``, ``request_id``, ``pred`` and the ``carry`` columns) joined to
    the answer given to the same request (its prediction as ``theirs``); ``answers``: which
    answered rows count (default every one)."""
    answered = ~pl.col("shadow") if answers is None else answers
    their = lazy.filter(answered).select(  # an answer's request_id is its own id
        pl.col("request_id").alias("answered"), pl.col("pred").alias("theirs"))
    return lazy.filter(pl.col("shadow")).select(*keys, "request_id", "pred", *carry).join(
        their, left_on="request_id", right_on="answered", how="inner")


def agreement_query(pairs: pl.LazyFrame, numerical: bool, *,
                    keys: list[str] = KEYS) -> pl.LazyFrame:
    """Per route (``keys``) of :func:`pairs_with_answers`' rows: how many were compared
    (``compared``), the share with the same prediction (``same``) and, for numbers, the mean
    absolute difference (``diff``)."""
    aggs = [pl.len().alias("compared"), (pl.col("pred") == pl.col("theirs")).mean().alias("same")]
    if numerical:
        aggs.append((pl.col("pred").cast(pl.Float64) - pl.col("theirs").cast(pl.Float64))
                    .abs().mean().alias("diff"))
    return pairs.group_by(keys).agg(aggs)


def endpoint_traffic(log: PredictionLog, endpoint: str, start: datetime, end: datetime, *,
                     buckets: int = 60, recent: int = 10,
                     max_compared: int = 100_000) -> EndpointTraffic:
    """The traffic of ``endpoint`` between ``start`` and ``end`` (see the module docstring):
    answered requests per time bucket and their latency, and per route and model version the
    request share, latency percentiles, prediction distribution, and for a shadow its
    agreement with the answer on the same requests. ``recent``: how many of the newest
    prediction ids to list.

    Counts, rates and the endpoint's latency percentiles are exact. Per route and per time
    bucket, latency percentiles, prediction distributions and agreement are computed on at
    most about
    ``max_compared`` rows: above that, on the requests whose id hashes into a fixed share
    (every record of a sampled request is kept, so a shadow is still compared with the answer
    to the same request); ``sampled`` then says how many rows."""
    lf = log.scan(endpoint, start, end)
    schema = lf.collect_schema()
    light = lf.select("time", *KEYS, "latency_ms").collect().lazy()
    answered = light.filter(~pl.col("shadow"))
    seconds = max((end - start).total_seconds(), 1e-9)
    width_us = max(1, int(seconds * 1e6 / buckets))
    start_us = int(start.astimezone(UTC).timestamp() * 1e6)
    bucket = ((pl.col("time").dt.epoch("us") - start_us) // width_us).clip(0, buckets - 1)
    latencies, per_bucket, groups = pl.collect_all([
        answered.select(pl.col("latency_ms").sort()),  # one sort for every percentile
        answered.group_by(bucket.alias("b")).agg(pl.len().alias("n")),
        light.group_by(KEYS).agg(pl.len().alias("n")),
    ])
    n_answered = latencies.height
    out = EndpointTraffic(endpoint=endpoint, start=start, end=end, requests=n_answered,
                          rate_per_s=n_answered / seconds,
                          latency=_sorted_percentiles(latencies["latency_ms"].to_numpy()))
    counts = dict(zip(per_bucket["b"].to_list(), per_bucket["n"].to_list()))
    out.bucket_starts = [start + timedelta(microseconds=b * width_us) for b in range(buckets)]
    out.bucket_counts = [int(counts.get(b, 0)) for b in range(buckets)]
    out.bucket_p95_ms = [None] * buckets
    if n_answered:  # the newest ids: read only from the newest bucket that has any
        since = out.bucket_starts[max(b for b, c in counts.items() if c)]
        out.last_prediction_ids = (
            lf.filter((pl.col("time") >= since) & ~pl.col("shadow"))
            .select("id", "time").collect().sort("time", descending=True)["id"]
            .head(recent).to_list())
    rows = sum(groups["n"].to_list()) if groups.height else 0
    slots: dict[tuple[Any, ...], dict[Any, int]] = {}
    agree: dict[tuple[Any, ...], dict[str, Any]] = {}
    per_route: dict[tuple[Any, ...], dict[str, Any]] = {}
    kind, bins = "none", []
    if rows:
        request = (pl.coalesce("request_id", "id") if "request_id" in schema else pl.col("id"))
        pred = pl.col(PREDICTION) if PREDICTION in schema else pl.lit(None, pl.Int64)
        heavy = lf.select("time", *KEYS, "latency_ms", request.alias("request_id"),
                          pred.alias("pred"))
        if rows > max_compared:
            share = max(1, int(10_000 * max_compared / rows))
            heavy = heavy.filter(pl.col("request_id").hash(seed=7) % 10_000 < share)
        heavy = heavy.collect().lazy()
        kind, bins = (shared_bins(heavy, schema[PREDICTION]) if PREDICTION in schema
                      else ("none", []))
        n, latency, p95 = pl.collect_all([
            heavy.select(pl.len()),
            heavy.group_by(KEYS).agg(*_quantiles()),
            heavy.filter(~pl.col("shadow")).group_by(bucket.alias("b"))
            .agg(pl.col("latency_ms").quantile(0.95).alias("p95")),
        ])
        per_route = {tuple(r[k] for k in KEYS): r for r in latency.iter_rows(named=True)}
        by_bucket = dict(zip(p95["b"].to_list(), p95["p95"].to_list()))
        out.bucket_p95_ms = [by_bucket.get(b) for b in range(buckets)]
        out.sampled = int(n.item()) if rows > max_compared else None
        if kind != "none":
            dist, pairs = pl.collect_all([
                distribution_query(heavy, kind, bins),
                agreement_query(pairs_with_answers(heavy), kind == "numerical")])
            for row in dist.iter_rows(named=True):
                slots.setdefault(tuple(row[k] for k in KEYS), {})[row["slot"]] = row["len"]
            agree = {tuple(r[k] for k in KEYS): r for r in pairs.iter_rows(named=True)}
    for row in groups.iter_rows(named=True):
        key = tuple(row[k] for k in KEYS)
        counted = slots.get(key, {})
        if kind == "categorical":
            dist_ = Distribution(kind=kind, labels=bins, counts=[counted.get(b, 0) for b in bins])
        elif kind == "numerical":
            dist_ = Distribution(kind=kind, edges=bins,
                                 counts=[counted.get(i, 0) for i in range(N_BINS)])
        else:
            dist_ = Distribution(kind="none")
        a = agree.get(key, {})
        shadow = bool(row["shadow"])
        out.routes.append(RouteTraffic(
            route=str(row["route"]), model_name=str(row["model_name"]),
            model_version=int(row["model_version"]), shadow=shadow, requests=row["n"],
            share=0.0 if shadow or not out.requests else row["n"] / out.requests,
            latency=_latency(per_route.get(key, {})), agreement=a.get("same"),
            mean_abs_difference=a.get("diff"),
            compared=a.get("compared", 0), predictions=dist_))
    out.routes.sort(key=lambda r: (r.shadow, -r.requests, r.route))
    return out


def request_counts(log: PredictionLog, endpoints: list[str], start: datetime,
                   end: datetime) -> dict[str, int]:
    """Answered requests of each endpoint between ``start`` and ``end`` (one column read)."""
    out = {}
    for name in endpoints:
        lf = log.scan(name, start, end)
        if "shadow" in lf.collect_schema().names():
            lf = lf.filter(~pl.col("shadow"))
        out[name] = int(lf.select(pl.len()).collect().item())
    return out


class VersionPerformance(BaseModel):
    """The latest realised performance of one model version (from monitor runs), and the
    window it was measured on."""

    model_version: str
    window_end: datetime
    metrics: dict[str, float] = Field(default_factory=dict)
    n_labeled: int = 0


def performance_by_version(monitoring: MonitorSeries, endpoint: str,
                           since: datetime) -> list[VersionPerformance]:
    """Per model version, the newest realised performance that monitor runs since ``since``
    measured on labelled predictions (empty until labels arrive)."""
    rows: list[tuple[str, datetime, str, float]] = []
    for name in (*PERFORMANCE, "n_labeled"):
        frame = monitoring.results(endpoint, name=name, start=since).filter(
            pl.col("feature").is_null() & pl.col("model_version").is_not_null())
        rows += frame.select("model_version", "window_end", "name", "value").rows()
    newest: dict[str, datetime] = {}
    for version, at, name, value in rows:
        if name == "n_labeled" and value > 0 and at > newest.get(version, at - timedelta(1)):
            newest[version] = at
    out = {v: VersionPerformance(model_version=v, window_end=at) for v, at in newest.items()}
    for version, at, name, value in rows:
        p = out.get(version)
        if p is not None and at == p.window_end:
            if name == "n_labeled":
                p.n_labeled = int(value)
            else:
                p.metrics[name] = float(value)
    return sorted(out.values(), key=lambda p: (len(p.model_version), p.model_version))


class DriftGrid(BaseModel):
    """A feature x time grid of a drift statistic (rows: features, columns: window ends)."""

    statistic: str
    model_version: str | None = None
    features: list[str] = Field(default_factory=list)
    times: list[datetime] = Field(default_factory=list)
    values: list[list[float | None]] = Field(default_factory=list)


def drift_by_feature(monitoring: MonitorSeries, endpoint: str, since: datetime, *,
                     statistic: str = "psi", model_version: str | None = None,
                     max_times: int = 200) -> DriftGrid:
    """The drift of each input feature over time, from the monitor runs since ``since``: one
    cell per feature and window (PSI by default: the same scale for every kind of column).
    With several model versions, the one with the most windows unless ``model_version``."""
    cells = _drift_cells(monitoring, endpoint, since, statistic)
    if not cells:
        return DriftGrid(statistic=statistic, model_version=model_version)
    if model_version is None:
        model_version = max(cells, key=lambda v: len(cells[v]))
    return _grid(cells.get(model_version, []), statistic, model_version, max_times)


def drift_by_version(monitoring: MonitorSeries, endpoint: str, since: datetime, *,
                     statistic: str = "psi", max_versions: int = 4,
                     max_times: int = 200) -> list[DriftGrid]:
    """:func:`drift_by_feature` for each model version the monitor runs since ``since``
    measured (the ``max_versions`` with the most windows, newest version first), read once."""
    cells = _drift_cells(monitoring, endpoint, since, statistic)
    versions = sorted(cells, key=lambda v: -len(cells[v]))[:max_versions]
    versions.sort(key=lambda v: (v is None, -int(v) if v is not None and v.isdigit() else 0))
    return [_grid(cells[v], statistic, v, max_times) for v in versions]


def _drift_cells(monitoring: MonitorSeries, endpoint: str, since: datetime, statistic: str
                 ) -> dict[str | None, list[tuple[str, datetime, float]]]:
    """(feature, window end, value) of each input feature's statistic, by model version."""
    frame = monitoring.results(endpoint, name=statistic, start=since)
    out: dict[str | None, list[tuple[str, datetime, float]]] = {}
    for version, feature, at, value in frame.select(
            "model_version", "feature", "window_end", "value").rows():
        if feature is None or feature.startswith(("segment:", "output.")):
            continue
        out.setdefault(version, []).append((feature, at, value))
    return out


def _grid(cells: list[tuple[str, datetime, float]], statistic: str,
          model_version: str | None, max_times: int) -> DriftGrid:
    times = sorted({t for _, t, _ in cells})[-max_times:]
    kept = set(times)
    cell = {(f, t): v for f, t, v in cells if t in kept}
    features = sorted({f for f, _ in cell})
    return DriftGrid(statistic=statistic, model_version=model_version, features=features,
                     times=times, values=[[cell.get((f, t)) for t in times] for f in features])
