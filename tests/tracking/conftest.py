"""Fixtures of the tracking tests: a yard on each backend whose clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.config import Settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def tyard(db_url: str, tmp_path: Path, settings: Settings, clock: FixedClock) -> Iterator[my.Yard]:
    """A yard on SQLite and PostgreSQL whose clock only moves when the test says so."""
    y = my.connect(db_url, artifacts=str(tmp_path / "artifacts"), settings=settings, clock=clock)
    yield y
    y.close()
