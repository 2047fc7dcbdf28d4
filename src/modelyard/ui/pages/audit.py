"""Audit: the tamper-evident log, newest first, filtered by target (exact, or a prefix ending in
``*``), action, actor and time, paged; whether the chain verifies (every hash and link, the head
row and every signed checkpoint: ``governance.audit``); the signed checkpoints.

Verifying reads the whole log (about a second per 20,000 records here), so the page does not
wait on it: the status is loaded by htmx from ``/ui/audit/verification``, which reuses the
last verification while the head of the chain and the checkpoints are unchanged (and it is
younger than :data:`REVERIFY_AFTER`), saying when it was made; "Verify again" always
recomputes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...clock import Clock
from ...errors import ModelyardError
from ...governance.audit import AuditVerification
from ..nav import Section
from ..render import page, yard_of

__all__ = ["PAGE_SIZE", "REVERIFY_AFTER", "SECTION", "Verifier", "router"]

SECTION = Section("audit", "Audit", "/audit", order=90)
PAGE_SIZE = 50
CHECKPOINTS_SHOWN = 20
REVERIFY_AFTER = timedelta(minutes=10)

router = APIRouter()


@dataclass(frozen=True)
class Verified:
    """A verification and what it was made on: the head ``(seq, hash)`` and the number of
    checkpoints at the time, and when."""

    key: tuple[int, str, int]
    result: AuditVerification
    at: datetime
    seconds: float


class Verifier:
    """Verifications of one audit store, reused while nothing they covered changed.

    ``current(fresh=False)`` returns the last verification when the head of the chain and the
    number of checkpoints are what they were then and it is younger than ``max_age``; else
    (or with ``fresh``) verifies again. One verification runs at a time."""

    def __init__(self, store: Any, clock: Clock, max_age: timedelta = REVERIFY_AFTER) -> None:
        self.store = store
        self.clock = clock
        self.max_age = max_age
        self.last: Verified | None = None
        self._lock = threading.Lock()

    def _key(self) -> tuple[int, str, int]:
        head = self.store.head()
        return head.seq, head.hash, len(self.store.checkpoints())

    def cached(self) -> Verified | None:
        """The last verification if it still covers the log as it is now, else None."""
        last = self.last
        if last is None or self.clock.now() - last.at > self.max_age:
            return None
        try:
            key = self._key()
        except ModelyardError:
            return None
        return last if key == last.key else None

    def current(self, *, fresh: bool = False) -> Verified:
        with self._lock:
            found = None if fresh else self.cached()
            if found is not None:
                return found
            try:
                key = self._key()
            except ModelyardError:
                key = (0, "", 0)
            started = time.perf_counter()
            result = self.store.verify()
            self.last = Verified(key, result, self.clock.now(), time.perf_counter() - started)
            return self.last


def verifier_of(request: Request) -> Verifier:
    found = getattr(request.app.state, "ui_audit_verifier", None)
    if found is None:
        yard = yard_of(request)
        found = request.app.state.ui_audit_verifier = Verifier(yard.backend.audit, yard.clock)
    return found  # type: ignore[no-any-return]


@router.get("/audit", response_class=HTMLResponse)
@requires("read")
def audit_page(request: Request, target: str = "", action: str = "", actor: str = "",
               since: str = "", before: int | None = None) -> HTMLResponse:
    yard = yard_of(request)
    store = yard.backend.audit
    problem = None
    records: list[Any] = []
    try:
        records = store.records(target=target.strip() or None, action=action.strip() or None,
                                actor=actor.strip() or None, since=since.strip() or None,
                                before_seq=before, limit=PAGE_SIZE + 1, newest_first=True)
    except ModelyardError as exc:
        problem = exc.message
    checkpoints = store.checkpoints()
    try:
        head = store.head()
    except ModelyardError:
        head = None  # the verification says so
    return page(request, "audit.html", section="audit", records=records[:PAGE_SIZE],
                more=len(records) > PAGE_SIZE, before=before, target=target, action=action,
                actor=actor, since=since, error=problem, head=head,
                checkpoints=checkpoints[-CHECKPOINTS_SHOWN:][::-1],
                n_checkpoints=len(checkpoints), verified=verifier_of(request).cached())


@router.get("/audit/verification", response_class=HTMLResponse)
@requires("read")
def verification(request: Request, fresh: bool = False) -> HTMLResponse:
    return page(request, "audit_verification.html",
                verified=verifier_of(request).current(fresh=fresh))
