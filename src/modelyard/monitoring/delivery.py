"""Alert webhooks, delivered in the background from the outbox (:mod:`.outbox`).

An evaluation that opens or resolves an alert stores one pending delivery per webhook URL in
the same transaction; nothing is sent inline, so a dead hook never slows a monitor run. A
:class:`Deliverer` claims due deliveries, POSTs each once, and records the outcome: a 2xx
answer delivers it; a connection error, a timeout, 408, 429 or 5xx schedules another try after
``webhook_backoff_s * 2**(tries - 1)`` seconds (at most an hour; longer if the receiver sent
``Retry-After``) until ``webhook_attempts`` tries are used; any other answer fails it at once.

Who runs deliveries:

* ``modelyard server``: one background worker per server process, for its whole life (it
  looks for due deliveries every second);
* a local yard in any process (a notebook, the scheduler, ``yard.monitoring.run``): a
  background worker starts when an evaluation queues deliveries and stops at ``yard.close()``;
  what it has not delivered by then stays queued for the next process that runs deliveries;
* ``modelyard monitor run`` tries what is due once before it exits; ``modelyard monitor
  deliver`` does the same on demand, and ``--follow`` keeps delivering until interrupted.

At least once: each try is made under a lease (``webhook_lease_s``); if the process dies
during a try, the delivery is taken up again by whichever process runs deliveries after the
lease ends. A receiver may therefore see a delivery twice; every try carries the delivery's id
as ``Idempotency-Key`` (and ``X-Modelyard-Delivery``, and ``delivery_id`` in the body) so it
can drop repeats.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx

from .. import __version__
from .entities import Delivery
from .outbox import Claimed, Outcome

__all__ = ["Deliverer", "post"]

log = logging.getLogger("modelyard.monitoring.delivery")

_RETRY_STATUS = {408, 425, 429}


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def post(client: httpx.Client, claimed: Claimed) -> Outcome:
    """One try of one delivery; never raises for a failed delivery."""
    body = {**claimed.payload, "delivery_id": claimed.id}
    headers = {"Idempotency-Key": claimed.id, "X-Modelyard-Delivery": claimed.id,
               "X-Modelyard-Event": claimed.event, "User-Agent": f"modelyard/{__version__}"}
    try:
        resp = client.post(claimed.url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}", retry=True)
    if resp.status_code < 300:
        return Outcome(ok=True, status=resp.status_code)
    retry = resp.status_code in _RETRY_STATUS or resp.status_code >= 500
    return Outcome(ok=False, status=resp.status_code, error=f"HTTP {resp.status_code}",
                   retry=retry, retry_after=_retry_after(resp) if retry else None)


class Deliverer:
    """Delivers the outbox of one local monitoring store (``MonitorStore``): :meth:`run_once`
    in the foreground, or :meth:`start` a background thread (woken early by :meth:`wake`).

    Tries, backoff, timeout and lease come from the store's settings (``webhook_*``);
    ``transport`` is handed to httpx (e.g. a proxy-free transport in tests of other parts)."""

    def __init__(self, store: Any, *, poll: float = 1.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.store = store
        self.poll = poll
        self.transport = transport
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run_once(self, limit: int = 100) -> list[Delivery]:
        """Try every delivery due now once (up to ``limit``); returns their new state."""
        settings = self.store.settings
        claimed = self.store.claim_deliveries(
            self.owner, timedelta(seconds=settings.webhook_lease_s), limit)
        if not claimed:
            return []
        done: list[Delivery] = []
        with httpx.Client(timeout=settings.webhook_timeout_s, transport=self.transport) as client:
            for c in claimed:
                outcome = post(client, c)
                result = self.store.finish_delivery(c, self.owner, outcome)
                if result is not None:
                    done.append(result)
                    if result.state == "failed":
                        log.warning("webhook delivery %s of alert %s to %s failed after %d "
                                    "tries: %s", result.id, result.alert_id, result.url,
                                    result.attempts, result.error)
        return done

    # ---- the background worker -------------------------------------------------------------
    def start(self) -> Deliverer:
        """Start the background thread (once); it runs until :meth:`stop`."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="modelyard-webhooks",
                                                daemon=True)
                self._thread.start()
        return self

    def wake(self) -> None:
        """Look for due deliveries now (starting the thread if it is not running)."""
        self.start()
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the try in progress (deliveries not yet made stay queued)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if timeout is not None
                        else self.store.settings.webhook_timeout_s + 5.0)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    continue  # more may be due
                self._wake.wait(self._wait())
            except Exception:
                log.exception("webhook delivery pass failed; trying again")
                self._wake.wait(self.poll)
            self._wake.clear()

    def _wait(self) -> float:
        """Seconds until the next delivery is due (at most ``poll``)."""
        due = self.store.next_delivery_due()
        if due is None:
            return self.poll
        left = (due - self.store.clock.now()).total_seconds()
        return min(max(left, 0.01), self.poll)
