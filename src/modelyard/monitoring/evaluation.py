"""One monitor run over one window of one endpoint's prediction log, streamed.

The window is read in Arrow batches (``predictions.reader.window``: one file at a time), so
memory is bounded by a batch plus the per-group accumulators, whatever the window's size.
Rows are grouped by model version, route and shadow flag, so the champion, a challenger and a
shadow serving the same traffic get their own figures. Ground truth is joined by prediction
id, then by ``request_id`` (the id the caller got for the same request row), so a label given
for the answered prediction counts for the shadows of that row too; late labels count
whenever the window is evaluated (again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from .drift import TESTS, DriftStream
from .entities import DriftReport, Finding, GroupResult, MetricPoint
from .labels import class_text, label_text
from .outliers import TopK
from .performance import (
    CBPEAccumulator,
    ClassificationAccumulator,
    LatencyAccumulator,
    RegressionAccumulator,
    class_labels,
    frame_proba,
    is_regression,
    proba_columns,
)
from .references import INPUT, Reference, ReferenceResolver

__all__ = ["MAX_SEGMENTS", "METRICS", "WindowEvaluation", "metric_points"]

MAX_SEGMENTS = 50
# how long after the answered prediction a shadow's record of the same row may be logged
SHADOW_LAG = timedelta(minutes=5)
_LABEL = "__label"
_LABEL_NUM = "__label_num"


def _label_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def labels_frame(ids: list[str], labels: list[Any]) -> pl.DataFrame:
    return pl.DataFrame({
        "id": pl.Series(ids, dtype=pl.String),
        _LABEL: pl.Series([label_text(v) for v in labels], dtype=pl.String),
        _LABEL_NUM: pl.Series([_label_number(v) for v in labels], dtype=pl.Float64),
    })


@dataclass
class _Group:
    model_name: str | None
    model_version: str | None
    route: str | None
    shadow: bool
    reference: Reference
    stream: DriftStream | None
    n_rows: int = 0
    n_outliers: int = 0
    n_scored: int = 0
    top: TopK = field(default_factory=TopK)
    latency: LatencyAccumulator = field(default_factory=LatencyAccumulator)
    cbpe: CBPEAccumulator = field(default_factory=CBPEAccumulator)
    task: str | None = None
    perf: ClassificationAccumulator | RegressionAccumulator | None = None
    segments: dict[str, ClassificationAccumulator | RegressionAccumulator] = field(default_factory=dict)
    n_unfit_labels: int = 0
    unfit_examples: list[str] = field(default_factory=list)
    expected_labels: str = ""


class WindowEvaluation:
    """Feed batches with :meth:`update`, then read :meth:`results`."""

    def __init__(self, resolver: ReferenceResolver, *, inputs: list[str], outputs: list[str],
                 labels: pl.DataFrame | None, segment_by: str | None) -> None:
        self.resolver = resolver
        self.inputs = inputs
        self.outputs = outputs
        self.labels = labels if labels is not None and labels.height else None
        self.segment_by = segment_by
        self.proba = proba_columns(outputs)
        self.groups: dict[tuple[Any, ...], _Group] = {}
        self.n_rows = 0

    def _group(self, model_name: Any, model_version: Any, route: Any, shadow: Any) -> _Group:
        key = (model_name, model_version, route, bool(shadow))
        g = self.groups.get(key)
        if g is None:
            ref = self.resolver.for_version(model_name, model_version)
            stream = ref.drift.stream() if ref.drift is not None else None
            g = _Group(model_name=model_name,
                       model_version=None if model_version is None else str(model_version),
                       route=route, shadow=bool(shadow), reference=ref, stream=stream)
            self.groups[key] = g
        return g

    def update(self, batch: Any) -> None:
        df = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        if df.height == 0:
            return
        self.n_rows += df.height
        for col, dtype in (("model_name", pl.String), ("model_version", pl.Int64),
                           ("route", pl.String), ("shadow", pl.Boolean)):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=dtype).alias(col))
        if self.labels is not None and "id" in df.columns:
            df = self._join_labels(df)
        keys = ["model_name", "model_version", "route", "shadow"]
        for key, part in df.partition_by(keys, as_dict=True, maintain_order=True).items():
            self._update_group(self._group(*key), part)

    def _join_labels(self, df: pl.DataFrame) -> pl.DataFrame:
        """Labels by the record's own id, else by its ``request_id``: the id the caller got
        for the same request row, so a label given for the answered prediction also applies
        to every shadow's prediction of that row."""
        assert self.labels is not None
        df = df.join(self.labels, on="id", how="left")
        if "request_id" not in df.columns:
            return df
        by_request = self.labels.rename({"id": "request_id", _LABEL: "__req_label",
                                         _LABEL_NUM: "__req_label_num"})
        df = df.join(by_request, on="request_id", how="left")
        return df.with_columns(
            pl.coalesce(_LABEL, "__req_label").alias(_LABEL),
            pl.coalesce(_LABEL_NUM, "__req_label_num").alias(_LABEL_NUM),
        ).drop("__req_label", "__req_label_num")

    def _features(self, part: pl.DataFrame) -> pl.DataFrame:
        cols = [pl.col(f"{INPUT}{f}").alias(f) for f in self.inputs if f"{INPUT}{f}" in part.columns]
        cols += [pl.col(o) for o in self.outputs if o in part.columns]
        return part.select(cols)

    def _update_group(self, g: _Group, part: pl.DataFrame) -> None:
        g.n_rows += part.height
        feats = self._features(part)
        if g.stream is not None:
            g.stream.update(feats)
        od = g.reference.outliers
        if od is not None and od.columns_:
            scores = od.score(feats)
            g.n_outliers += int((scores > od.threshold_).sum())
            g.n_scored += int(scores.shape[0])
            if "id" in part.columns:
                g.top.update(part.get_column("id").to_numpy(), scores)
        if "latency_ms" in part.columns:
            g.latency.update(part.get_column("latency_ms").cast(pl.Float64).to_numpy())
        pred = part.get_column("output.prediction") if "output.prediction" in part.columns else None
        if g.task is None and pred is not None and pred.null_count() < pred.len():
            g.task = "classification" if self.proba or not is_regression(pred) else "regression"
        proba = frame_proba(part, self.proba) if self.proba else {}
        if proba:
            g.cbpe.update(class_labels(pred) if pred is not None else None, proba)
        if _LABEL not in part.columns or pred is None or g.task is None:
            return
        labeled = self._fitting_labels(g, part.filter(pl.col(_LABEL).is_not_null()))
        if labeled.height == 0:
            return
        self._update_perf(g, labeled, segment=None)
        seg = self._segment_column(labeled)
        if seg is not None:
            for (value,), sub in labeled.partition_by(seg, as_dict=True).items():
                name = f"{self.segment_by}={label_text(value)}"
                if name in g.segments or len(g.segments) < MAX_SEGMENTS:
                    self._update_perf(g, sub, segment=name)

    def _fitting_labels(self, g: _Group, labeled: pl.DataFrame) -> pl.DataFrame:
        """The labelled rows whose label the model could have predicted (one of its logged
        classes; a number for a regressor); the others are counted for a finding. Feedback
        refuses such labels when it finds their prediction, but a label may be recorded
        before its prediction is in the log."""
        if labeled.height == 0:
            return labeled
        if g.task == "regression":
            fits = pl.col(_LABEL_NUM).is_not_null()
            g.expected_labels = "a number"
        else:
            classes = [class_text(c) for c, col in self.proba.items()
                       if col in labeled.columns and labeled.get_column(col).null_count() < labeled.height]
            if not classes:
                return labeled
            fits = pl.col(_LABEL).is_in(classes)
            g.expected_labels = f"one of its classes ({', '.join(repr(c) for c in sorted(classes))})"
        unfit = labeled.filter(~fits)
        if unfit.height:
            g.n_unfit_labels += unfit.height
            for value in unfit.get_column(_LABEL).unique(maintain_order=True).head(3).to_list():
                if value not in g.unfit_examples and len(g.unfit_examples) < 3:
                    g.unfit_examples.append(value)
            return labeled.filter(fits)
        return labeled

    def _segment_column(self, frame: pl.DataFrame) -> str | None:
        if not self.segment_by:
            return None
        for name in (self.segment_by, f"{INPUT}{self.segment_by}"):
            if name in frame.columns:
                return name
        return None

    def _update_perf(self, g: _Group, labeled: pl.DataFrame, *, segment: str | None) -> None:
        if segment is None:
            acc = g.perf
        else:
            acc = g.segments.get(segment)
        if acc is None:
            acc = RegressionAccumulator() if g.task == "regression" else ClassificationAccumulator()
            if segment is None:
                g.perf = acc
            else:
                g.segments[segment] = acc
        pred = labeled.get_column("output.prediction")
        if isinstance(acc, RegressionAccumulator):
            acc.update(labeled.get_column(_LABEL_NUM).fill_null(float("nan")).to_numpy(),
                       pred.cast(pl.Float64, strict=False).fill_null(float("nan")).to_numpy())
        else:
            acc.update(labeled.get_column(_LABEL), class_labels(pred),
                       frame_proba(labeled, self.proba) if self.proba else None)

    # ---- results ------------------------------------------------------------------------------
    def results(self) -> tuple[list[GroupResult], list[Finding]]:
        out: list[GroupResult] = []
        findings: list[Finding] = []
        seen_refs: set[int] = set()
        for g in self.groups.values():
            if id(g.reference) not in seen_refs:
                seen_refs.add(id(g.reference))
                findings += g.reference.findings
            drift = g.stream.report() if g.stream is not None else DriftReport(
                status="ok", n_current=g.n_rows, findings=list(g.reference.findings))
            outliers: dict[str, Any] = {}
            if g.n_scored:
                od = g.reference.outliers
                outliers = {"share": g.n_outliers / g.n_scored, "threshold": od.threshold_ if od else None,
                            "method": od.method if od else None, "top": g.top.items()}
            performance = g.perf.metrics() if g.perf is not None else {}
            if g.n_unfit_labels:
                findings.append(Finding(
                    kind="label_mismatch", severity="error", value=float(g.n_unfit_labels),
                    message=(f"{g.n_unfit_labels} labels of model {g.model_name}/"
                             f"{g.model_version} ({g.route}) are not {g.expected_labels}, e.g. "
                             f"{', '.join(repr(v) for v in g.unfit_examples)}: they were left "
                             "out of its performance figures.")))
            out.append(GroupResult(
                model_version=g.model_version, route=g.route, shadow=g.shadow, n_rows=g.n_rows,
                n_labeled=int(performance.get("n_labeled", 0)), task=g.task, drift=drift,
                performance=performance, estimated=g.cbpe.metrics(),
                segments={k: v.metrics() for k, v in sorted(g.segments.items())},
                outliers=outliers, latency=g.latency.metrics(),
            ))
        out.sort(key=lambda r: (r.shadow, -r.n_rows))
        return out, findings


