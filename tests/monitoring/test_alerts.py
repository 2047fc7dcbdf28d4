"""One webhook try against a real HTTP receiver on loopback (what is retried, what is not),
and the alert transitions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

import httpx
import pytest

from modelyard.monitoring.alerts import transition
from modelyard.monitoring.delivery import post
from modelyard.monitoring.outbox import Claimed

from .conftest import Receiver


def _try(url: str) -> Any:
    claimed = Claimed(id="d1", alert_id="a1", event="opened", url=url,
                      payload={"event": "opened", "text": "hi"}, attempts=0)
    with httpx.Client(timeout=2) as client:
        return post(client, claimed)


def test_a_webhook_gets_the_json_body_and_the_idempotency_key(
        receiver_factory: Callable[..., Receiver]) -> None:
    r = receiver_factory()
    outcome = _try(r.url)
    assert outcome.ok and outcome.status == 200 and outcome.error is None
    assert r.bodies == [{"event": "opened", "text": "hi", "delivery_id": "d1"}]
    headers = r.requests[0][0]
    assert headers["idempotency-key"] == "d1" and headers["x-modelyard-event"] == "opened"


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_server_errors_and_throttling_are_retried(
        receiver_factory: Callable[..., Receiver], status: int) -> None:
    outcome = _try(receiver_factory([status]).url)
    assert not outcome.ok and outcome.retry and outcome.error == f"HTTP {status}"


def test_a_client_error_is_not_retried(receiver_factory: Callable[..., Receiver]) -> None:
    outcome = _try(receiver_factory([404]).url)
    assert not outcome.ok and not outcome.retry and outcome.status == 404


def test_an_unreachable_receiver_is_retried_not_raised(
        receiver_factory: Callable[..., Receiver]) -> None:
    r = receiver_factory()
    url = r.url
    r.close()
    outcome = _try(url)
    assert not outcome.ok and outcome.retry and "ConnectError" in outcome.error


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
