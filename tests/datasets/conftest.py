"""Fixtures of the datasets tests: a yard on each backend with a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

import modelyard as my
from modelyard.clock import FixedClock

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def clock(fixed_clock: FixedClock) -> FixedClock:
    assert fixed_clock.now() == T0
    return fixed_clock


@pytest.fixture
def dyard(clocked_yard: my.Yard) -> my.Yard:
    """A yard on SQLite and PostgreSQL whose clock only moves when the test says so."""
    return clocked_yard


@pytest.fixture
def small_fragments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups of 64 rows and fragments of 256, so small data spans several of each."""
    from modelyard.datasets import snapshot

    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 64)
    monkeypatch.setattr(snapshot, "FRAGMENT_ROWS", 256)


@pytest.fixture
def make_loans() -> Callable[..., pd.DataFrame]:
    """``make_loans(n, seed, start)``: a small loans table (event time, a number, an integer,
    a category, a flag)."""
    return loans


def loans(n: int = 200, seed: int = 0, start: str = "2026-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=n, freq="h", tz="UTC"),
            "amount": rng.lognormal(8, 1, n).round(2),
            "term": rng.choice([12, 24, 36, 60], n),
            "grade": rng.choice(["A", "B", "C", "D"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "defaulted": rng.random(n) < 0.2,
        }
    )