_REALISED = ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc", "mae", "rmse", "r2")
# Every figure name :func:`metric_points` stores, by what its ``feature`` holds: ``group``
# none (one value per model version and route), ``feature`` an input or output column,
# ``segment`` none, or ``segment:<column>=<value>`` for the realised figures of a segment.
# Alert rules may watch only these (a typo would make a rule that can never fire).
METRICS: dict[str, str] = {
    **dict.fromkeys(("n_rows", "label_coverage", "drift_share", "dataset_drift", "n_drifted",
                     "outlier_share", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms",
                     "latency_p99_ms", "latency_max_ms", "estimated_accuracy",
                     "estimated_precision", "estimated_recall", "estimated_f1",
                     "estimated_roc_auc"), "group"),
    **dict.fromkeys(("n_labeled", *_REALISED), "segment"),
    **dict.fromkeys(("drift", "drifted", "p_value", *TESTS, "missing_rate",
                     "missing_rate_reference", "out_of_range_share", "unseen_share",
                     "unreadable"), "feature"),
}


def metric_points(endpoint: str, start: datetime, end: datetime, groups: list[GroupResult]
                  ) -> list[MetricPoint]:
    """The figures of a run as points of the time series (what alert rules read)."""
    points: list[MetricPoint] = []

    def add(g: GroupResult, name: str, value: float | None, feature: str | None = None) -> None:
        if value is None:
            return
        points.append(MetricPoint(endpoint=endpoint, model_version=g.model_version,
                                  route=g.route, window_start=start, window_end=end, name=name,
                                  feature=feature, value=float(value)))

    for g in groups:
        add(g, "n_rows", g.n_rows)
        add(g, "n_labeled", g.n_labeled)
        if g.n_rows:
            add(g, "label_coverage", g.n_labeled / g.n_rows)
        d = g.drift
        if d.features:
            add(g, "drift_share", d.drift_share)
            add(g, "dataset_drift", float(d.drifted))
            add(g, "n_drifted", float(len(d.drifted_features)))
        for f in d.features:
            if f.drifted is not None:
                add(g, "drift", f.statistic, f.feature)
                add(g, "drifted", float(f.drifted), f.feature)
            if f.p_value is not None:
                add(g, "p_value", f.p_value, f.feature)
            for k, v in f.stats.items():
                add(g, k, v, f.feature)
            for k, v in f.quality.items():
                add(g, k, v, f.feature)
        if g.outliers.get("share") is not None:
            add(g, "outlier_share", g.outliers["share"])
        for k, v in {**g.latency, **g.performance, **g.estimated}.items():
            if k != "n_labeled":
                add(g, k, v)
        for seg, metrics in g.segments.items():
            for k, v in metrics.items():
                add(g, k, v, f"segment:{seg}")
    return [p for p in points if np.isfinite(p.value)]


def window_slack() -> timedelta:
    """Labels are looked up by the time in their prediction's id, which is the record time to
    the millisecond; a shadow's record is logged after the answered prediction whose id (and
    label) it shares, so the lookup reaches that far back."""
    return SHADOW_LAG
