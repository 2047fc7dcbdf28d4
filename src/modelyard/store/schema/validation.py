"""Tables of the validation domain (migration branch ``validation``).

``validation_suites``: every version of a model's suite (YAML text or a Python module's
source, with its digest); a new version is stored only when the text changes.
``validation_reports``: one immutable row per run of a suite on a model version (no code
updates or deletes them). ``validation_protected_aliases``: aliases that move only to a version
with a passing report. ``validation_overrides``: each move of a protected alias without one,
with its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class ValidationSuiteRow(Base):
    __tablename__ = "validation_suites"
    __table_args__ = (sa.UniqueConstraint("model", "version",
                                          name="uq_validation_suites_model_version"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(sa.String(256), index=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    format: Mapped[str] = mapped_column(sa.String(16))  # yaml | python
    source: Mapped[str] = mapped_column(sa.Text)
    module: Mapped[str | None] = mapped_column(sa.String(512))
    code_path: Mapped[str | None] = mapped_column(sa.Text)
    digest: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class ValidationReportRow(Base):
    __tablename__ = "validation_reports"
    __table_args__ = (sa.Index("ix_validation_reports_model_version", "model", "version"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    model: Mapped[str] = mapped_column(sa.String(256))
    version: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16))  # passed | failed
    against: Mapped[str | None] = mapped_column(sa.String(300))  # the champion, "loans/7"
    suite_version: Mapped[int | None] = mapped_column(sa.Integer)
    suite_digest: Mapped[str | None] = mapped_column(sa.String(64))
    checks: Mapped[list[Any]] = mapped_column(JSONType)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the data digests it ran on
    as_of: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class ProtectedAliasRow(Base):
    __tablename__ = "validation_protected_aliases"

    model: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    alias: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class AliasOverrideRow(Base):
    __tablename__ = "validation_overrides"
    __table_args__ = (sa.Index("ix_validation_overrides_model", "model"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(sa.String(256))
    alias: Mapped[str] = mapped_column(sa.String(256))
    version: Mapped[int | None] = mapped_column(sa.Integer)  # None: the alias was deleted
    report_id: Mapped[str | None] = mapped_column(sa.String(32))  # the failing report, if any
    reason: Mapped[str] = mapped_column(sa.Text)
    moved_by: Mapped[str | None] = mapped_column(sa.String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
