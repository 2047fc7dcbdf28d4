"""The write-ahead segment format, shared by the writer, the compactor and the readers.

A segment is a file ``<dir>/<segment-id>.open`` (being written; its writer holds an exclusive
``flock`` on it) or ``<dir>/<segment-id>.sealed`` (complete, waiting for the compactor). It is
a sequence of frames, each one record as JSON behind a 24-byte little-endian header::

    magic  4 bytes  F5 A9 4C 47   where a frame starts (0xF5 never occurs in UTF-8 JSON)
    length u32      payload bytes
    time   i64      the record's time, epoch microseconds
    key    u32      crc32 of the endpoint name (lets a reader skip other endpoints' payloads)
    crc    u32      crc32 of length, time, key and the payload

A frame with an empty payload is padding (the writer's probe of a disk that refused a write);
readers skip it. A frame whose magic, length or crc does not check is skipped and the reader
resynchronises on the next magic that starts a good frame, so a torn or corrupt frame hides
nothing after it. What was skipped is reported (:class:`ScanReport`): the compactor
quarantines such a segment instead of deleting it.

Beside each segment its writer keeps a sidecar index ``<segment-id>.idx`` (JSON): per endpoint
key the time range of its records (``[min_us, max_us]``; ``max_us`` is null while the segment
is open: a live segment covers up to now) and the endpoint's name, and once sealed the
segment's durable ``length``.
Readers use it to open only the segments that can hold an endpoint and a time range; a segment
without a readable index is read whole.

A record payload holds ``id, time`` (epoch microseconds), ``endpoint, route, model_name,
model_version, inputs, outputs, latency_ms, shadow, request_key, request_id``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "HEADER",
    "INDEX",
    "MAGIC",
    "OPEN",
    "PADDING",
    "QUARANTINE",
    "SEALED",
    "ScanReport",
    "Segment",
    "SegmentIndex",
    "Skipped",
    "encode",
    "encode_record",
    "endpoint_key",
    "fsync_dir",
    "fsync_path",
    "iter_frames",
    "list_segments",
    "micros_to_datetime",
    "read_records",
    "read_segment",
    "try_lock",
    "wal_dir",
    "write_index",
]

OPEN = ".open"
SEALED = ".sealed"
INDEX = ".idx"
QUARANTINE = "quarantine"
MAGIC = b"\xf5\xa9LG"
HEADER = struct.Struct("<4sIqII")
_FIELDS = struct.Struct("<IqI")  # length, time, key: what the crc covers (with the payload)
_MAX_FRAME = 1 << 30
_NAME = re.compile(r"[0-9a-f]{32}")


def wal_dir(prediction_log_dir: str | os.PathLike[str]) -> Path:
    """Where the segments of a prediction-log folder live."""
    return Path(prediction_log_dir) / "wal"


def endpoint_key(endpoint: str) -> int:
    """The 32-bit key of an endpoint name in frame headers and segment indexes."""
    return zlib.crc32(endpoint.encode())


# ---- frames --------------------------------------------------------------------------------
def encode(payload: bytes, *, time_us: int, endpoint: str) -> bytes:
    """One frame around ``payload``, a record of ``endpoint`` at ``time_us``."""
    key = endpoint_key(endpoint)
    fields = _FIELDS.pack(len(payload), time_us, key)
    crc = zlib.crc32(payload, zlib.crc32(fields))
    return MAGIC + fields + struct.pack("<I", crc) + payload


def encode_record(record: dict[str, Any]) -> bytes:
    """The frame of one record (a dict with at least ``time`` and ``endpoint``)."""
    return encode(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY),
                  time_us=int(record["time"]), endpoint=str(record["endpoint"]))


PADDING = encode(b"", time_us=0, endpoint="")


@dataclass(frozen=True)
class Skipped:
    """Bytes of a segment a reader could not use: ``reason`` is ``corrupt`` (good frames
    follow) or ``tail`` (they run to the end: a torn last write or garbage)."""

    offset: int
    length: int
    reason: str


@dataclass
class ScanReport:
    """What reading one segment found."""

    size: int = 0
    frames: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.skipped

    @property
    def skipped_bytes(self) -> int:
        return sum(s.length for s in self.skipped)


def _good_at(data: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
    """``(length, time, key)`` when a whole, intact frame starts at ``pos``."""
    if pos + HEADER.size > end:
        return None
    magic, length, t, key, crc = HEADER.unpack_from(data, pos)
    start = pos + HEADER.size
    if magic != MAGIC or length > _MAX_FRAME or start + length > end:
        return None
    fields = zlib.crc32(memoryview(data)[pos + 4:pos + 20])
    if zlib.crc32(memoryview(data)[start:start + length], fields) != crc:
        return None
    return length, t, key


def _resync(data: bytes, pos: int, end: int) -> int:
    """The offset of the next good frame after ``pos`` (``end`` when there is none)."""
    nxt = data.find(MAGIC, pos + 1)
    while nxt != -1:
        if _good_at(data, nxt, end) is not None:
            return nxt
        nxt = data.find(MAGIC, nxt + 1)
    return end


def iter_frames(
    data: bytes,
    report: ScanReport | None = None,
    *,
    key: int | None = None,
    lo_us: int | None = None,
    hi_us: int | None = None,
) -> Iterator[tuple[int, bytes]]:
    """``(time_us, payload)`` of the good frames of ``data`` that match ``key`` (an
    :func:`endpoint_key`) and ``lo_us <= time <= hi_us``; padding is skipped. Bad bytes are
    skipped up to the next good frame and noted in ``report``. Only frames taken are checked
    against their crc (a frame passed over whose length is wrong shows as a bad magic next)."""
    end = len(data)
    view = memoryview(data)
    if report is not None:
        report.size = end
    pos = 0
    unpack = HEADER.unpack_from
    size = HEADER.size
    while pos < end:
        ok = False
        if pos + size <= end:
            magic, length, t, k, crc = unpack(data, pos)
            start = pos + size
            if magic == MAGIC and length <= _MAX_FRAME and start + length <= end:
                wanted = ((key is None or k == key) and (lo_us is None or t >= lo_us)
                          and (hi_us is None or t <= hi_us) and length > 0)
                if not wanted:
                    ok = True
                elif zlib.crc32(view[start:start + length],
                                zlib.crc32(view[pos + 4:pos + 20])) == crc:
                    ok = True
                    if report is not None:
                        report.frames += 1
                    yield t, bytes(view[start:start + length])
                if ok:
                    pos = start + length
                    continue
        nxt = _resync(data, pos, end)
        if report is not None:
            report.skipped.append(Skipped(pos, nxt - pos, "tail" if nxt == end else "corrupt"))
        pos = nxt


def read_segment(
    path: str | os.PathLike[str],
    report: ScanReport | None = None,
    *,
    endpoint: str | None = None,
    lo_us: int | None = None,
    hi_us: int | None = None,
    length: int | None = None,
) -> list[dict[str, Any]]:
    """The records of one segment file (of ``endpoint`` and in ``[lo_us, hi_us]`` when
    given); ``length``: read only that many bytes (a sealed segment's durable length). A
    missing file has none."""
    try:
        with open(path, "rb") as fh:
            data = fh.read() if length is None else fh.read(length)
    except FileNotFoundError:
        return []
    key = endpoint_key(endpoint) if endpoint is not None else None
    out = []
    for _t, payload in iter_frames(data, report, key=key, lo_us=lo_us, hi_us=hi_us):
        try:
            rec = orjson.loads(payload)
        except orjson.JSONDecodeError:  # crc-intact but not JSON: written that way
            if report is not None:
                report.frames -= 1
                report.skipped.append(Skipped(-1, len(payload), "undecodable"))
            continue
        if endpoint is None or rec.get("endpoint") == endpoint:
            out.append(rec)
    return out


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every readable record of one segment file (bad frames skipped)."""
    return read_segment(path)


# ---- segments and their indexes --------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    path: Path
    segment_id: str
    sealed: bool

    @property
    def index_path(self) -> Path:
        return self.path.with_name(self.segment_id + INDEX)

    def index(self) -> SegmentIndex | None:
        """Its sidecar index, or None when there is none or it cannot be read."""
        try:
            raw = orjson.loads(self.index_path.read_bytes())
            keys = {int(k): (int(v[0]), None if v[1] is None else int(v[1]))
                    for k, v in raw["keys"].items()}
            length = raw.get("length")
            names = {int(k): str(v) for k, v in (raw.get("names") or {}).items()}
            return SegmentIndex(keys, None if length is None else int(length), names)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError,
                AttributeError, IndexError):
            return None


