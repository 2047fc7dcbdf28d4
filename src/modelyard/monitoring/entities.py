"""The monitoring domain's entities (pydantic v2): one name each in the database, the API, the
CLI and the report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "Alert",
    "AlertRule",
    "Delivery",
    "DriftReport",
    "FeatureDrift",
    "Feedback",
    "FeedbackItem",
    "FeedbackResult",
    "Finding",
    "MetricPoint",
    "MonitorConfig",
    "MonitorRun",
]

Severity = Literal["info", "warning", "error"]
Label = str | int | float | bool


class Finding(BaseModel):
    """Something worth a look that is not a drift verdict: a missing feature, a column with
    no values, a type mismatch, a rise in missing values, new categories …"""

    kind: str
    message: str
    feature: str | None = None
    severity: Severity = "warning"
    value: float | None = None


class FeatureDrift(BaseModel):
    """The verdict for one column and how it was reached.

    ``test``/``threshold`` decided ``drifted``: for ``ks`` and ``chisquare`` drift means
    ``p_value < threshold``; for ``wasserstein``, ``psi`` and ``jensenshannon`` it means
    ``statistic >= threshold``. ``stats`` holds every statistic computed for the column (cheap
    once it is sorted or counted), so alert rules can watch any of them. ``drifted`` is None
    when no verdict was possible (see ``finding``). ``approximate``: computed from a profile or
    a streamed sketch rather than from both samples (see ``monitoring.stats``).
    """

    feature: str
    kind: str | None = None
    role: Literal["input", "output"] = "input"
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    drifted: bool | None = None
    approximate: bool = False
    n_reference: int = 0
    n_current: int = 0
    missing_reference: int = 0
    missing_current: int = 0
    unseen: int = 0
    unseen_categories: list[str] = Field(default_factory=list)
    stats: dict[str, float] = Field(default_factory=dict)
    quality: dict[str, float] = Field(default_factory=dict)
    finding: str | None = None
    histogram: dict[str, Any] | None = None


class DriftReport(BaseModel):
    """Drift of a current sample against a reference, column by column.

    ``drift_share``: the share of input columns with a verdict that drifted; the dataset
    counts as drifted when it reaches ``share_threshold`` (0.5 by default, as Evidently).
    Output columns (``role == "output"``: the model's predictions) are compared with the same
    tests and listed in ``features`` but kept out of the share; see :attr:`prediction_drift`.
    """

    status: Literal["ok", "no data"] = "ok"
    features: list[FeatureDrift] = Field(default_factory=list)
    drift_share: float = 0.0
    share_threshold: float = 0.5
    drifted: bool = False
    n_reference: int = 0
    n_current: int = 0
    approximate: bool = False
    findings: list[Finding] = Field(default_factory=list)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted and f.role == "input"]

    @property
    def prediction_drift(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.role == "output"]

    def __getitem__(self, feature: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == feature:
                return f
        raise KeyError(feature)

    def to_dict(self, *, histograms: bool = True) -> dict[str, Any]:
        exclude = None if histograms else {"features": {"__all__": {"histogram"}}}
        return self.model_dump(mode="json", exclude=exclude)

    def to_frame(self) -> Any:
        """The verdict table as a polars DataFrame (one row per column)."""
        import polars as pl

        cols = ["feature", "kind", "role", "test", "statistic", "p_value", "threshold", "drifted",
                "n_reference", "n_current", "unseen", "approximate"]
        return pl.DataFrame(
            [{c: getattr(f, c) for c in cols} for f in self.features],
            schema={"feature": pl.String, "kind": pl.String, "role": pl.String,
                    "test": pl.String, "statistic": pl.Float64, "p_value": pl.Float64,
                    "threshold": pl.Float64, "drifted": pl.Boolean, "n_reference": pl.Int64,
                    "n_current": pl.Int64, "unseen": pl.Int64, "approximate": pl.Boolean},
        )

    def to_html(self, path: str | Path | None = None, *, title: str = "Drift report") -> str:
        """A self-contained HTML page (Plotly inlined, opens offline); written to ``path`` when
        given. Returns the HTML."""
        from .report import render_drift_html

        html = render_drift_html(self, title=title)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html


# ---- feedback ------------------------------------------------------------------------------


class FeedbackItem(BaseModel):
    """The ground truth of one logged prediction."""

    prediction_id: str
    label: Label
    endpoint: str | None = None


class FeedbackResult(BaseModel):
    """What a feedback call did: ``created`` new labels, ``updated`` changed ones, ``unchanged``
    repeats of the same label (idempotent); ``unmatched``: labels of ids not (yet) in the
    prediction log, recorded without checking them against the model's classes."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0


class Feedback(BaseModel):
    prediction_id: str
    label: Label
    endpoint: str | None = None
    prediction_time: datetime
    received_at: datetime
    updated_at: datetime


# ---- monitor results ---------------------------------------------------------------------


class MetricPoint(BaseModel):
    """One figure of one monitor run: a point of the time series alerts and plots read.

    ``name`` examples: ``drift_share``, ``drift.statistic`` (with ``feature``), ``psi`` (with
    ``feature``), ``accuracy``, ``estimated_accuracy``, ``latency_p99_ms``, ``outlier_share``,
    ``n_rows``.
    """

    run_id: str | None = None
    endpoint: str
    model_version: str | None = None
    route: str | None = None
    window_start: datetime
    window_end: datetime
    name: str
    feature: str | None = None
    value: float


class MonitorRun(BaseModel):
    """One evaluation of one endpoint over one window (all model versions in it)."""

    id: str
    endpoint: str
    window_start: datetime
    window_end: datetime
    status: Literal["ok", "no data", "no reference", "error"] = "ok"
    n_rows: int = 0
    reference: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    report_digest: str | None = None
    created_at: datetime | None = None


class MonitorConfig(BaseModel):
    """What ``modelyard monitor run`` evaluates for an endpoint.

    ``reference``: ``"dataset:NAME[/VERSION]"``, ``"window:START/END"`` (an earlier window of
    the same endpoint) or None (the training dataset of the model version, from lineage).
    """

    endpoint: str
    reference: str | None = None
    window: str = "1d"
    features: list[str] | None = None
    tests: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    segment_by: str | None = None
    created_at: datetime | None = None


# ---- alerts ------------------------------------------------------------------------------

Op = Literal[">", ">=", "<", "<="]


class AlertRule(BaseModel):
    """Fire when ``agg`` of metric ``metric`` (of ``feature``, when given) over the runs of the
    last ``window`` compares with ``threshold`` by ``op``.

    ``endpoint`` "*" watches every endpoint; ``feature`` "*" every feature (one alert each).
    ``cooldown``: after an alert resolves, the same alert re-opens silently within this
    time instead of notifying again. ``webhooks``: URLs that get a JSON POST on open and on
    resolve (retried with backoff).
    """

    name: str
    metric: str
    op: Op = ">"
    threshold: float
    endpoint: str = "*"
    feature: str | None = None
    model_version: str | None = None
    window: str = "1h"
    agg: Literal["last", "mean", "max", "min"] = "last"
    cooldown: str = "1h"
    webhooks: list[str] = Field(default_factory=list)
    severity: Severity = "warning"
    enabled: bool = True
    created_at: datetime | None = None


class Alert(BaseModel):
    """One alert: open while its rule's condition holds, resolved when it stops holding.

    ``key`` de-duplicates: at most one open alert per rule, endpoint, model version and
    feature; repeats while open only raise ``count`` and ``last_seen``.
    """

    id: str
    rule: str
    key: str
    endpoint: str
    model_version: str | None = None
    feature: str | None = None
    metric: str
    value: float
    threshold: float
    op: str
    severity: Severity = "warning"
    state: Literal["open", "resolved"] = "open"
    message: str = ""
    count: int = 1
    opened_at: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    notified_at: datetime | None = None
    delivery: dict[str, Any] = Field(default_factory=dict)


class AlertEvent(BaseModel):
    """A change of an alert at an evaluation: ``opened`` and ``resolved`` are queued for the
    rule's webhooks (see :class:`Delivery`); ``reopened`` (within the cool-down) is not."""

    event: Literal["opened", "reopened", "resolved"]
    alert: Alert
    webhooks: list[str] = Field(default_factory=list)


class Delivery(BaseModel):
    """One webhook delivery of one alert event to one URL (the outbox row).

    ``state``: ``pending`` (queued, or waiting for ``next_attempt_at`` after a failed try),
    ``delivered`` (a 2xx answer) or ``failed`` (a 4xx answer other than 408/429, or every
    attempt used). ``id`` is also the idempotency key the receiver gets (header
    ``Idempotency-Key`` and ``delivery_id`` in the body): a delivery may arrive more than once
    (at least once), never with a different key."""

    id: str
    alert_id: str
    event: str
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int = 0
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    status: int | None = None
    error: str | None = None


class GroupResult(BaseModel):
    """What one model version on one route did in a window (champion, challenger, shadow …).

    ``performance``: realised metrics from ground truth (accuracy, precision, recall, f1,
    roc_auc, log_loss; or mae, rmse, r2); ``estimated``: CBPE estimates from the model's
    probabilities; ``segments``: performance per value of ``segment_by``; ``outliers``:
    ``share``, ``threshold`` and the ``top`` rows by score; ``latency``: ms quantiles.
    """

    model_version: str | None = None
    route: str | None = None
    shadow: bool = False
    n_rows: int = 0
    n_labeled: int = 0
    task: str | None = None
    drift: DriftReport
    performance: dict[str, float] = Field(default_factory=dict)
    estimated: dict[str, float] = Field(default_factory=dict)
    segments: dict[str, dict[str, float]] = Field(default_factory=dict)
    outliers: dict[str, Any] = Field(default_factory=dict)
    latency: dict[str, float] = Field(default_factory=dict)


class MonitorResult(BaseModel):
    """One monitor run: the stored run, one result per model version and route, the alert
    changes it caused, and findings about the run itself (no data, no reference …)."""

    run: MonitorRun
    groups: list[GroupResult] = Field(default_factory=list)
    events: list[AlertEvent] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def group(self, model_version: str | int | None = None, route: str | None = None) -> GroupResult:
        for g in self.groups:
            if (model_version is None or g.model_version == str(model_version)) and (
                    route is None or g.route == route):
                return g
        raise KeyError((model_version, route))
