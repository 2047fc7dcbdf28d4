"""Writes that collide with a concurrent one are retried, never answered with a 500.

PostgreSQL aborts one of two transactions that deadlock (SQLSTATE ``40P01``) and, under
SERIALIZABLE/REPEATABLE READ, one that cannot be serialized (``40001``). The aborted
transaction was rolled back entirely, so running the same unit of work again is safe:
:class:`~modelyard.store.database.Database` turns those errors into
:class:`~modelyard.errors.WriteConflict`, and :func:`retry_on_conflict` re-runs a function that
raised it a few times with jittered exponential backoff. Every ``@endpoint`` that writes is
wrapped by it (``transport.endpoint``); what is still conflicting after the last attempt
reaches the caller as ``WriteConflict`` (HTTP 409), never as a 500.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from ..errors import WriteConflict

__all__ = ["ATTEMPTS", "TRANSIENT_SQLSTATES", "is_transient", "retry_on_conflict"]

TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
ATTEMPTS = 4
_BASE_DELAY = 0.05
_MAX_DELAY = 1.0
_retrying: ContextVar[bool] = ContextVar("modelyard_retrying", default=False)
F = TypeVar("F", bound=Callable[..., Any])


def is_transient(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure, raised by the driver itself or wrapped by
    SQLAlchemy."""
    for err in (exc, getattr(exc, "orig", None)):
        if err is not None and getattr(err, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
    return False


def retry_on_conflict(fn: F) -> F:
    """Run ``fn`` again (up to :data:`ATTEMPTS` times in all) while it raises
    :class:`WriteConflict`, sleeping a random time up to 50 ms, 100 ms, 200 ms … in between.
    A call made inside another retried call is not retried on its own: the outer one re-runs
    the whole unit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _retrying.get():
            return fn(*args, **kwargs)
        token = _retrying.set(True)
        try:
            for attempt in range(ATTEMPTS):
                try:
                    return fn(*args, **kwargs)
                except WriteConflict as exc:
                    if attempt == ATTEMPTS - 1:
                        raise WriteConflict(f"{exc.message} Tried {ATTEMPTS} times.",
                                            field=exc.field) from exc
                    time.sleep(random.uniform(0, min(_MAX_DELAY, _BASE_DELAY * 2**attempt)))
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            _retrying.reset(token)

    return wrapper  # type: ignore[return-value]
