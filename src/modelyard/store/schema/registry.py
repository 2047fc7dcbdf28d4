"""Registered models, versions, aliases (with the history of every move) and journal entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(
        sa.ForeignKey("registered_models.name", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    flavor: Mapped[str] = mapped_column(sa.String(32))
    digest: Mapped[str] = mapped_column(sa.String(64))  # sha256 of the manifest
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id"), index=True)
    # files (name -> digest), signature, library versions, flavor options
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="READY")
    code_commit: Mapped[str | None] = mapped_column(sa.String(64))
    source_version: Mapped[str | None] = mapped_column(sa.String(300))  # "name/3" it reproduces
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class AliasRow(Base):
    __tablename__ = "model_aliases"

    name: Mapped[str] = mapped_column(
        sa.ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AliasEventRow(Base):
    """One row per alias move, kept forever: who pointed production where, and when."""

    __tablename__ = "model_alias_events"
    __table_args__ = (sa.Index("ix_alias_events_name_alias", "name", "alias"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    alias: Mapped[str] = mapped_column(sa.String(256))
    old_version: Mapped[int | None] = mapped_column(sa.Integer)
    new_version: Mapped[int | None] = mapped_column(sa.Integer)  # None: the alias was deleted
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    moved_by: Mapped[str | None] = mapped_column(sa.String(256))
    reason: Mapped[str | None] = mapped_column(sa.Text)


class JournalEntryRow(Base):
    """Free text on a model or a version ("why we chose this"); append-only."""

    __tablename__ = "model_journal"
    __table_args__ = (sa.Index("ix_model_journal_name_version", "name", "version"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    version: Mapped[int | None] = mapped_column(sa.Integer)
    text: Mapped[str] = mapped_column(sa.Text)
    author: Mapped[str | None] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
