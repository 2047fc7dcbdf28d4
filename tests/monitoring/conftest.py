"""Helpers of the monitoring tests: a yard with a controlled clock, a prediction-log writer,
and a real HTTP webhook receiver on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.config import Settings

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def clocked_yard(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[my.Yard]:
    """A yard on SQLite and on PostgreSQL whose time only moves when the test says so."""
    settings = Settings.load({}, home=tmp_path / "home")
    y = my.connect(db_url, artifacts=str(tmp_path / "artifacts"), settings=settings, clock=clock)
    yield y
    y.close()


def records(n: int, *, seed: int = 0, shift: float = 0.0, version: int = 1,
            route: str = "champion", shadow: bool = False, endpoint: str = "loans",
            model: str = "loans") -> list[dict[str, Any]]:
    """Prediction-log records of a binary classifier with calibrated probabilities."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    c = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    p = 1 / (1 + np.exp(-2 * x))
    out = []
    for i in range(n):
        out.append({
            "endpoint": endpoint, "route": route, "model_name": model, "model_version": version,
            "shadow": shadow, "latency_ms": float(1 + (i % 10)),
            "inputs": {"x": float(x[i]), "city": str(c[i])},
            "outputs": {"prediction": int(p[i] > 0.5), "proba": {"0": float(1 - p[i]), "1": float(p[i])}},
        })
    return out


@pytest.fixture
def log_predictions(clocked_yard: my.Yard, clock: FixedClock) -> Callable[..., list[str]]:
    """``log_predictions(n, **records_kwargs)``: log records at the clock's time; returns ids."""

    def log(n: int, **kwargs: Any) -> list[str]:
        ids = clocked_yard.predictions.log(records(n, **kwargs))
        clock.advance(1)
        return ids

    return log


def true_labels(yard: my.Yard, ids: list[str], *, seed: int = 1) -> list[int]:
    """Labels drawn from each prediction's own probability (so the model is calibrated)."""
    rng = np.random.default_rng(seed)
    frame = yard.predictions.query("loans", T0.replace(year=2020), T0.replace(year=2030))
    proba = dict(zip(frame["id"].to_list(), frame["output.proba.1"].to_list()))
    return [int(rng.random() < proba[i]) for i in ids]


class Receiver:
    """A loopback HTTP server for webhooks: answers with ``statuses`` in turn (then 200);
    with ``hold``, the first ``hold`` requests wait for :meth:`release` before answering.
    Records each request's headers and JSON body."""

    def __init__(self, statuses: list[int] | None = None, *, hold: int = 0) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.hold = hold
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                with receiver._lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    held = len(receiver.requests) <= receiver.hold
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if held:
                    receiver._released.wait(60)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client is gone (a killed process)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for _, b in self.requests]

    @property
    def keys(self) -> list[str | None]:
        with self._lock:
            return [h.get("idempotency-key") for h, _ in self.requests]

    def wait_for(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The bodies once at least ``n`` requests have arrived (fails after ``timeout``)."""
        wait_until(lambda: len(self.bodies) >= n, timeout, f"{n} webhook requests")
        return self.bodies

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (returned), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None, *, hold: int = 0) -> Receiver:
        r = Receiver(statuses, hold=hold)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
