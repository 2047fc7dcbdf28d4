"""Erasure of a data subject's predictions: ``modelyard erase --request-key VALUE``,
``POST /api/v1/predictions/erase`` (admin), ``yard.predictions.erase(request_key=…)``.

Every record whose ``request_key`` equals the value is removed from every place the log keeps
it, in this order (so a compaction running meanwhile hides nothing):

1. the write-ahead segments (and the quarantined ones): rewritten without them; a live
   writer's open segment gets the list of their ids instead, which readers honour at once and
   the compactor when it compacts it (``wal/erasures.py``);
2. the compacted Parquet: each record file that holds one is rewritten without it, atomically
   (temporary name, fsync, rename), or deleted when nothing is left; the id indexes of those
   files are rewritten the same way, so ``get(id)`` of an erased id answers 404;
3. the feedback labels of the erased ids (``monitoring_feedback`` rows).

The erasure is recorded in the audit log (action ``predictions.erase``): who (the principal),
when, how many records and labels, which endpoints, never the request key or any erased value.
Shadow records carry the request key of their request: they are erased with it.

Retention (``privacy.retention_days`` of an endpoint, applied by compaction: see
``wal/retention.py``) is recorded here too: :func:`record_retention` deletes the feedback
labels of the expired predictions and appends ``predictions.retention`` to the audit log.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from pydantic import BaseModel, Field

from ..artifacts.store import ArtifactStore
from ..errors import InvalidParameter
from ..store import audit
from ..store.schema.monitoring import FeedbackRow
from ..wal.erasures import SegmentErasure, erase_in_segments
from ..wal.partitions import (
    endpoints,
    id_index_files,
    partition_files,
    remove_file,
    rewrite_file,
)
from ..wal.retention import RetentionResult
from ..wal.segments import QUARANTINE, wal_dir
from .reader import lookup

__all__ = ["ErasureResult", "erase_log", "record_erasure", "record_retention"]

_FIRST, _LAST = date(1970, 1, 1), date(9999, 12, 31)
_FEEDBACK = FeedbackRow.__table__


class ErasureResult(BaseModel):
    """What an erasure removed: ``predictions`` records in all (``pending`` of them in a live
    segment, hidden now and gone from the disk when it is compacted), the Parquet files
    rewritten or deleted, the segments rewritten, the feedback ``labels`` deleted and the
    endpoints concerned. Never the erased values."""

    predictions: int = 0
    pending: int = 0
    files_rewritten: int = 0
    files_deleted: int = 0
    segments_rewritten: int = 0
    labels: int = 0
    endpoints: list[str] = Field(default_factory=list)


def check_request_key(request_key: Any) -> str:
    if not isinstance(request_key, str) or not request_key or len(request_key) > 1024:
        got = (f"a string of {len(request_key)} characters" if isinstance(request_key, str)
               else type(request_key).__name__)
        raise InvalidParameter("request_key must be a non-empty string of at most 1024 "
                               f"characters. Got {got} instead.", field="request_key")
    return request_key


def erase_log(artifacts: ArtifactStore, log_dir: str | os.PathLike[str] | None,
              request_key: str) -> tuple[ErasureResult, set[str]]:
    """Remove the records of ``request_key`` from the segments in ``log_dir`` and the Parquet
    on ``artifacts`` (see the module docstring); the result and the erased ids."""
    check_request_key(request_key)
    result = ErasureResult()
    ids: set[str] = set()
    names: set[str] = set()
    if log_dir is not None:
        for folder in (wal_dir(log_dir), wal_dir(log_dir) / QUARANTINE):
            seg: SegmentErasure = erase_in_segments(
                folder, lambda r: r.get("request_key") == request_key)
            result.predictions += seg.removed + seg.pending
            result.pending += seg.pending
            result.segments_rewritten += seg.rewritten
            ids |= seg.ids
            names |= seg.endpoints
    fs = None if artifacts.is_local else artifacts.fs
    by_file: dict[tuple[str, str], set[str]] = defaultdict(set)  # (date, segment) -> ids
    for endpoint in endpoints(artifacts):
        for path in partition_files(artifacts, endpoint, _FIRST, _LAST):
            erased = _erase_in_file(artifacts, path, fs, "request_key", request_key, result)
            if erased:
                names.add(endpoint)
                ids |= erased
                parts = path.rsplit("/", 2)
                by_file[(parts[1][len("date="):], parts[2][: -len(".parquet")])] |= erased
    for (day, segment), gone in by_file.items():
        result.predictions += len(gone)
        _drop_from_indexes(artifacts, date.fromisoformat(day), segment, gone, fs, result)
    result.endpoints = sorted(names)
    return result, ids


def _open(path: str, fs: Any) -> pq.ParquetFile | None:
    try:
        return pq.ParquetFile(path if fs is None else fs.open(path, "rb"))
    except FileNotFoundError:
        return None


def _erase_in_file(artifacts: ArtifactStore, path: str, fs: Any, column: str, value: str,
                   result: ErasureResult) -> set[str]:
    """Rewrite one record file without its rows whose ``column`` equals ``value``."""
    f = _open(path, fs)
    if f is None or column not in f.schema_arrow.names:
        return set()
    keys = f.read(columns=["id", column])
    hit = pc.fill_null(pc.equal(keys[column], pa.scalar(value, pa.string())), False)
    if not pc.any(hit).as_py():
        return set()
    erased = set(keys.filter(hit)["id"].to_pylist())
    kept = f.read().filter(pc.invert(hit))
    _replace(artifacts, path, kept, result)
    return erased


def _replace(artifacts: ArtifactStore, path: str, table: pa.Table, result: Any) -> None:
    if table.num_rows:
        rewrite_file(artifacts, path, table)
        result.files_rewritten += 1
    else:
        remove_file(artifacts, path)
        result.files_deleted += 1


def _drop_from_indexes(artifacts: ArtifactStore, day: date, segment: str, gone: set[str],
                       fs: Any, result: Any) -> None:
    lo, hi = min(gone), max(gone)
    for index_path, seg in id_index_files(artifacts, day, lo, hi):
        if seg != segment:
            continue
        f = _open(index_path, fs)
        if f is None:
            continue
        table = f.read()
        keep = pc.invert(pc.is_in(table["id"], pa.array(sorted(gone), pa.string())))
        kept = table.filter(keep)
        if kept.num_rows != table.num_rows:
            _replace(artifacts, index_path, kept, result)


def _delete_labels(conn: Any, ids: set[str]) -> int:
    n = 0
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        n += conn.execute(_FEEDBACK.delete().where(
            _FEEDBACK.c.prediction_id.in_(ordered[i:i + 500]))).rowcount or 0
    return n


def record_erasure(db: Any, result: ErasureResult, ids: set[str]) -> ErasureResult:
    """Delete the labels of the erased ``ids`` and append the audit record, in one
    transaction."""
    with db.write() as conn:
        result.labels = _delete_labels(conn, ids)
        audit.append(conn, action="predictions.erase",
                     target="predictions:" + (",".join(result.endpoints) or "*"),
                     after=result.model_dump(mode="json"))
    return result


def record_retention(db: Any, artifacts: ArtifactStore, log_dir: Any,
                     result: RetentionResult) -> int:
    """Delete the feedback labels of the predictions retention dropped and append one audit
    record per endpoint; the labels deleted. A label names its endpoint when it was given
    one; a label without one, older than the cutoff, goes when its prediction is no longer in
    the log (looked up by id, as ``feedback`` does)."""
    total = 0
    for drop in result.endpoints:
        cutoff = datetime.combine(date.fromisoformat(drop.before), datetime.min.time(),
                                  tzinfo=drop.cutoff.tzinfo)
        old = _FEEDBACK.c.prediction_time < cutoff
        with db.read() as conn:
            unnamed = [r.prediction_id for r in conn.execute(sa.select(
                _FEEDBACK.c.prediction_id).where(old, _FEEDBACK.c.endpoint.is_(None)))]
        gone: list[str] = []
        for i in range(0, len(unnamed), 10_000):
            part = unnamed[i:i + 10_000]
            found = lookup(artifacts, part, log_dir=log_dir, columns=lambda c: False)
            gone += [pid for pid in part if pid not in found]
        with db.write() as conn:
            labels = conn.execute(_FEEDBACK.delete().where(
                old, _FEEDBACK.c.endpoint == drop.endpoint)).rowcount or 0
            labels += _delete_labels(conn, set(gone))
            drop.labels = labels
            total += labels
            audit.append(conn, action="predictions.retention",
                         target=f"predictions:{drop.endpoint}",
                         after=drop.model_dump(mode="json"))
    return total
