"""Tables of the auth domain (migration branch `auth`): users, their roles, and their API
tokens, stored only as hashes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class UserRow(Base):
    """A person or a machine that calls the servers. A disabled user's tokens stop working."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(256))
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class UserRoleRow(Base):
    """One role a user holds, on the model and dataset names matching ``pattern`` (``*``: all)."""

    __tablename__ = "user_roles"
    __table_args__ = (sa.UniqueConstraint("user_name", "role", "pattern",
                                          name="uq_user_roles_grant"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(sa.String(256), sa.ForeignKey("users.name"),
                                           index=True)
    role: Mapped[str] = mapped_column(sa.String(16))  # viewer | editor | approver | admin
    pattern: Mapped[str] = mapped_column(sa.String(256), default="*")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))


class ApiTokenRow(Base):
    """One bearer token of a user. The plaintext is never stored: only its sha256.

    A revoked token keeps its row (``revoked_at`` set) so the list shows who had access when.
    ``last_used_at`` is updated when the token is used, at most once a minute.
    """

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # UUIDv7 hex
    name: Mapped[str] = mapped_column(sa.String(256), index=True)
    user_name: Mapped[str] = mapped_column(sa.String(256), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
