"""Micro-batching: the one place between the transports and the models where concurrent
requests for the same model are gathered into one ``predict`` call.

Each model handle has a queue. A request joins the queue of its route's model; the queue's
task takes the oldest request, waits for more until ``max_delay_ms`` after *that request's*
arrival (a timeout that shrinks as the batch waits, as in Ray Serve) or until
``max_batch_rows`` rows are queued, and predicts the batch in one call: requests are taken in
arrival order (never newest first, which starved old requests in BentoML #4592) and counted
in rows, not requests (#3710); a request that does not fit waits at the head for the next
batch, and one larger than ``max_batch_rows`` is predicted alone. Each request gets its own
slice of the result (the model must return one prediction per row, checked), so it keeps its
own prediction ids, log records, latency and errors. When the batched call raises, each
request is predicted alone, so a bad row fails only its own request. A request cancelled
while it waits (its client went away) is left out of the batch, and the queue never waits on
a request's future, so a cancellation cannot hang a batch (Ray #41057).

The policy of an endpoint (:class:`BatchPolicy`, from its ``batching`` setting):

- not set: *automatic* for flavors that vectorise (scikit-learn, XGBoost, LightGBM, ONNX,
  PyTorch): requests that arrived in the same turn of the event loop are predicted together,
  without waiting (``max_delay_ms`` 0);
- ``batching: {max_delay_ms: 2, max_batch_rows: 256}`` (or ``true``): wait as above;
- ``batching: false``: every request is predicted alone.

Only requests whose checked inputs have the same form are stacked: float matrices (numeric
signatures) are concatenated; data frames with the same columns and dtypes are concatenated.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .endpoints import BatchingConfig
from .models import ModelHandle, Prepared

__all__ = ["VECTORISING_FLAVORS", "BatchPolicy", "MicroBatcher", "policy_for"]

log = logging.getLogger("modelyard.serving")

VECTORISING_FLAVORS = frozenset({"sklearn", "xgboost", "lightgbm", "onnx", "pytorch"})


@dataclass(frozen=True)
class BatchPolicy:
    """How requests for one model are gathered: ``enabled`` False predicts each alone;
    ``automatic`` batches only flavors that vectorise (see the module docstring)."""

    enabled: bool = True
    max_delay_ms: float = 0.0
    max_batch_rows: int = 256
    automatic: bool = True

    def applies_to(self, handle: ModelHandle) -> bool:
        return self.enabled and (not self.automatic or handle.flavor in VECTORISING_FLAVORS)


AUTOMATIC = BatchPolicy()
ALONE = BatchPolicy(enabled=False)


def policy_for(batching: BatchingConfig | bool | None) -> BatchPolicy:
    """The policy of an endpoint's ``batching`` setting (see the module docstring)."""
    if batching is None:
        return AUTOMATIC
    if batching is False:
        return ALONE
    cfg = BatchingConfig() if batching is True else batching
    return BatchPolicy(max_delay_ms=cfg.max_delay_ms, max_batch_rows=cfg.max_batch_rows,
                       automatic=False)


class _Item:
    __slots__ = ("arrived", "future", "prepared")

    def __init__(self, prepared: Prepared, future: asyncio.Future[Any], arrived: float) -> None:
        self.prepared = prepared
        self.future = future
        self.arrived = arrived


