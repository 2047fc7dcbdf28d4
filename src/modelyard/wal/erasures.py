"""Erasing records from write-ahead segments (``modelyard erase``; see
``predictions/erase.py``).

A sealed segment, or an open one whose writer is gone, is rewritten without the erased
records: a new file with the other frames under a temporary name, fsync'd, renamed over the
old one, then its index with the new length. The compactor's lock is held meanwhile, so a
compaction never reads it half way.

An open segment of a live writer cannot be rewritten (its writer appends to it). The ids of
its erased records are written beside it, ``<segment-id>.erased`` (JSON, ids only: never the
values that identified them): readers hide those records from then on, and the compactor
leaves them out of the Parquet it writes and deletes the file with the segment, so the erased
values leave the disk when the segment is compacted (at the latest ``seal_seconds`` later).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .segments import (
    Segment,
    encode,
    fsync_dir,
    iter_frames,
    list_segments,
    try_lock,
    write_index,
)

__all__ = ["ERASED", "SegmentErasure", "add_erased", "drop_erased", "erase_in_segments",
           "erased_ids"]

ERASED = ".erased"


def _path(directory: str | os.PathLike[str], segment_id: str) -> Path:
    return Path(directory) / f"{segment_id}{ERASED}"


def erased_ids(directory: str | os.PathLike[str], segment_id: str) -> frozenset[str]:
    """The ids erased from a live segment, still in its file (none when there is no list)."""
    try:
        return frozenset(orjson.loads(_path(directory, segment_id).read_bytes()))
    except FileNotFoundError:
        return frozenset()


def add_erased(directory: str | os.PathLike[str], segment_id: str, ids: set[str]) -> None:
    """Add ``ids`` to the erased ids of a live segment (atomically, durably)."""
    path = _path(directory, segment_id)
    body = orjson.dumps(sorted(erased_ids(directory, segment_id) | ids))
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def drop_erased(directory: str | os.PathLike[str], segment_id: str) -> None:
    """Forget a segment's erased ids (its segment is gone)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(directory, segment_id))


class SegmentErasure:
    """What :func:`erase_in_segments` did: records removed from rewritten segments
    (``removed``), records hidden in live segments until their compaction (``pending``), the
    segments rewritten, and the ids of both (for the labels)."""

    def __init__(self) -> None:
        self.removed = 0
        self.pending = 0
        self.rewritten = 0
        self.ids: set[str] = set()
        self.endpoints: set[str] = set()


def erase_in_segments(directory: str | os.PathLike[str],
                      matches: Callable[[dict[str, Any]], bool]) -> SegmentErasure:
    """Erase the records ``matches`` accepts from every segment in ``directory``."""
    out = SegmentErasure()
    for seg in list_segments(directory):
        try:
            fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # compacted meanwhile: its records are in Parquet
        try:
            if seg.sealed:
                fcntl.flock(fd, fcntl.LOCK_EX)  # wait for a compaction of it to end
                live = False
            else:
                live = not try_lock(fd)
            if not os.path.exists(seg.path):
                continue
            _erase_one(seg, fd, live, matches, out)
        finally:
            os.close(fd)
    return out


def _erase_one(seg: Segment, fd: int, live: bool, matches: Callable[[dict[str, Any]], bool],
               out: SegmentErasure) -> None:
    with os.fdopen(os.dup(fd), "rb") as fh:
        data = fh.read()
    keep: list[bytes] = []
    found: set[str] = set()
    already = erased_ids(seg.path.parent, seg.segment_id)  # erased while it was live
    for t, payload in iter_frames(data):
        try:
            rec = orjson.loads(payload)
        except orjson.JSONDecodeError:
            keep.append(encode(payload, time_us=t, endpoint=""))
            continue
        pid = str(rec.get("id"))
        if pid in already:
            continue
        if matches(rec):
            found.add(pid)
            out.endpoints.add(str(rec.get("endpoint")))
        else:
            keep.append(encode(payload, time_us=t, endpoint=str(rec.get("endpoint", ""))))
    out.ids |= found
    if live:
        if not found:
            return
        add_erased(seg.path.parent, seg.segment_id, found)
        out.pending += len(found)
        return
    if not found and not already:
        return
    body = b"".join(keep)
    tmp = seg.path.with_name(f".{seg.segment_id}.erase.tmp")
    wfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    with os.fdopen(wfd, "wb") as wh:
        wh.write(body)
        wh.flush()
        os.fsync(wh.fileno())
    os.replace(tmp, seg.path)
    index = seg.index()
    if index is not None:
        write_index(seg.path.parent, seg.segment_id, index.keys,
                    len(body) if index.length is not None else None, names=index.names)
    fsync_dir(seg.path.parent)
    drop_erased(seg.path.parent, seg.segment_id)
    out.removed += len(found)
    out.rewritten += 1
