"""Append to the tamper-evident audit log, in the same transaction as the change.

Every store write that changes state says what it did, in one line, inside its transaction::

    with self.db.write() as conn:
        ...                                                   # the change
        audit.append(conn, action="alias.set", target="alias:loans@production",
                     before={"version": 2}, after={"version": 3})

(``conn`` may also be an ORM ``Session`` from ``db.session()``.) The record gets its actor from
the principal doing the work (:func:`modelyard.access.acting_principal`), never from an argument.
Records are chained and written when the transaction commits (:meth:`Database.write` calls
:func:`flush`): the head of the chain is locked only for that moment (``SELECT … FOR UPDATE`` of
the one ``audit_head`` row on PostgreSQL; SQLite writers are already serialised by
``BEGIN IMMEDIATE``), so two writers never fork the chain, and a change that rolls back leaves no
record while a change that commits always has one.

The record and its hash (``governance/audit.py`` verifies them):

* ``before``/``after`` are stored as canonical JSON text (:func:`canonical_json`); a value over
  16 KiB of canonical JSON is replaced by ``{"sha256": …, "bytes": n}`` (its digest);
* ``hash`` = sha256 of the canonical JSON of ``{"v": 1, "seq", "at", "actor", "action",
  "target", "before", "after", "prev"}``, where ``at`` is ``YYYY-MM-DDTHH:MM:SS.ffffffZ``,
  ``before``/``after`` are the stored texts (or null) and ``prev`` is the hash of record
  ``seq - 1`` (64 zeros for the first record).

Canonical JSON: ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8. A value ``json`` cannot write as it is
is converted first: datetimes into ISO 8601 UTC strings, pydantic models into their JSON dumps,
tuples and sets into lists (sets sorted), NaN and infinities into the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``, mapping keys into strings.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..access import acting_principal
from ..errors import IntegrityError
from .compiled import Compiled
from .schema.audit import AuditHeadRow, AuditRecordRow

__all__ = [
    "GENESIS",
    "MAX_INLINE_BYTES",
    "PENDING",
    "append",
    "canonical_json",
    "flush",
    "format_time",
    "record_hash",
]

GENESIS = "0" * 64
MAX_INLINE_BYTES = 16 * 1024
PENDING = "modelyard_audit_pending"
_IN_WRITE = "modelyard_audit_in_write"
_LOG = AuditRecordRow.__table__
_HEAD = AuditHeadRow.__table__


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types (see the module docstring)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=canonical_json)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump(mode="json"))
    raise TypeError(f"An audit value must be JSON-like. Got {type(value).__name__} {value!r}.")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (sorted keys, no spaces, UTF-8, no NaN)."""
    try:  # plain JSON values (the usual case) need no conversion first
        return _dumps(value)
    except (TypeError, ValueError):
        return _dumps(_plain(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _stored(value: Any) -> str | None:
    if value is None:
        return None
    text = canonical_json(value)
    data = text.encode("utf-8")
    if len(data) > MAX_INLINE_BYTES:
        return canonical_json({"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    return text


def format_time(at: datetime) -> str:
    """``at`` as the hashed time text: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond:06d}Z"


def record_hash(*, seq: int, at: datetime, actor: str, action: str, target: str,
                before: str | None, after: str | None, prev: str) -> str:
    """The hash of one record (``before``/``after``: the stored canonical texts)."""
    doc = {"v": 1, "seq": seq, "at": format_time(at), "actor": actor, "action": action,
           "target": target, "before": before, "after": after, "prev": prev}
    return hashlib.sha256(_dumps(doc).encode("utf-8")).hexdigest()


def _connection(where: Connection | Session) -> Connection:
    return where.connection() if isinstance(where, Session) else where


def append(where: Connection | Session, *, action: str, target: str, before: Any = None,
           after: Any = None) -> None:
    """Record ``action`` on ``target`` (with the state ``before`` and ``after``, JSON-like
    values or None) as part of the transaction of ``where`` (a connection from
    ``Database.write()`` or a session from ``Database.session()``). The actor is the principal
    doing the work. Nothing is written if the transaction rolls back."""
    conn = _connection(where)
    if not conn.info.get(_IN_WRITE):
        raise RuntimeError(
            "audit.append must be called inside Database.write() or Database.session(): "
            "the record is written when that transaction commits."
        )
    if not action or not target:
        raise ValueError(f"An audit record needs an action and a target. Got {action!r}, "
                         f"{target!r}.")
    conn.info.setdefault(PENDING, []).append(
        (acting_principal().name, action, target, _stored(before), _stored(after))
    )


def begin(conn: Connection) -> dict[str, Any]:
    """Called by ``Database`` when a write transaction starts on ``conn``; returns the
    connection's info dict (``end`` takes it back)."""
    info: dict[str, Any] = conn.info
    info.pop(PENDING, None)
    info[_IN_WRITE] = True
    return info


def end(info: dict[str, Any]) -> None:
    """Called by ``Database`` when the write transaction is over (either way)."""
    info.pop(PENDING, None)
    info.pop(_IN_WRITE, None)


_FIELDS = ("seq", "at", "actor", "action", "target", "before", "after", "prev_hash", "hash")


class _Statements:
    """The three statements of a flush, compiled once per dialect (see ``store.compiled``)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        one = _HEAD.c.id == sa.literal_column("1")
        self.head = Compiled(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(one).with_for_update(),
                             dialect, ())
        self.insert = Compiled(_LOG.insert(), dialect, _FIELDS)
        self.move = Compiled(
            _HEAD.update().where(one).values(seq=sa.bindparam("seq"),
                                             hash=sa.bindparam("hash")),
            dialect, ("seq", "hash"))
        self.at = _LOG.c.at.type.bind_processor(dialect) or (lambda value: value)


_STATEMENTS: dict[str, _Statements] = {}


def flush(conn: Connection, at: datetime) -> None:
    """Chain and insert the records appended in this transaction (just before it commits)."""
    pending = conn.info.pop(PENDING, None)
    if not pending:
        return
    statements = _STATEMENTS.get(conn.dialect.name)
    if statements is None:
        statements = _STATEMENTS[conn.dialect.name] = _Statements(conn.dialect)
    head = statements.head.fetch(conn, {})
    if not head:
        raise IntegrityError(
            "The audit log has no head row (audit_head): it was removed from the database. "
            "Nothing can be recorded; run 'modelyard audit verify'."
        )
    seq, prev = int(head[0][0]), str(head[0][1])
    stored_at = statements.at(at)
    rows = []
    for actor, action, target, before, after in pending:
        seq += 1
        digest = record_hash(seq=seq, at=at, actor=actor, action=action, target=target,
                             before=before, after=after, prev=prev)
        rows.append({"seq": seq, "at": stored_at, "actor": actor, "action": action,
                     "target": target, "before": before, "after": after, "prev_hash": prev,
                     "hash": digest})
        prev = digest
    statements.insert.run(conn, rows)
    statements.move.run(conn, [{"seq": seq, "hash": prev}])