class _Queue:
    """The waiting requests of one model handle and the task that predicts them."""

    def __init__(self, handle: ModelHandle, policy: BatchPolicy, observe: Any) -> None:
        self.handle = handle
        self.policy = policy
        self.observe = observe  # a histogram of rows per call, or None
        self.items: deque[_Item] = deque()
        self.rows = 0
        self.task: asyncio.Task[None] | None = None
        self.full: asyncio.Future[None] | None = None  # set when max_batch_rows are queued

    def add(self, item: _Item) -> None:
        self.items.append(item)
        self.rows += item.prepared.n
        full = self.full
        if full is not None and not full.done() and self.rows >= self.policy.max_batch_rows:
            full.set_result(None)

    async def wait_for_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Until the oldest request has waited ``max_delay_ms`` or a batch is full."""
        policy = self.policy
        if policy.max_delay_ms <= 0 or not self.items:
            return
        deadline = self.items[0].arrived + policy.max_delay_ms / 1000.0
        while self.rows < policy.max_batch_rows and loop.time() < deadline:
            full = self.full = loop.create_future()
            timer = loop.call_at(deadline, _wake, full)
            try:
                await full
            finally:
                timer.cancel()
                self.full = None

    def take(self) -> list[_Item]:
        """The oldest requests that fit in ``max_batch_rows`` (at least one), cancelled ones
        left out."""
        batch: list[_Item] = []
        rows = 0
        limit = self.policy.max_batch_rows
        while self.items:
            item = self.items[0]
            if item.future.done():  # cancelled while it waited
                self.items.popleft()
                self.rows -= item.prepared.n
                continue
            if batch and rows + item.prepared.n > limit:
                break
            self.items.popleft()
            self.rows -= item.prepared.n
            batch.append(item)
            rows += item.prepared.n
        return batch


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class MicroBatcher:
    """Queues of pending requests per model handle (see the module docstring)."""

    def __init__(self) -> None:
        self._queues: dict[ModelHandle, _Queue] = {}

    def submit(self, handle: ModelHandle, prepared: Prepared, policy: BatchPolicy = AUTOMATIC,
               observe: Any = None) -> asyncio.Future[Any]:
        """Predict ``prepared`` with ``handle`` together with other requests for it, as
        ``policy`` says; the future gives ``(predictions, proba)`` for ``prepared``'s rows or
        raises the model's error. ``observe``: a histogram of rows per model call."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not policy.applies_to(handle):
            if observe is not None:
                observe.observe(prepared.n)
            _settle(fut, handle, prepared)
            return fut
        queue = self._queues.get(handle)
        if queue is None:
            queue = self._queues[handle] = _Queue(handle, policy, observe)
        else:
            queue.policy, queue.observe = policy, observe  # the endpoint's latest setting
        queue.add(_Item(prepared, fut, loop.time()))
        if queue.task is None:
            queue.task = loop.create_task(self._drain(queue))
        return fut

    async def _drain(self, queue: _Queue) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Item] = []
        try:
            while queue.items:
                await queue.wait_for_batch(loop)
                batch = queue.take()
                if batch:
                    _predict(queue.handle, batch, queue.observe)
                batch = []
        except BaseException as exc:  # cancelled on shutdown, or a bug: fail, never hang
            for item in [*batch, *queue.items]:
                if not item.future.done():
                    item.future.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError("server stopping"))
            queue.items.clear()
            queue.rows = 0
            raise
        finally:
            queue.task = None
            if not queue.items and self._queues.get(queue.handle) is queue:
                del self._queues[queue.handle]


def _stack(items: list[_Item]) -> Any:
    """The inputs of ``items`` as one matrix or frame, or None when their forms differ."""
    xs = [i.prepared.x for i in items]
    first = xs[0]
    if isinstance(first, np.ndarray):
        if all(isinstance(x, np.ndarray) and x.shape[1:] == first.shape[1:] for x in xs):
            return np.concatenate(xs)
        return None
    if isinstance(first, pd.DataFrame):
        dtypes = first.dtypes
        if all(isinstance(x, pd.DataFrame) and x.columns.equals(first.columns)
               and x.dtypes.equals(dtypes) for x in xs):
            return pd.concat(xs, ignore_index=True)
    return None


def _predict(handle: ModelHandle, batch: list[_Item], observe: Any) -> None:
    if len(batch) > 1:
        x = _stack(batch)
        if x is not None:
            rows = sum(i.prepared.n for i in batch)
            try:
                preds, proba = handle.run(x)
                if len(preds) != rows or (proba is not None and len(proba) != rows):
                    raise ValueError(f"the model returned {len(preds)} predictions for "
                                     f"{rows} rows")
            except Exception as exc:  # noqa: BLE001 - find the request that fails, alone
                log.debug("batch of %d requests failed (%s); predicting each alone",
                          len(batch), exc)
            else:
                if observe is not None:
                    observe.observe(rows)
                start = 0
                for item in batch:
                    end = start + item.prepared.n
                    if not item.future.done():
                        item.future.set_result(
                            (preds[start:end], None if proba is None else proba[start:end]))
                    start = end
                return
    for item in batch:
        if observe is not None:
            observe.observe(item.prepared.n)
        _settle(item.future, handle, item.prepared)


def _settle(fut: asyncio.Future[Any], handle: ModelHandle, prepared: Prepared) -> None:
    try:
        result = handle.run(prepared.x)
    except Exception as exc:  # noqa: BLE001 - the caller answers 500 with an error id
        if not fut.done():
            fut.set_exception(exc)
    else:
        if not fut.done():
            fut.set_result(result)