@dataclass(frozen=True)
class SegmentIndex:
    """Per endpoint key, the time range ``(min_us, max_us)`` of a segment's records
    (``max_us`` None: still open) and the endpoint's name; ``length``: the durable bytes of a
    sealed segment."""

    keys: dict[int, tuple[int, int | None]]
    length: int | None = None
    names: dict[int, str] = field(default_factory=dict)

    def covers(self, key: int | None, lo_us: int, hi_us: int) -> bool:
        """Whether the segment may hold records of ``key`` (None: any) in ``[lo_us, hi_us]``."""
        ranges = self.keys.values() if key is None else (
            [self.keys[key]] if key in self.keys else [])
        return any(lo <= hi_us and (hi is None or hi >= lo_us) for lo, hi in ranges)


def write_index(directory: Path, segment_id: str, keys: dict[int, tuple[int, int | None]],
                length: int | None = None, *, names: dict[int, str] | None = None) -> None:
    """Write a segment's index atomically and durably (temporary name, fsync, rename)."""
    body = orjson.dumps({"keys": {str(k): list(v) for k, v in keys.items()}, "length": length,
                         "names": {str(k): v for k, v in (names or {}).items()}})
    tmp = directory / f".{segment_id}{INDEX}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, directory / f"{segment_id}{INDEX}")
    fsync_dir(directory)


def list_segments(directory: str | os.PathLike[str]) -> list[Segment]:
    """Every open and sealed segment in ``directory``, oldest first (ids are UUIDv7)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    out = []
    for entry in os.scandir(d):
        name = entry.name
        for suffix, sealed in ((OPEN, False), (SEALED, True)):
            if name.endswith(suffix) and _NAME.fullmatch(name[: -len(suffix)]):
                out.append(Segment(Path(entry.path), name[: -len(suffix)], sealed))
    out.sort(key=lambda s: s.segment_id)
    return out


def try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another holder has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file (its content) or a folder (the names in it) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fsync_path(directory)


def micros_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)
