"""Micro-batching: the one place between the transports and the models where concurrent
requests for the same model are gathered into one ``predict`` call.

Requests that arrive in the same event-loop turn are stacked (when every one is a float
matrix) and predicted together; each request gets its own slice of the result. When the
stacked call fails, each request is predicted alone, so one bad request fails only itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from .models import ModelHandle, Prepared

__all__ = ["MicroBatcher"]

log = logging.getLogger("modelyard.serving")


class MicroBatcher:
    """Pending requests per model handle, flushed once per event-loop turn."""

    def __init__(self) -> None:
        self._pending: dict[ModelHandle, list[tuple[Prepared, asyncio.Future[Any]]]] = {}

    def submit(self, handle: ModelHandle, prepared: Prepared) -> asyncio.Future[Any]:
        """Predict ``prepared`` with ``handle`` together with whatever else is submitted for
        it in this loop turn; the future gives ``(predictions, proba)`` or raises the model's
        error."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        pending = self._pending.get(handle)
        if pending is None:
            self._pending[handle] = [(prepared, fut)]
            loop.call_soon(self._flush, handle)
        else:
            pending.append((prepared, fut))
        return fut

    def _flush(self, handle: ModelHandle) -> None:
        batch = self._pending.pop(handle, [])
        if len(batch) > 1 and all(isinstance(p.x, np.ndarray) for p, _ in batch):
            try:
                preds, proba = handle.run(np.concatenate([p.x for p, _ in batch]))
            except Exception as exc:  # noqa: BLE001 - find the request that fails, alone
                log.debug("batch of %d failed (%s); predicting one by one", len(batch), exc)
            else:
                start = 0
                for p, fut in batch:
                    end = start + p.n
                    if not fut.done():
                        fut.set_result((preds[start:end],
                                        None if proba is None else proba[start:end]))
                    start = end
                return
        for p, fut in batch:
            try:
                result = handle.run(p.x)
            except Exception as exc:  # noqa: BLE001 - the caller answers 500 with an error id
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)
