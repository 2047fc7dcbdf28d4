"""Identifiers: time-ordered UUIDv7 for everything that is logged."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import uuid_utils

__all__ = ["new_id", "uuid7_time"]


def new_id() -> str:
    """A UUIDv7 as a 32-char lowercase hex string; sorts by creation time."""
    return uuid_utils.uuid7().hex


def uuid7_time(value: str) -> datetime:
    """The creation time encoded in a UUIDv7 (hex or dashed form)."""
    u = uuid.UUID(value)
    if u.version != 7:
        from .errors import InvalidParameter

        raise InvalidParameter(f"Expected a UUIDv7 id. Got version {u.version}: {value!r}.")
    ms = u.int >> 80
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
