"""The write-ahead log of the prediction log, with group commit.

One :class:`WalWriter` per process. Requests hand it framed records; a writer thread takes
whatever is queued, writes it with one ``write`` and, in durable mode, one ``fdatasync``, then
wakes every request of that batch. Many concurrent requests thus share one fsync, and a request
is answered only once its records are on disk. The writer may have several such threads
(``lanes``, default 1), each with its own open segment: records that arrive while one lane
waits for its fsync are then taken at once by an idle lane instead of waiting for the next
round, which helps on disks that overlap concurrent flushes (on this project's shared virtual
disk it measured no different, hence the default).

With ``durability="async"`` requests do not wait; the thread still writes at once and syncs
the file every ``sync_interval`` seconds.

A segment is sealed (renamed ``.open`` -> ``.sealed``) when it passes ``seal_bytes`` or gets
older than ``seal_seconds``; the compactor turns sealed segments into Parquet. While a segment
is open its writer holds an exclusive ``flock`` on it, so a compactor can tell the segment of a
live writer from one left by a process that died (which it seals and compacts).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter
from ..ids import new_id
from .segments import OPEN, SEALED, fsync_dir, try_lock

__all__ = ["LogUnavailable", "WalWriter"]

DURABILITY = ("durable", "async")


class LogUnavailable(RuntimeError):
    """The prediction log could not be written (disk full, closed writer …)."""


class _SyncWaiter:
    __slots__ = ("error", "event")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: BaseException | None = None


class WalWriter:
    """Appends framed records to a segment in ``directory``; see the module docstring.

    directory: the segment folder (``segments.wal_dir(settings.resolved_prediction_log_dir)``).
    durability: ``"durable"`` (wait for fsync) or ``"async"``.
    seal_bytes / seal_seconds: when an open segment is sealed.
    lanes: writer threads, each with its own open segment (see the module docstring).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        durability: str = "durable",
        seal_bytes: int = 64 << 20,
        seal_seconds: float = 300.0,
        sync_interval: float = 1.0,
        lanes: int = 1,
    ) -> None:
        if durability not in DURABILITY:
            raise InvalidParameter(
                f"durability must be one of {list(DURABILITY)}. Got {durability!r} instead.",
                field="durability",
            )
        self.directory = Path(directory)
        self.durability = durability
        self.seal_bytes = seal_bytes
        self.seal_seconds = seal_seconds
        self.sync_interval = sync_interval
        self.lanes = max(1, int(lanes))
        self.records_written = 0
        self.batches_written = 0
        self.fsyncs = 0
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[bytes] = []
        self._pending_count = 0
        self._waiters: list[Any] = []
        self._closing = False
        self._lanes: list[_Lane] = []
        self._error: BaseException | None = None
        self._turn_frames: list[bytes] = []
        self._turn_waiters: list[asyncio.Future[None]] = []
        self._turn_scheduled = False

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> WalWriter:
        if self._lanes:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        for i in range(self.lanes):
            lane = _Lane()
            self._open_segment(lane)
            lane.thread = threading.Thread(target=self._run, args=(lane,),
                                           name=f"modelyard-wal-{i}", daemon=True)
            self._lanes.append(lane)
        for lane in self._lanes:
            assert lane.thread is not None
            lane.thread.start()
        return self

    def close(self) -> None:
        """Write what is queued, sync and seal the open segments, stop the threads."""
        if not self._lanes:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for lane in self._lanes:
            assert lane.thread is not None
            lane.thread.join()
        self._lanes = []

    @property
    def _thread(self) -> threading.Thread | None:
        return self._lanes[0].thread if self._lanes else None

    @property
    def segment_path(self) -> Path | None:
        """The open segment of the first lane."""
        return self._lanes[0].path if self._lanes else None

    @property
    def segment_paths(self) -> list[Path]:
        return [lane.path for lane in self._lanes if lane.path is not None]

    # ---- appending ------------------------------------------------------------------------
    def append(self, frames: Sequence[bytes]) -> None:
        """Queue frames without waiting (``durability="async"`` requests, shadow records)."""
        self._enqueue(frames, None)

    def append_wait(self, frames: Sequence[bytes]) -> asyncio.Future[None] | None:
        """Queue frames; in durable mode return a future of the running loop that completes
        once they are fsync'd (None in async mode: nothing to wait for)."""
        if self.durability != "durable":
            self._enqueue(frames, None)
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        # Hand the writer thread everything queued in this turn of the loop at once: one
        # lock round-trip and one wake-up per turn, and all of it in the same fsync.
        self._turn_frames.extend(frames)
        self._turn_waiters.append(fut)
        if not self._turn_scheduled:
            self._turn_scheduled = True
            loop.call_soon(self._hand_off)
        return fut

    def _hand_off(self) -> None:
        frames, self._turn_frames = self._turn_frames, []
        waiters, self._turn_waiters = self._turn_waiters, []
        self._turn_scheduled = False
        try:
            self._enqueue_many(frames, waiters)
        except LogUnavailable as exc:
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)

    def append_sync(self, frames: Sequence[bytes], timeout: float = 30.0) -> None:
        """Queue frames and block until they are on disk (for threads and scripts)."""
        waiter = _SyncWaiter()
        self._enqueue(frames, waiter)
        if not waiter.event.wait(timeout):
            raise LogUnavailable(f"The prediction log did not confirm a write within {timeout} s.")
        if waiter.error is not None:
            raise LogUnavailable(f"The prediction log could not be written: {waiter.error}")

    def seal(self) -> None:
        """Seal the open segments now (after what is queued) and start new ones."""
        waiters = []
        with self._cond:
            for lane in self._lanes:
                lane.seal_waiter = _SyncWaiter()
                waiters.append(lane.seal_waiter)
            self._cond.notify_all()
        for w in waiters:
            w.event.wait(30.0)

    def _enqueue(self, frames: Sequence[bytes], waiter: Any) -> None:
        self._enqueue_many(frames, [waiter] if waiter is not None else [])

    def _enqueue_many(self, frames: Sequence[bytes], waiters: list[Any]) -> None:
        if not self._lanes or self._closing:
            raise LogUnavailable("The prediction log writer is not running.")
        if self._error is not None:
            raise LogUnavailable(f"The prediction log could not be written: {self._error}")
        with self._cond:
            self._pending.extend(frames)
            self._pending_count += len(frames)
            self._waiters.extend(waiters)
            self._cond.notify()

    # ---- the writer threads ---------------------------------------------------------------
    def _run(self, lane: _Lane) -> None:
        tick = min(1.0, self.sync_interval, self.seal_seconds)
        while True:
            with self._cond:
                if not self._pending and not self._waiters and not self._closing \
                        and lane.seal_waiter is None:
                    self._cond.wait(tick)
                frames, self._pending = self._pending, []
                count, self._pending_count = self._pending_count, 0
                waiters, self._waiters = self._waiters, []
                closing = self._closing and not frames
                seal_waiter, lane.seal_waiter = lane.seal_waiter, None
            error: BaseException | None = None
            try:
                if frames:
                    self._write(lane, b"".join(frames))
                now = time.monotonic()
                if lane.dirty and (
                    waiters or self.durability == "durable"
                    or now - lane.last_sync >= self.sync_interval or closing
                ):
                    os.fdatasync(lane.fd)
                    lane.dirty = False
                    lane.last_sync = now
                    with self._cond:
                        self.fsyncs += 1
                if frames:
                    with self._cond:
                        self.records_written += count
                        self.batches_written += 1
                if closing:
                    self._seal(lane, reopen=False)
                elif seal_waiter is not None or lane.segment_bytes >= self.seal_bytes or (
                    lane.segment_bytes and now - lane.started >= self.seal_seconds
                ):
                    self._seal(lane, reopen=True)
            except OSError as exc:  # disk full, I/O error: fail the waiting requests
                error = exc
                self._error = exc
            _resolve(waiters + ([seal_waiter] if seal_waiter is not None else []), error)
            if closing:
                return

    def _write(self, lane: _Lane, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(lane.fd, view)
            view = view[n:]
        lane.segment_bytes += len(data)
        lane.dirty = True

    def _open_segment(self, lane: _Lane) -> None:
        segment_id = new_id()
        tmp = self.directory / f".{segment_id}.new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try_lock(fd)  # a fresh file: nobody else can hold it
        final = self.directory / f"{segment_id}{OPEN}"
        os.replace(tmp, final)
        fsync_dir(self.directory)
        lane.fd = fd
        lane.path = final
        lane.segment_bytes = 0
        lane.started = time.monotonic()
        lane.last_sync = lane.started

    def _seal(self, lane: _Lane, *, reopen: bool) -> None:
        if lane.fd < 0 or lane.path is None:
            return
        if lane.dirty:
            os.fdatasync(lane.fd)
            lane.dirty = False
        path = lane.path
        if lane.segment_bytes:
            os.replace(path, path.with_suffix(SEALED))
        else:
            os.unlink(path)
        fsync_dir(self.directory)
        os.close(lane.fd)  # releases the lock
        lane.fd = -1
        lane.path = None
        if reopen:
            self._open_segment(lane)


class _Lane:
    """One writer thread and its open segment."""

    __slots__ = (
        "dirty",
        "fd",
        "last_sync",
        "path",
        "seal_waiter",
        "segment_bytes",
        "started",
        "thread",
    )

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.fd = -1
        self.path: Path | None = None
        self.segment_bytes = 0
        self.started = 0.0
        self.last_sync = 0.0
        self.dirty = False
        self.seal_waiter: _SyncWaiter | None = None


def _resolve(waiters: list[Any], error: BaseException | None) -> None:
    by_loop: dict[int, tuple[asyncio.AbstractEventLoop, list[asyncio.Future[None]]]] = {}
    for w in waiters:
        if isinstance(w, _SyncWaiter):
            w.error = error
            w.event.set()
        else:
            loop = w.get_loop()
            by_loop.setdefault(id(loop), (loop, []))[1].append(w)
    for loop, futures in by_loop.values():
        try:
            loop.call_soon_threadsafe(_complete, futures, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _complete(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for fut in futures:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(LogUnavailable(f"The prediction log could not be written: {error}"))
