"""Webhooks: JSON POSTs to a real HTTP receiver on loopback, retried with backoff."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelyard.monitoring.alerts import deliver, transition


class Receiver:
    """A loopback HTTP server that answers with the given status codes in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        r = Receiver(statuses or [])
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_a_webhook_gets_the_json_body(receiver_factory: Any) -> None:
    r = receiver_factory()
    out = deliver([r.url], {"event": "opened", "text": "hi"}, sleep=lambda s: None)
    assert out[r.url] == {"ok": True, "attempts": 1, "status": 200, "error": None}
    assert r.bodies == [{"event": "opened", "text": "hi"}]


def test_server_errors_are_retried_with_exponential_backoff(receiver_factory: Any) -> None:
    r = receiver_factory([500, 503, 429])
    waits: list[float] = []
    out = deliver([r.url], {"event": "opened"}, attempts=5, backoff=0.25, sleep=waits.append)
    assert out[r.url]["ok"] and out[r.url]["attempts"] == 4
    assert waits == [0.25, 0.5, 1.0]
    assert len(r.bodies) == 4


def test_delivery_gives_up_after_its_attempts(receiver_factory: Any) -> None:
    r = receiver_factory([500] * 10)
    waits: list[float] = []
    out = deliver([r.url], {"event": "opened"}, attempts=3, sleep=waits.append)
    assert out[r.url] == {"ok": False, "attempts": 3, "status": 500, "error": "HTTP 500"}
    assert len(waits) == 2


def test_a_client_error_is_not_retried(receiver_factory: Any) -> None:
    r = receiver_factory([404])
    out = deliver([r.url], {"event": "opened"}, sleep=lambda s: None)
    assert out[r.url]["attempts"] == 1 and not out[r.url]["ok"]


def test_an_unreachable_receiver_is_reported_not_raised(receiver_factory: Any) -> None:
    r = receiver_factory()
    url = r.url
    r.close()
    out = deliver([url], {"event": "opened"}, attempts=2, sleep=lambda s: None, timeout=2)
    assert not out[url]["ok"] and "ConnectError" in out[url]["error"]


@pytest.mark.parametrize(("holds", "open_", "resolved_ago", "action"), [
    (True, False, None, "open"),
    (True, True, None, "repeat"),
    (True, False, 30, "reopen"),
    (True, False, 7200, "open"),
    (False, True, None, "resolve"),
    (False, False, None, "none"),
])
def test_alert_transitions(holds: bool, open_: bool, resolved_ago: int | None, action: str) -> None:
    from datetime import datetime, timedelta

    from modelyard.monitoring.entities import Alert

    now = datetime(2026, 1, 1, tzinfo=UTC)
    alert = Alert(id="a", rule="r", key="k", endpoint="e", metric="m", value=1, threshold=0,
                  op=">", opened_at=now, last_seen=now) if open_ else None
    last = now - timedelta(seconds=resolved_ago) if resolved_ago is not None else None
    assert transition(holds, alert, last, now, timedelta(hours=1)) == action
