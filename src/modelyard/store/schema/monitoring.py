"""Tables of the monitoring domain (migration branch ``monitoring``).

``monitoring_feedback``: the ground truth of logged predictions, one row per prediction id
(idempotent upsert), with the prediction's time read from its UUIDv7 id so a window's labels
are one range scan. ``monitor_runs`` + ``monitor_metrics``: the time series of monitor results
(one run per endpoint and window; one metric row per figure, model version, route and
feature). ``monitor_configs``: what ``modelyard monitor run`` evaluates. ``alert_rules`` and
``alerts``: ``open_key`` is the de-duplication key while an alert is open and NULL once
resolved, so a unique constraint allows one open alert per key. ``alert_deliveries``: the
webhook outbox, one row per alert event and URL, written in the transaction that changes the
alert and delivered in the background (``monitoring.delivery``); ``claimed_by`` /
``claimed_until`` are the lease of the process attempting it, so a delivery a crashed process
held is taken up again once its lease ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class FeedbackRow(Base):
    __tablename__ = "monitoring_feedback"
    __table_args__ = (sa.Index("ix_monitoring_feedback_time", "prediction_time"),)

    prediction_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    label: Mapped[Any] = mapped_column(JSONType)
    endpoint: Mapped[str | None] = mapped_column(sa.String(256))
    prediction_time: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MonitorConfigRow(Base):
    __tablename__ = "monitor_configs"

    endpoint: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MonitorRunRow(Base):
    __tablename__ = "monitor_runs"
    __table_args__ = (sa.Index("ix_monitor_runs_endpoint_window_end", "endpoint", "window_end"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(256))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16))
    n_rows: Mapped[int] = mapped_column(sa.BigInteger)
    reference: Mapped[str | None] = mapped_column(sa.Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    report_digest: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MonitorMetricRow(Base):
    __tablename__ = "monitor_metrics"
    __table_args__ = (
        sa.Index("ix_monitor_metrics_series", "endpoint", "name", "window_end"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(
        sa.ForeignKey("monitor_runs.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(sa.String(256))
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    route: Mapped[str | None] = mapped_column(sa.String(64))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(sa.String(128))
    feature: Mapped[str | None] = mapped_column(sa.String(512))
    value: Mapped[float] = mapped_column(sa.Float)


class AlertRuleRow(Base):
    __tablename__ = "alert_rules"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("open_key", name="uq_alerts_open_key"),
        sa.Index("ix_alerts_key_opened_at", "key", "opened_at"),
        sa.Index("ix_alerts_state", "state"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(256))
    key: Mapped[str] = mapped_column(sa.String(1024))
    open_key: Mapped[str | None] = mapped_column(sa.String(1024))
    endpoint: Mapped[str] = mapped_column(sa.String(256))
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    feature: Mapped[str | None] = mapped_column(sa.String(512))
    metric: Mapped[str] = mapped_column(sa.String(128))
    value: Mapped[float] = mapped_column(sa.Float)
    threshold: Mapped[float] = mapped_column(sa.Float)
    op: Mapped[str] = mapped_column(sa.String(4))
    severity: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.Text)
    count: Mapped[int] = mapped_column(sa.Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery: Mapped[dict[str, Any]] = mapped_column(JSONType)


class AlertDeliveryRow(Base):
    __tablename__ = "alert_deliveries"
    __table_args__ = (
        sa.Index("ix_alert_deliveries_due", "state", "next_attempt_at"),
        sa.Index("ix_alert_deliveries_alert", "alert_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    alert_id: Mapped[str] = mapped_column(sa.String(32), sa.ForeignKey("alerts.id"))
    event: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.Text)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
