"""Experiments, runs, params, metrics, tags, run artifacts and run inputs (dataset versions read).

A metric value of NaN is stored as NULL on every backend (SQLite cannot store NaN), so a NULL
``value`` in ``metrics``/``latest_metrics`` reads back as ``float("nan")``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class ExperimentRow(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(256), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # UUIDv7 hex
    experiment_id: Mapped[int] = mapped_column(sa.ForeignKey("experiments.id"), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(256))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)  # RUNNING FINISHED FAILED KILLED
    start_time: Mapped[int] = mapped_column(sa.BigInteger)  # epoch ms
    end_time: Mapped[int | None] = mapped_column(sa.BigInteger)
    error: Mapped[str | None] = mapped_column(sa.Text)
    user: Mapped[str | None] = mapped_column(sa.String(256))
    # code and environment, captured automatically at start
    code_commit: Mapped[str | None] = mapped_column(sa.String(64))
    code_dirty: Mapped[bool | None] = mapped_column(sa.Boolean)
    code_repo: Mapped[str | None] = mapped_column(sa.Text)
    source: Mapped[str | None] = mapped_column(sa.Text)  # the script or notebook that ran
    entry_point: Mapped[str | None] = mapped_column(sa.Text)  # "module:function" to re-run it
    python_version: Mapped[str | None] = mapped_column(sa.String(32))
    packages: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    # the training recipe (entry point, params, inputs) retrain executes: set when the run is
    # created, never updated (no store method writes it afterwards)
    recipe: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class ParamRow(Base):
    __tablename__ = "params"

    run_id: Mapped[str] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class MetricRow(Base):
    __tablename__ = "metrics"
    __table_args__ = (sa.Index("ix_metrics_run_key_step", "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(256))
    value: Mapped[float | None] = mapped_column(sa.Float)  # NULL: NaN
    step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)  # epoch ms


class LatestMetricRow(Base):
    """The value at the highest step of each metric of a run: what search filters and sorts on."""

    __tablename__ = "latest_metrics"
    __table_args__ = (sa.Index("ix_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    value: Mapped[float | None] = mapped_column(sa.Float)  # NULL: NaN
    step: Mapped[int] = mapped_column(sa.BigInteger)
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)


class RunTagRow(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class RunArtifactRow(Base):
    __tablename__ = "run_artifacts"
    __table_args__ = (sa.UniqueConstraint("run_id", "path", name="uq_run_artifacts_run_path"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.String(1024))
    digest: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RunInputRow(Base):
    """A dataset version a run read (its role, and the as_of / event-time window of the view)."""

    __tablename__ = "run_inputs"
    __table_args__ = (sa.Index("ix_run_inputs_dataset_version", "dataset", "version"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dataset: Mapped[str] = mapped_column(sa.String(256))
    version: Mapped[int] = mapped_column(sa.Integer)
    digest: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(64))
    as_of: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
