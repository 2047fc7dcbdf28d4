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
    "drift_by_feature",
    "endpoint_traffic",
    "performance_by_version",
    "request_counts",
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


def _latency(frame: pl.DataFrame) -> LatencySummary:
    if frame.height == 0:
        return LatencySummary()
    q = frame.select(
        pl.col("latency_ms").quantile(0.5).alias("p50"),
        pl.col("latency_ms").quantile(0.95).alias("p95"),
        pl.col("latency_ms").quantile(0.99).alias("p99"),
    ).row(0)
    return LatencySummary(p50_ms=q[0], p95_ms=q[1], p99_ms=q[2])


def _bins(values: pl.Series) -> tuple[str, list[Any]]:
    """Shared categories or bin edges for every route's predictions."""
    values = values.drop_nulls()
    if values.len() == 0:
        return "none", []
    if values.dtype in (pl.String, pl.Boolean, pl.Categorical) or \
            values.n_unique() <= MAX_CATEGORIES:
        top = values.cast(pl.String).value_counts(sort=True).head(MAX_CATEGORIES)
        return "categorical", sorted(top[top.columns[0]].to_list())
    lo, hi = float(values.min()), float(values.max())  # type: ignore[arg-type]
    if lo == hi:
        hi = lo + 1.0
    return "numerical", np.linspace(lo, hi, N_BINS + 1).tolist()


def _distribution(values: pl.Series, kind: str, bins: list[Any]) -> Distribution:
    values = values.drop_nulls()
    if kind == "categorical":
        counts = dict(values.cast(pl.String).value_counts().iter_rows())
        return Distribution(kind=kind, labels=bins, counts=[int(counts.get(b, 0)) for b in bins])
    if kind == "numerical":
        hist, _ = np.histogram(values.cast(pl.Float64).to_numpy(), bins=np.asarray(bins))
        return Distribution(kind=kind, edges=bins, counts=hist.astype(int).tolist())
    return Distribution(kind="none")


def _agreement(shadow: pl.DataFrame, answered: pl.DataFrame,
               kind: str) -> tuple[float | None, float | None, int]:
    """A shadow's predictions against the answer given on the same requests."""
    if PREDICTION not in shadow.columns or shadow.height == 0:
        return None, None, 0
    pairs = shadow.select("request_id", pl.col(PREDICTION).alias("mine")).join(
        answered.select("id", pl.col(PREDICTION).alias("theirs")),
        left_on="request_id", right_on="id", how="inner")
    if pairs.height == 0:
        return None, None, 0
    same = (pairs["mine"].cast(pl.String) == pairs["theirs"].cast(pl.String)).mean()
    diff = None
    if kind == "numerical":
        diff = float((pairs["mine"].cast(pl.Float64) - pairs["theirs"].cast(pl.Float64))
                     .abs().mean())  # type: ignore[arg-type]
    return float(same), diff, pairs.height  # type: ignore[arg-type]


def endpoint_traffic(log: PredictionLog, endpoint: str, start: datetime, end: datetime, *,
                     buckets: int = 60, recent: int = 10) -> EndpointTraffic:
    """The traffic of ``endpoint`` between ``start`` and ``end`` (see the module docstring):
    answered requests per time bucket and their latency, and per route and model version the
    request share, latency percentiles, prediction distribution, and for a shadow its
    agreement with the answer on the same requests. ``recent``: how many of the newest
    prediction ids to list."""
    lf = log.scan(endpoint, start, end)
    names = lf.collect_schema().names()
    wanted = ["id", "time", "route", "model_name", "model_version", "shadow", "latency_ms",
              "request_id", PREDICTION]
    frame = lf.select([c for c in wanted if c in names]).collect()
    if "request_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("request_id"))
    seconds = max((end - start).total_seconds(), 1e-9)
    answered = frame.filter(~pl.col("shadow"))
    out = EndpointTraffic(endpoint=endpoint, start=start, end=end, requests=answered.height,
                          rate_per_s=answered.height / seconds, latency=_latency(answered))
    width_us = max(1, int(seconds * 1e6 / buckets))
    start_us = int(start.astimezone(UTC).timestamp() * 1e6)
    per_bucket = (answered.select(
        ((pl.col("time").dt.epoch("us") - start_us) // width_us).clip(0, buckets - 1)
        .alias("b"), "latency_ms")
        .group_by("b").agg(pl.len().alias("n"), pl.col("latency_ms").quantile(0.95).alias("p95")))
    counts = dict(zip(per_bucket["b"].to_list(), per_bucket["n"].to_list()))
    p95 = dict(zip(per_bucket["b"].to_list(), per_bucket["p95"].to_list()))
    out.bucket_starts = [start + timedelta(microseconds=b * width_us) for b in range(buckets)]
    out.bucket_counts = [int(counts.get(b, 0)) for b in range(buckets)]
    out.bucket_p95_ms = [p95.get(b) for b in range(buckets)]
    if frame.height == 0:
        return out
    kind, bins = _bins(frame[PREDICTION]) if PREDICTION in frame.columns else ("none", [])
    groups = frame.partition_by(["route", "model_name", "model_version", "shadow"],
                                as_dict=True, maintain_order=True)
    for (route, model_name, version, shadow), g in groups.items():
        preds = g[PREDICTION] if PREDICTION in g.columns else pl.Series([], dtype=pl.Float64)
        agree, diff, compared = _agreement(g, answered, kind) if shadow else (None, None, 0)
        out.routes.append(RouteTraffic(
            route=str(route), model_name=str(model_name), model_version=int(version),  # type: ignore[call-overload]
            shadow=bool(shadow), requests=g.height,
            share=0.0 if shadow or not answered.height else g.height / answered.height,
            latency=_latency(g), agreement=agree, mean_abs_difference=diff, compared=compared,
            predictions=_distribution(preds, kind, bins)))
    out.routes.sort(key=lambda r: (r.shadow, -r.requests, r.route))
    out.last_prediction_ids = answered.sort("time", descending=True)["id"].head(recent).to_list()
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
    frame = monitoring.results(endpoint, name=statistic, start=since)
    frame = frame.filter(pl.col("feature").is_not_null()
                         & ~pl.col("feature").str.starts_with("segment:")
                         & ~pl.col("feature").str.starts_with("output."))
    if frame.height == 0:
        return DriftGrid(statistic=statistic, model_version=model_version)
    if model_version is None:
        counts = frame.group_by("model_version").len().sort("len", descending=True)
        model_version = counts["model_version"][0]
    frame = frame.filter(pl.col("model_version") == model_version) if model_version is not None \
        else frame.filter(pl.col("model_version").is_null())
    times = sorted(set(frame["window_end"].to_list()))[-max_times:]
    frame = frame.filter(pl.col("window_end").is_in(times))
    features = sorted(set(frame["feature"].to_list()))
    cell = {(r["feature"], r["window_end"]): r["value"] for r in frame.iter_rows(named=True)}
    return DriftGrid(statistic=statistic, model_version=model_version, features=features,
                     times=times, values=[[cell.get((f, t)) for t in times] for f in features])
