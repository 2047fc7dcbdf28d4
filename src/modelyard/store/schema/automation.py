"""Tables of the automation domain (migration branch ``automation``).

``automation_policies``: retrain (or monitor) policies with their triggers' cursors
(``state``). ``automation_jobs``: every firing, unique per (policy, ``key``) — the idempotency
key of a due time (``cron:…``, ``alert:…``) — so several schedulers planning the same due
time insert one row. A job is taken with a lease (``lease_owner``, ``lease_expires_at``): a
scheduler that dies leaves a lease that expires, and another one resumes the job at its
recorded ``stage``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class PolicyRow(Base):
    __tablename__ = "automation_policies"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    model: Mapped[str] = mapped_column(sa.String(256), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    revision: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class JobRow(Base):
    __tablename__ = "automation_jobs"
    __table_args__ = (
        sa.UniqueConstraint("policy", "key", name="uq_automation_jobs_policy_key"),
        sa.Index("ix_automation_jobs_status_next_at", "status", "next_at"),
        sa.Index("ix_automation_jobs_policy_created_at", "policy", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    policy: Mapped[str] = mapped_column(sa.String(256))
    key: Mapped[str] = mapped_column(sa.String(512))
    trigger: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16))
    stage: Mapped[str] = mapped_column(sa.String(16))
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    model_version: Mapped[str | None] = mapped_column(sa.String(300))
    report_id: Mapped[str | None] = mapped_column(sa.String(32))
    deploy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rollback: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    notified: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    logs: Mapped[str] = mapped_column(sa.Text, default="")
    error: Mapped[str | None] = mapped_column(sa.Text)
