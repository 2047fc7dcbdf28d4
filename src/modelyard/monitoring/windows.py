"""Durations ("15m", "1h", "1d", "2w") and the time windows monitors read."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock, parse_time
from ..errors import InvalidParameter

__all__ = ["format_duration", "parse_duration", "resolve_window"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|wk)\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400,
         "days": 86400, "w": 604800, "wk": 604800}


def parse_duration(value: str | float | timedelta, *, field: str = "window") -> timedelta:
    """``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"2w"``, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise InvalidParameter(
                f"{field} must be a duration such as '15m', '1h', '1d' or '2w'. Got {value!r} "
                "instead.", field=field)
        seconds = float(m.group(1)) * _UNIT[m.group(2).lower()]
    if seconds < 0:
        raise InvalidParameter(f"{field} must not be negative. Got {value!r} instead.", field=field)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def resolve_window(
    clock: Clock, *, start: Any = None, end: Any = None, window: Any = "1d"
) -> tuple[datetime, datetime]:
    """``[start, end]``: given both, or ``end`` (default now) minus ``window``, or ``start``
    plus ``window``."""
    if start is not None and end is not None:
        s, e = parse_time(start, field="start"), parse_time(end, field="end")
    elif start is not None:
        s = parse_time(start, field="start")
        e = s + parse_duration(window)
    else:
        e = parse_time(end, field="end") if end is not None else clock.now()
        s = e - parse_duration(window)
    if e < s:
        raise InvalidParameter(
            f"end must not be before start. Got start={s.isoformat()}, end={e.isoformat()}.",
            field="end")
    return s, e
