"""Tables of four-eyes promotion (migration branch `promotions`): which aliases need a second
person's approval to move, and the promotion requests with their decisions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class FourEyesAliasRow(Base):
    """``model@alias`` moves only through an approved promotion request."""

    __tablename__ = "four_eyes_aliases"

    model: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    alias: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class PromotionRequestRow(Base):
    """A request to point ``model@alias`` at ``version``, bound to the version's digest and its
    latest validation report when it was made; decided once (approved or refused)."""

    __tablename__ = "promotion_requests"
    __table_args__ = (sa.Index("ix_promotion_requests_model_state", "model", "state"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # UUIDv7 hex
    model: Mapped[str] = mapped_column(sa.String(256))
    alias: Mapped[str] = mapped_column(sa.String(256))
    version: Mapped[int] = mapped_column(sa.Integer)
    digest: Mapped[str] = mapped_column(sa.String(64))
    report_id: Mapped[str | None] = mapped_column(sa.String(32))
    report_status: Mapped[str | None] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    override: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    state: Mapped[str] = mapped_column(sa.String(16))  # pending | approved | refused
    requested_by: Mapped[str] = mapped_column(sa.String(256))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(256))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(sa.Text)
