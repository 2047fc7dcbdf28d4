"""Tables of the pipelines domain (migration branch ``pipelines``).

``pipeline_runs``: one row per run of a pipeline: its parameters, its graph (the steps and
what feeds each), status and times. ``pipeline_step_runs``: one row per step of a run: status,
the step's cache key and the key's components (what the key was made of, so a miss can be
explained against an earlier run), whether it was a cache hit (and from which step run), the
outputs it stored and the error it raised. ``pipeline_links``: the dataset and model versions a
step read or produced, indexed by reference, for lineage in both directions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class PipelineRunRow(Base):
    __tablename__ = "pipeline_runs"
    __table_args__ = (sa.Index("ix_pipeline_runs_pipeline_created_at", "pipeline", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    pipeline: Mapped[str] = mapped_column(sa.String(256))
    entry_point: Mapped[str | None] = mapped_column(sa.String(512))
    code_path: Mapped[str | None] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    graph: Mapped[list[Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16))  # running | succeeded | failed
    no_cache: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    executor: Mapped[str | None] = mapped_column(sa.String(256))
    attempt: Mapped[int] = mapped_column(sa.Integer, default=1)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class PipelineStepRunRow(Base):
    __tablename__ = "pipeline_step_runs"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "step", name="uq_pipeline_step_runs_run_id"),
        sa.Index("ix_pipeline_step_runs_cache_key", "cache_key", "status"),
        sa.Index("ix_pipeline_step_runs_pipeline_step", "pipeline", "step", "finished_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"))
    pipeline: Mapped[str] = mapped_column(sa.String(256))
    step: Mapped[str] = mapped_column(sa.String(256))
    function: Mapped[str] = mapped_column(sa.String(512))
    # pending | running | succeeded | cached | failed | skipped
    status: Mapped[str] = mapped_column(sa.String(16))
    cache_key: Mapped[str | None] = mapped_column(sa.String(64))
    components: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    cached_from: Mapped[str | None] = mapped_column(sa.String(300))  # "run_id/step"
    reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)


class PipelineLinkRow(Base):
    __tablename__ = "pipeline_links"
    __table_args__ = (
        sa.Index("ix_pipeline_links_kind_ref", "kind", "ref"),
        sa.Index("ix_pipeline_links_run_id", "run_id", "step"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(sa.String(256))
    direction: Mapped[str] = mapped_column(sa.String(8))  # input | output
    kind: Mapped[str] = mapped_column(sa.String(16))  # dataset | model
    ref: Mapped[str] = mapped_column(sa.String(300))  # "loans/2"
    name: Mapped[str] = mapped_column(sa.String(256))  # the step's argument or output name
