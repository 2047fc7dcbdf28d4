"""Tables of the explanations (migration branch ``explain``).

``explain_explanations``: the explanation of one logged prediction by one model version, keyed
by (prediction id, version digest): computed once, read back from here afterwards.
``explain_importance``: the global importance (mean |SHAP| on a sample) of each model version,
computed when the version is registered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class ExplanationRow(Base):
    __tablename__ = "explain_explanations"

    prediction_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    model: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImportanceRow(Base):
    __tablename__ = "explain_importance"

    model: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
