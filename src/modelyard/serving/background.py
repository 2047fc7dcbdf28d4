"""The background work of a model server: tasks kept referenced until they finish (asyncio
only keeps weak references) and cancelled together on shutdown, and bookkeeping writes that
must never break serving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Background", "quietly"]

log = logging.getLogger("modelyard.serving")


class Background:
    """A set of running tasks."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any] | asyncio.Future[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> None:
        for t in list(self._tasks):
            t.cancel()


def quietly(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or None with a warning when it raises (bookkeeping, never serving)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not break serving
        log.warning("serving bookkeeping failed: %s", exc)
        return None
