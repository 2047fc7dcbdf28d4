"""A window of the prediction log, read for monitoring in bounded memory.

The compacted Parquet partitions of the window (``predlog.reader.partition_files``) are read
one row group at a time (``ParquetFile.read_row_group``; row groups whose ``time`` statistics
fall outside the window are skipped unread) and filtered on ``time`` (and ``model_version``);
then the records still in the local write-ahead log, which the compactor has not turned into
Parquet yet. Peak memory is about one row group, whatever the window's size: measured on a
1M-row file, ``pyarrow.dataset`` scans (which read ahead several row groups and files) and
``ParquetFile.iter_batches`` grew resident memory by 260-700 MB where this loop grew it by
about 70 MB.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..predlog.reader import partition_files
from ..predlog.records import to_table
from ..predlog.segments import list_segments, read_records, wal_dir

__all__ = ["window_batches", "window_columns"]


def _files(yard: Any, endpoint: str, start: datetime, end: datetime) -> list[str]:
    return partition_files(yard.backend.artifacts, endpoint, start.date(), end.date())


def _open(yard: Any, path: str) -> pq.ParquetFile:
    artifacts = yard.backend.artifacts
    return pq.ParquetFile(path if artifacts.is_local else artifacts.fs.open(path, "rb"))


def _us(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp() * 1_000_000)


def _wal(yard: Any, endpoint: str, start: datetime, end: datetime,
         model_version: int | None) -> pa.Table | None:
    directory = wal_dir(yard.settings.resolved_prediction_log_dir)
    if not directory.exists():
        return None
    lo, hi = _us(start), _us(end)
    rows = [r for seg in list_segments(directory) for r in read_records(seg.path)
            if r.get("endpoint") == endpoint and lo <= r["time"] <= hi
            and (model_version is None or r.get("model_version") == model_version)]
    return to_table(rows) if rows else None


def _overlaps(column: Any, lo_us: int, hi_us: int) -> bool:
    """Whether a row group's ``time`` statistics may hold rows in ``[lo_us, hi_us]``."""
    stats = column.statistics
    if stats is None or not stats.has_min_max:
        return True
    lo, hi = stats.min, stats.max
    if isinstance(lo, datetime):
        lo, hi = _us(lo), _us(hi)
    return not (hi < lo_us or lo > hi_us)


def window_columns(yard: Any, endpoint: str, start: datetime, end: datetime) -> list[str]:
    """The union of the window's column names (file footers only; no rows are read)."""
    names: list[str] = []
    for path in _files(yard, endpoint, start, end):
        for name in _open(yard, path).schema_arrow.names:
            if name not in names:
                names.append(name)
    wal = _wal(yard, endpoint, start, end, None)
    for name in wal.column_names if wal is not None else ():
        if name not in names:
            names.append(name)
    return names


def window_batches(yard: Any, endpoint: str, start: datetime, end: datetime, *,
                   model_version: int | None = None, batch_size: int = 65_536,
                   columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of the window's rows; files may differ in columns (the consumer unions
    them by name)."""
    t_lo = pa.scalar(start, pa.timestamp("us", tz="UTC"))
    t_hi = pa.scalar(end, pa.timestamp("us", tz="UTC"))
    lo_us, hi_us = _us(start), _us(end)
    for path in _files(yard, endpoint, start, end):
        f = _open(yard, path)
        present = f.schema_arrow.names
        cols = [c for c in columns if c in present] if columns is not None else None
        if cols is not None and "time" not in cols:
            cols.append("time")
        time_index = present.index("time") if "time" in present else None
        meta = f.metadata
        for i in range(meta.num_row_groups):
            if time_index is not None and not _overlaps(meta.row_group(i).column(time_index),
                                                        lo_us, hi_us):
                continue
            table = f.read_row_group(i, columns=cols)
            mask = pc.and_(pc.greater_equal(table["time"], t_lo), pc.less_equal(table["time"], t_hi))
            if model_version is not None and "model_version" in table.column_names:
                mask = pc.and_(mask, pc.equal(table["model_version"], model_version))
            table = table.filter(mask)
            yield from table.to_batches(max_chunksize=batch_size)
            del table
    wal = _wal(yard, endpoint, start, end, model_version)
    if wal is not None:
        yield from wal.to_batches(max_chunksize=batch_size)
