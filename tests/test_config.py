"""Settings come from explicit arguments, then the given environment, then defaults."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from modelyard.clock import FixedClock, parse_time
from modelyard.config import Settings
from modelyard.errors import InvalidParameter
from modelyard.ids import new_id, uuid7_time


def test_environ_is_read_only_when_given() -> None:
    s = Settings.load({"MODELYARD_HOME": "/tmp/yard-x", "MODELYARD_TOKEN": "t"})
    assert s.home == Path("/tmp/yard-x")
    assert s.token == "t"
    assert s.resolved_database_url == "sqlite:////tmp/yard-x/modelyard.db"


def test_overrides_beat_environ() -> None:
    s = Settings.load({"MODELYARD_HOME": "/tmp/a"}, home=Path("/tmp/b"))
    assert s.home == Path("/tmp/b")


def test_parse_time_accepts_dates_and_rejects_garbage() -> None:
    assert parse_time("2026-03-01") == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert parse_time("2026-03-01T12:00:00Z").hour == 12
    with pytest.raises(InvalidParameter, match="ISO-8601"):
        parse_time("yesterday-ish", field="as_of")


def test_ids_are_time_ordered_uuid7() -> None:
    a, b = new_id(), new_id()
    assert a < b and len(a) == 32
    assert abs((uuid7_time(a) - datetime.now(timezone.utc)).total_seconds()) < 60


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 1))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock.advance(60)
    assert clock.millis() == int(datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc).timestamp() * 1000)
