"""Helpers of the monitoring tests: a yard with a controlled clock and a prediction-log writer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
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
