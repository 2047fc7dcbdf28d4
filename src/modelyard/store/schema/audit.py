"""Tables of the audit log (migration branch `audit`): the hash-chained records, the head of the
chain (one row, the lock every appending transaction takes) and the signed checkpoints.

``before``/``after`` hold the canonical JSON text that was hashed (not a JSON column: a database
may reorder keys or reformat numbers, and the hash must be recomputable from what is stored).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

__all__ = ["AuditCheckpointRow", "AuditHeadRow", "AuditRecordRow"]

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class AuditRecordRow(Base):
    """One change: who (``actor``), when, what (``action`` on ``target``), the state before and
    after, and the hash of the record before it (``prev_hash``), all covered by ``hash``."""

    __tablename__ = "audit_log"
    # one index besides the seq: every index is pages written by every change (the time
    # filter scans; a record's hash needs no index, the chain checks it)
    __table_args__ = (sa.Index("ix_audit_log_target", "target"),)

    seq: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(256))
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str] = mapped_column(sa.String(512))
    before: Mapped[str | None] = mapped_column(sa.Text)  # canonical JSON, as hashed
    after: Mapped[str | None] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHeadRow(Base):
    """The head of the chain: the last ``seq`` and its ``hash``, and the id of this log (the
    origin of its checkpoints). One row (``id`` 1), locked by every appending transaction."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    log_id: Mapped[str] = mapped_column(sa.String(64))
    seq: Mapped[int] = mapped_column(_BIGINT)
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditCheckpointRow(Base):
    """A signed note of the chain head at ``size`` records (C2SP tlog-checkpoint format)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (sa.Index("ix_audit_checkpoints_size", "size"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(_BIGINT)
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    key_id: Mapped[str] = mapped_column(sa.String(8))  # hex of the signed-note key id
    note: Mapped[str] = mapped_column(sa.Text)  # the whole signed note
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
