"""Alert webhooks from the outbox: queued with the alert change, delivered in the background
with backoff, at least once across a crash, to a real HTTP receiver on loopback (issue 17:
``yard.monitoring.run`` waited 11 s for a dead hook's retries)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.config import Settings
from modelyard.ids import new_id
from modelyard.monitoring.entities import MetricPoint, MonitorRun

from .conftest import Receiver, wait_until


def _drift(yard: my.Yard, value: float = 0.9) -> None:
    """A stored drift_share figure of endpoint loans, ending now."""
    end = yard.clock.now()
    run = MonitorRun(id=new_id(), endpoint="loans", window_start=end - timedelta(hours=1),
                     window_end=end, n_rows=10)
    yard.backend.monitoring.record_run(run, [MetricPoint(
        endpoint="loans", model_version="1", window_start=run.window_start, window_end=end,
        name="drift_share", value=value)])


@pytest.fixture
def fast_yard(db_url: str, tmp_path: Path) -> Iterator[my.Yard]:
    """A yard on the real clock whose webhook retries come quickly."""
    settings = Settings.load({}, home=tmp_path / "home", webhook_backoff_s=0.05,
                             webhook_attempts=4)
    y = my.connect(db_url, artifacts=str(tmp_path / "artifacts"), settings=settings)
    yield y
    y.close()


def test_a_hanging_or_dead_hook_does_not_hold_up_the_run(
        clocked_yard: my.Yard, log_predictions: Callable[..., list[str]], clock: FixedClock,
        receiver_factory: Callable[..., Receiver]) -> None:
    hanging = receiver_factory(hold=1)  # answers only when the test says so
    dead = receiver_factory()
    dead.close()
    mon = clocked_yard.monitoring
    mon.alert_rule("slow", metric="latency_p99_ms", op=">", threshold=1.0, window="1h",
                   webhooks=[hanging.url, dead.url])
    log_predictions(200)
    clock.advance(60)
    result = mon.run("loans", window="1h")  # returns while the hook still holds its request
    assert [e.event for e in result.events] == ["opened"]
    assert {d.url: (d.state, d.attempts) for d in mon.deliveries()} == {
        hanging.url: ("pending", 0), dead.url: ("pending", 0)}
    hanging.wait_for(1)
    hanging.release()
    wait_until(lambda: {d.url: d.attempts for d in mon.deliveries()} == {
        hanging.url: 1, dead.url: 1}, what="one try of each hook")
    by_url = {d.url: d for d in mon.deliveries()}
    assert by_url[hanging.url].state == "delivered" and by_url[hanging.url].status == 200
    failed = by_url[dead.url]
    assert failed.state == "pending" and "ConnectError" in (failed.error or "")
    assert failed.next_attempt_at == clock.now() + timedelta(
        seconds=clocked_yard.settings.webhook_backoff_s)


def test_a_hook_failing_twice_then_succeeding_is_delivered_once(
        fast_yard: my.Yard, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory([500, 503])
    mon = fast_yard.monitoring
    mon.alert_rule("drift", metric="drift_share", threshold=0.5, webhooks=[receiver.url])
    _drift(fast_yard)
    events = mon.evaluate_alerts()
    assert [e.event for e in events] == ["opened"]
    wait_until(lambda: mon.deliveries(state="delivered"), what="the delivery")
    [delivery] = mon.deliveries()
    assert (delivery.state, delivery.attempts, delivery.status) == ("delivered", 3, 200)
    assert delivery.alert_id == events[0].alert.id and delivery.event == "opened"
    assert receiver.keys == [delivery.id] * 3  # one idempotency key for every try
    assert [b["delivery_id"] for b in receiver.bodies] == [delivery.id] * 3
    assert mon.alerts()[0].delivery["opened"][receiver.url]["state"] == "delivered"


def test_a_refusing_hook_fails_at_once_and_a_failing_one_after_its_tries(
        fast_yard: my.Yard, receiver_factory: Callable[..., Receiver]) -> None:
    refusing = receiver_factory([404])
    failing = receiver_factory([500] * 10)
    mon = fast_yard.monitoring
    mon.alert_rule("drift", metric="drift_share", threshold=0.5,
                   webhooks=[refusing.url, failing.url])
    _drift(fast_yard)
    mon.evaluate_alerts()
    wait_until(lambda: len(mon.deliveries(state="failed")) == 2, what="both deliveries to fail")
    by_url = {d.url: d for d in mon.deliveries()}
    assert (by_url[refusing.url].attempts, by_url[refusing.url].error) == (1, "HTTP 404")
    assert by_url[failing.url].attempts == fast_yard.settings.webhook_attempts
    assert len(refusing.bodies) == 1 and len(failing.bodies) == 4


_DELIVER_AND_HANG = """
import sys
import modelyard as my
from modelyard.config import Settings

settings = Settings.load({}, home=sys.argv[3], webhook_timeout_s=120, webhook_lease_s=1.0)
my.connect(sys.argv[1], artifacts=sys.argv[2], settings=settings).monitoring.deliver()
"""


def test_a_delivery_cut_by_a_crash_is_resumed_by_the_next_process(
        db_url: str, tmp_path: Path, fast_yard: my.Yard,
        receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(hold=1)  # the first try never gets its answer
    fast_yard.monitoring.alert_rule("drift", metric="drift_share", threshold=0.5,
                                    webhooks=[receiver.url])
    _drift(fast_yard)
    fast_yard.backend.monitoring.evaluate_alerts()  # queued only; no worker in this process
    proc = subprocess.Popen([sys.executable, "-c", _DELIVER_AND_HANG, db_url,
                             str(tmp_path / "artifacts"), str(tmp_path / "other")])
    try:
        receiver.wait_for(1, timeout=120)  # the other process is inside its try ...
    finally:
        proc.kill()  # ... and dies there
        proc.wait()
    [held] = fast_yard.monitoring.deliveries()
    assert (held.state, held.attempts) == ("pending", 0)
    # this process runs deliveries: once the dead one's lease is over, it takes the delivery up
    wait_until(lambda: fast_yard.monitoring.deliver(), what="the delivery to be taken up")
    [delivery] = fast_yard.monitoring.deliveries()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert receiver.keys == [delivery.id, delivery.id]  # the receiver can drop the repeat


def test_the_rest_server_delivers_what_a_remote_evaluation_queued(
        server: Any, remote_yard: my.Yard, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory()
    remote_yard.monitoring.alert_rule("drift", metric="drift_share", threshold=0.5,
                                      webhooks=[receiver.url])
    _drift(server.yard)
    assert [e.event for e in remote_yard.monitoring.evaluate_alerts()] == ["opened"]
    assert receiver.wait_for(1)[0]["event"] == "opened"
    wait_until(lambda: remote_yard.monitoring.deliveries(state="delivered"),
               what="the delivery recorded")
