"""Tables of the auth domain (migration branch `auth`): API tokens, stored only as hashes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class ApiTokenRow(Base):
    """One bearer token of ``modelyard server``. The plaintext is never stored: only its sha256.

    A revoked token keeps its row (``revoked_at`` set) so the list shows who had access when.
    """

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # UUIDv7 hex
    name: Mapped[str] = mapped_column(sa.String(256), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))  # reader | writer | admin
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
