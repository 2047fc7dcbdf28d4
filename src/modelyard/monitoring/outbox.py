"""The webhook outbox in SQL: alert events queued for their URLs, claimed under a lease,
finished with their outcome.

* :func:`queue` runs inside the transaction that opens or resolves the alert, so an alert
  change and its notifications are stored together or not at all.
* :func:`claim` takes due deliveries for one process: a conditional ``UPDATE`` per row
  (``state = 'pending'``, due, and no live lease) that only one process can win, on SQLite and
  PostgreSQL alike. The lease (``claimed_until``) outlives one try; a process that dies while
  trying leaves the row claimed until the lease ends, then the next process to run deliveries
  takes it up again — so each delivery arrives at least once, under one idempotency key.
* :func:`finish` records a try's outcome (only by the process holding the claim) and mirrors
  it on the alert's ``delivery`` field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..ids import new_id
from ..store.schema.base import UTCDateTime
from ..store.schema.monitoring import AlertDeliveryRow, AlertRow
from .entities import AlertEvent, Delivery

__all__ = ["Claimed", "Outcome", "claim", "finish", "list_deliveries", "next_due", "queue"]

_deliveries = AlertDeliveryRow.__table__
_alerts = AlertRow.__table__


@dataclass(frozen=True)
class Claimed:
    """A delivery this process may try now: what to send, and where."""

    id: str
    alert_id: str
    event: str
    url: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """How one try went: ``ok`` (2xx); else ``retry`` says whether to try again, and
    ``retry_after`` (seconds) a wait the receiver asked for."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None


def _delivery(row: Any) -> Delivery:
    m = dict(row._mapping)
    for key in ("payload", "claimed_by", "claimed_until"):
        m.pop(key, None)
    return Delivery(**m)


def _mirror(conn: Connection, alert_id: str, event: str, url: str, entry: dict[str, Any],
            notified_at: datetime | None) -> None:
    """The delivery's state on the alert (``alert.delivery[event][url]``)."""
    row = conn.execute(sa.select(_alerts.c.delivery).where(_alerts.c.id == alert_id)).first()
    if row is None:
        return
    merged = {k: dict(v) for k, v in (row.delivery or {}).items()}
    merged.setdefault(event, {})[url] = entry
    values: dict[str, Any] = {"delivery": merged}
    if notified_at is not None:
        values["notified_at"] = notified_at
    conn.execute(_alerts.update().where(_alerts.c.id == alert_id).values(**values))


def queue(conn: Connection, ev: AlertEvent, body: dict[str, Any], now: datetime) -> None:
    """One pending delivery per webhook of ``ev`` (inside the alert change's transaction)."""
    for url in dict.fromkeys(ev.webhooks):
        did = new_id()
        conn.execute(_deliveries.insert().values(
            id=did, alert_id=ev.alert.id, event=ev.event, url=url, payload=body,
            state="pending", attempts=0, created_at=now, next_attempt_at=now))
        entry = {"state": "pending", "delivery_id": did, "attempts": 0, "ok": False,
                 "status": None, "error": None}
        _mirror(conn, ev.alert.id, ev.event, url, entry, None)
        ev.alert.delivery.setdefault(ev.event, {})[url] = entry


def claim(conn: Connection, owner: str, now: datetime, lease: timedelta,
          limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``owner`` until ``now + lease``."""
    free = sa.or_(_deliveries.c.claimed_until.is_(None), _deliveries.c.claimed_until < now)
    due = sa.and_(_deliveries.c.state == "pending", _deliveries.c.next_attempt_at <= now, free)
    rows = conn.execute(sa.select(_deliveries).where(due)
                        .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id)
                        .limit(limit)).all()
    out: list[Claimed] = []
    for r in rows:
        won = conn.execute(_deliveries.update().where(_deliveries.c.id == r.id, due)
                           .values(claimed_by=owner, claimed_until=now + lease)).rowcount
        if won:
            out.append(Claimed(r.id, r.alert_id, r.event, r.url, dict(r.payload), r.attempts))
    return out


def finish(conn: Connection, claimed: Claimed, owner: str, outcome: Outcome, now: datetime,
           *, max_attempts: int, backoff: float) -> Delivery | None:
    """Record one try by ``owner``; None when ``owner`` no longer holds the claim (its lease
    ended and another process took the delivery up: that process records its own try)."""
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now,
                              "status": outcome.status, "error": outcome.error,
                              "claimed_by": None, "claimed_until": None}
    if outcome.ok:
        values.update(state="delivered", delivered_at=now, next_attempt_at=None, error=None)
    elif outcome.retry and attempts < max_attempts:
        wait = min(backoff * 2 ** (attempts - 1), 3600.0)
        if outcome.retry_after is not None:
            wait = max(wait, min(outcome.retry_after, 3600.0))
        values.update(state="pending", next_attempt_at=now + timedelta(seconds=wait))
    else:
        values.update(state="failed", next_attempt_at=None)
    done = conn.execute(_deliveries.update().where(
        _deliveries.c.id == claimed.id, _deliveries.c.claimed_by == owner,
        _deliveries.c.state == "pending").values(**values)).rowcount
    if not done:
        return None
    entry = {"state": values["state"], "delivery_id": claimed.id, "attempts": attempts,
             "ok": outcome.ok, "status": outcome.status, "error": values["error"]}
    _mirror(conn, claimed.alert_id, claimed.event, claimed.url, entry,
            now if outcome.ok else None)
    row = conn.execute(sa.select(_deliveries).where(_deliveries.c.id == claimed.id)).one()
    return _delivery(row)


def list_deliveries(conn: Connection, *, state: str | None, alert_id: str | None,
                    limit: int) -> list[Delivery]:
    q = sa.select(_deliveries).order_by(_deliveries.c.created_at.desc(),
                                        _deliveries.c.id.desc()).limit(limit)
    if state is not None:
        q = q.where(_deliveries.c.state == state)
    if alert_id is not None:
        q = q.where(_deliveries.c.alert_id == alert_id)
    return [_delivery(r) for r in conn.execute(q)]


def next_due(conn: Connection) -> datetime | None:
    """When the earliest pending delivery is due (or its lease ends), None if none is pending."""
    when = sa.func.coalesce(_deliveries.c.claimed_until, _deliveries.c.next_attempt_at)
    row = conn.execute(sa.select(sa.func.min(when, type_=UTCDateTime()))
                       .where(_deliveries.c.state == "pending")).first()
    return row[0] if row is not None else None
