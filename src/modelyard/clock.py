"""Time, injected: every component takes a ``Clock`` so tests control it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["Clock", "SystemClock", "FixedClock", "utcnow", "to_utc", "parse_time"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def millis(self) -> int:
        """The current time in epoch milliseconds."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def millis(self) -> int:
        return time.time_ns() // 1_000_000


class FixedClock:
    """A clock that only moves when told to (``advance``); for tests and backfills."""

    def __init__(self, start: datetime) -> None:
        self.current = to_utc(start)

    def now(self) -> datetime:
        return self.current

    def millis(self) -> int:
        return int(self.current.timestamp() * 1000)

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.current = self.current + timedelta(seconds=seconds)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_time(value: str | datetime | int | float, *, field: str = "time") -> datetime:
    """Parse an ISO-8601 string, a datetime or epoch seconds into an aware UTC datetime."""
    from .errors import InvalidParameter

    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            return to_utc(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise InvalidParameter(
        f"{field} must be an ISO-8601 date or time such as '2026-03-01' or "
        f"'2026-03-01T12:00:00Z'. Got {value!r} instead.",
        field=field,
    )
