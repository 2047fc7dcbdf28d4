"""The write-ahead segment format, shared by the writer, the compactor and the reader.

A segment is a file ``<dir>/<segment-id>.open`` (being written; its writer holds an exclusive
``flock`` on it) or ``<dir>/<segment-id>.sealed`` (complete, waiting for the compactor). It is
a sequence of frames ``<u32 length><u32 crc32><payload>`` (little endian), each payload one
record as JSON. A frame cut short by a crash (a torn tail) fails its length or CRC check and
ends the segment: everything before it was written whole.

A record payload holds ``id, time`` (epoch microseconds), ``endpoint, route, model_name,
model_version, inputs, outputs, latency_ms, shadow, request_key,
request_id``.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "OPEN",
    "SEALED",
    "Segment",
    "encode",
    "encode_record",
    "fsync_dir",
    "iter_payloads",
    "list_segments",
    "micros_to_datetime",
    "read_records",
    "try_lock",
    "wal_dir",
]

OPEN = ".open"
SEALED = ".sealed"
_HEADER = struct.Struct("<II")
_MAX_FRAME = 1 << 30
_NAME = re.compile(r"^[0-9a-f]{32}$")


def wal_dir(prediction_log_dir: str | os.PathLike[str]) -> Path:
    """Where the segments of a prediction-log folder live."""
    return Path(prediction_log_dir) / "wal"


@dataclass(frozen=True)
class Segment:
    path: Path
    segment_id: str
    sealed: bool


def encode(payload: bytes) -> bytes:
    """One frame around ``payload``."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_record(record: dict[str, Any]) -> bytes:
    return encode(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))


def iter_payloads(data: bytes) -> Iterator[bytes]:
    """The payloads of the complete, intact frames at the start of ``data``."""
    pos = 0
    end = len(data)
    view = memoryview(data)
    while pos + _HEADER.size <= end:
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length > _MAX_FRAME or start + length > end:
            return
        payload = bytes(view[start : start + length])
        if zlib.crc32(payload) != crc:
            return
        yield payload
        pos = start + length


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of one segment file (a torn tail is ignored)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return []
    out = []
    for payload in iter_payloads(data):
        try:
            out.append(orjson.loads(payload))
        except orjson.JSONDecodeError:
            break
    return out


def list_segments(directory: str | os.PathLike[str]) -> list[Segment]:
    """Every open and sealed segment in ``directory``, oldest first (ids are UUIDv7)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    out = []
    for entry in os.scandir(d):
        name = entry.name
        for suffix, sealed in ((OPEN, False), (SEALED, True)):
            if name.endswith(suffix) and _NAME.match(name[: -len(suffix)]):
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


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def micros_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)
