"""Tables of the serving domain (migration branch `serving`): the endpoints a model server
serves (declared in YAML or through its API) and every canary with each of its steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class ServingEndpointRow(Base):
    """One endpoint: its spec (routes, shadows, sticky, canary) and what it serves now."""

    __tablename__ = "serving_endpoints"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source: Mapped[str] = mapped_column(sa.String(16))  # "config" (YAML/CLI) or "api"
    # the servers that serve it: those started with this scope (modelyard serve --scope)
    scope: Mapped[str] = mapped_column(sa.String(128), default="default",
                                       server_default="default")
    revision: Mapped[int] = mapped_column(sa.Integer, default=1)
    served: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # route -> "name/3"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CanaryRow(Base):
    """A canary rollout of one model version on one endpoint."""

    __tablename__ = "serving_canaries"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(256), index=True)
    route: Mapped[str] = mapped_column(sa.String(256))
    model: Mapped[str] = mapped_column(sa.String(600))  # the reference as given
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16))  # running promoted rolled_back aborted
    step: Mapped[int] = mapped_column(sa.Integer)  # index into spec["steps"]
    weight: Mapped[float] = mapped_column(sa.Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CanaryStepRow(Base):
    """Every step of a canary: start, each step up, and how it ended (kept forever)."""

    __tablename__ = "serving_canary_steps"
    __table_args__ = (
        sa.UniqueConstraint("canary_id", "action", "step",
                            name="uq_serving_canary_steps_canary_action_step"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    canary_id: Mapped[str] = mapped_column(
        sa.ForeignKey("serving_canaries.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(sa.Integer)
    weight: Mapped[float] = mapped_column(sa.Float)
    action: Mapped[str] = mapped_column(sa.String(16))  # start step promote rollback abort
    reason: Mapped[str | None] = mapped_column(sa.Text)
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
