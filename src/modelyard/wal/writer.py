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
live writer from one left by a process that died (which it seals and compacts). Before the
frames of an endpoint not yet in the segment are written, the segment's index is updated
(see ``segments``).

A write or fsync error never acknowledges a record whose bytes are not durable. After an
error the segment is cut back to its durable length and retired (sealed as far as the disk
allows) — after a failed fsync the kernel may have dropped the dirty pages and a second fsync
of the same file could falsely succeed — and the batch is written once more to a new segment.
Only when that fails too are the batch's requests failed (``LogUnavailable``: the server
answers 503). Each later batch tries the disk again, and while nothing comes the writer probes
it every ``retry_interval`` seconds (a padding frame, synced), so it recovers by itself when
space returns; ``error``/``status()`` say whether the disk refuses writes now.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from ..errors import InvalidParameter
from ..ids import new_id
from .metrics import WalMetrics
from .segments import HEADER, INDEX, OPEN, PADDING, SEALED, fsync_dir, try_lock, write_index

__all__ = ["LogUnavailable", "WalWriter"]

DURABILITY = ("durable", "async")
_MINUTE_US = 60_000_000
log = logging.getLogger("modelyard.wal")


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
    retry_interval: how often a writer whose disk refused a write probes it again.
    metrics: Prometheus metrics to keep (write errors, whether the log is writable).
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
        retry_interval: float = 0.5,
        metrics: WalMetrics | None = None,
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
        self.retry_interval = retry_interval
        self.metrics = metrics
        self.records_written = 0
        self.batches_written = 0
        self.fsyncs = 0
        self.write_errors = 0
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[bytes] = []
        self._pending_count = 0
        self._waiters: list[Any] = []
        self._closing = False
        self._lanes: list[_Lane] = []
        self._error: OSError | None = None
        self._error_since: float | None = None
        self._last_probe = 0.0
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
            try:
                self._open_segment(lane)
            except OSError as exc:  # a full disk at start: serve 503 until it takes writes
                self._count_error(exc, lane)
                self._failed(exc)
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
                    self._cond.wait(self.retry_interval if self._error is not None else tick)
                frames, self._pending = self._pending, []
                count, self._pending_count = self._pending_count, 0
                waiters, self._waiters = self._waiters, []
                closing = self._closing and not frames
                seal_waiter, lane.seal_waiter = lane.seal_waiter, None
            error: BaseException | None = None
            now = time.monotonic()
            try:
                if frames:
                    self._commit(lane, frames)
                if lane.dirty and (waiters or now - lane.last_sync >= self.sync_interval
                                   or closing):
                    self._sync_async(lane)
            except OSError as exc:  # the disk refused twice: fail this batch's requests
                error = exc
                self._failed(exc)
            if frames and error is None:
                with self._cond:
                    self.records_written += count
                    self.batches_written += 1
            _resolve(waiters, error)
            seal_error: BaseException | None = None
            try:
                if closing:
                    self._seal(lane, reopen=False)
                elif seal_waiter is not None or lane.segment_bytes >= self.seal_bytes or (
                    lane.segment_bytes and now - lane.started >= self.seal_seconds
                ):
                    self._seal(lane, reopen=True)
                elif self._error is not None and not frames:
                    self._probe(lane)
            except OSError as exc:  # the records are durable; the next segment is not there
                seal_error = exc
                self._failed(exc)
            if seal_waiter is not None:
                _resolve([seal_waiter], seal_error)
            if closing:
                return

    def _commit(self, lane: _Lane, frames: list[bytes]) -> None:
        """Write ``frames`` to the lane's segment, durably in durable mode. On an error the
        segment is cut back to what was written before and retired, and the frames are
        written once more to a new segment; the second error is raised."""
        data = b"".join(frames)
        ranges = _ranges(frames)
        for attempt in (1, 2):
            before = lane.segment_bytes
            try:
                if lane.fd < 0:
                    self._open_segment(lane)
                    before = 0
                self._note(lane, ranges)
                self._write(lane, data)
                if self.durability == "durable":
                    self._fdatasync(lane)
                self._succeeded()
                return
            except OSError as exc:
                self._count_error(exc, lane)
                self._retire(lane, keep=before)
                if attempt == 2:
                    raise

    def _sync_async(self, lane: _Lane) -> None:
        """The periodic sync of async mode: on an error the segment keeps what it has (those
        requests were answered already) and is retired; the next batch goes to a new one."""
        try:
            self._fdatasync(lane)
        except OSError as exc:
            self._count_error(exc, lane)
            self._retire(lane, keep=lane.segment_bytes)
            raise

    def _probe(self, lane: _Lane) -> None:
        """While the disk refuses, check every ``retry_interval`` whether it takes a write
        again (a padding frame, synced), so the writer recovers with no traffic at all."""
        if time.monotonic() - self._last_probe < self.retry_interval:
            return
        self._last_probe = time.monotonic()
        try:
            if lane.fd < 0:
                self._open_segment(lane)
            self._write(lane, PADDING)
            self._fdatasync(lane)
        except OSError as exc:
            self._count_error(exc, lane)
            self._retire(lane, keep=lane.durable)
            return
        self._succeeded()

    def _fdatasync(self, lane: _Lane) -> None:
        t0 = time.perf_counter()
        os.fdatasync(lane.fd)
        if self.metrics is not None:
            self.metrics.fsync.observe(time.perf_counter() - t0)
        lane.dirty = False
        lane.durable = lane.segment_bytes
        lane.last_sync = time.monotonic()
        with self._cond:
            self.fsyncs += 1

    def _write(self, lane: _Lane, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(lane.fd, view)
            view = view[n:]
            lane.segment_bytes += n
            lane.dirty = True

    def _note(self, lane: _Lane, ranges: dict[int, tuple[int, int, bytes]]) -> None:
        """Keep the lane's time range per endpoint key; rewrite the segment's index before
        the frames are written when a key is new or earlier than its indexed minute."""
        stale = False
        for key, (lo, hi, frame) in ranges.items():
            cur = lane.keys.get(key)
            lane.keys[key] = (lo, hi) if cur is None else (min(cur[0], lo), max(cur[1], hi))
            if key not in lane.names:  # the name, from the first frame of a new endpoint
                lane.names[key] = str(orjson.loads(memoryview(frame)[HEADER.size:])["endpoint"])
            floor = lane.indexed.get(key)
            if floor is None or lo < floor:
                lane.indexed[key] = lo - lo % _MINUTE_US
                stale = True
        if stale:
            assert lane.path is not None
            write_index(self.directory, lane.path.stem,
                        {k: (v, None) for k, v in lane.indexed.items()}, names=lane.names)

    def _open_segment(self, lane: _Lane) -> None:
        segment_id = new_id()
        tmp = self.directory / f".{segment_id}.new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            try_lock(fd)  # a fresh file: nobody else can hold it
            final = self.directory / f"{segment_id}{OPEN}"
            os.replace(tmp, final)
            fsync_dir(self.directory)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            with contextlib.suppress(OSError):
                os.unlink(self.directory / f"{segment_id}{OPEN}")
            raise
        lane.fd = fd
        lane.path = final
        lane.segment_bytes = lane.durable = 0
        lane.keys = {}
        lane.indexed = {}
        lane.names = {}
        lane.dirty = False
        lane.started = time.monotonic()
        lane.last_sync = lane.started

    def _seal(self, lane: _Lane, *, reopen: bool) -> None:
        if lane.fd < 0 or lane.path is None:
            if reopen:
                self._open_segment(lane)
            return
        if lane.dirty:
            self._sync_async(lane)
        self._close_segment(lane, lane.segment_bytes)
        if reopen:
            self._open_segment(lane)

    def _close_segment(self, lane: _Lane, length: int) -> None:
        """Seal the lane's segment at ``length`` bytes (or drop it when empty) and close it;
        the lock goes with the descriptor."""
        path = lane.path
        assert path is not None
        try:
            if length:
                try:  # exact ranges and the durable length; on a full disk the open index
                    write_index(self.directory, path.stem, dict(lane.keys), length,  # stays
                                names=lane.names)
                except OSError:
                    pass
                os.replace(path, path.with_suffix(SEALED))
            else:
                os.unlink(path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / f"{path.stem}{INDEX}")
            fsync_dir(self.directory)
        finally:
            os.close(lane.fd)
            lane.fd = -1
            lane.path = None

    def _retire(self, lane: _Lane, *, keep: int) -> None:
        """After an error: cut the segment back to ``keep`` bytes (what is durable), seal it
        as far as the disk lets us and let go of it; the next write opens a new segment."""
        if lane.fd < 0:
            return
        with contextlib.suppress(OSError):
            if lane.segment_bytes > keep:
                os.ftruncate(lane.fd, keep)
                lane.segment_bytes = keep
        lane.dirty = False
        try:
            self._close_segment(lane, keep)
        except OSError:  # left as an open segment nobody holds: the compactor takes it
            pass

    # ---- health ---------------------------------------------------------------------------
    def _count_error(self, exc: OSError, lane: _Lane) -> None:
        with self._cond:
            self.write_errors += 1
        if self.metrics is not None:
            self.metrics.write_errors.labels(errno.errorcode.get(exc.errno or 0, "unknown")).inc()
        log.warning("prediction log write failed on %s: %s", lane.path, exc,
                    extra={"event": "wal_write_error", "path": str(lane.path),
                           "errno": exc.errno})

    def _failed(self, exc: OSError) -> None:
        if self._error is None:
            self._error_since = time.monotonic()
            log.error("the prediction log refuses writes (%s); requests get 503 until it takes "
                      "them again", exc, extra={"event": "wal_unavailable"})
        self._error = exc
        if self.metrics is not None:
            self.metrics.writable.set(0)

    def _succeeded(self) -> None:
        if self._error is not None:
            log.warning("the prediction log takes writes again", extra={"event": "wal_recovered"})
            self._error = None
            self._error_since = None
            if self.metrics is not None:
                self.metrics.writable.set(1)

    @property
    def error(self) -> str | None:
        """Why the last write failed while the disk still refuses writes, else None."""
        exc = self._error
        return None if exc is None else str(exc)

    def status(self) -> dict[str, Any]:
        """``{"writable": bool, "error": str | None, "failing_for_s": float | None,
        "write_errors": int}``: what ``/readyz`` reports about the log."""
        since = self._error_since
        return {"writable": self._error is None, "error": self.error,
                "failing_for_s": None if since is None else round(time.monotonic() - since, 3),
                "write_errors": self.write_errors}


class _Lane:
    """One writer thread and its open segment."""

    __slots__ = (
        "dirty",
        "durable",
        "fd",
        "indexed",
        "keys",
        "last_sync",
        "names",
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
        self.durable = 0  # bytes known to be on disk
        self.keys: dict[int, tuple[int, int]] = {}  # endpoint key -> (min, max) time
        self.indexed: dict[int, int] = {}  # endpoint key -> minimum written to the index
        self.names: dict[int, str] = {}  # endpoint key -> endpoint name
        self.started = 0.0
        self.last_sync = 0.0
        self.dirty = False
        self.seal_waiter: _SyncWaiter | None = None


def _ranges(frames: list[bytes]) -> dict[int, tuple[int, int, bytes]]:
    """Per endpoint key, the time range of a batch of frames (padding left out) and its
    first frame."""
    out: dict[int, tuple[int, int, bytes]] = {}
    unpack = HEADER.unpack_from
    for frame in frames:
        _magic, length, t, key, _crc = unpack(frame)
        if not length:
            continue
        cur = out.get(key)
        out[key] = (t, t, frame) if cur is None else (min(cur[0], t), max(cur[1], t), cur[2])
    return out


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
