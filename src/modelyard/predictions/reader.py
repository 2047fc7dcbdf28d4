"""Read the prediction log: compacted Parquet partitions plus the local segments not yet
compacted (when this process can reach the log folder).

    scan(yard, "loans", start, end)            -> polars.LazyFrame of flat rows
    batches(yard, "loans", start, end)         -> iterator of pyarrow.RecordBatch (bounded memory)
    get(yard, prediction_id)                   -> PredictionRecord

Partitions are pruned by date; segments written by different model versions may have
different columns, and are combined by name (missing columns are null). ``get`` reads only
the date partition the UUIDv7 id points at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..artifacts.store import ArtifactStore
from ..clock import parse_time
from ..errors import InvalidParameter, NotFound
from ..ids import uuid7_time
from ..wal.partitions import endpoints as _partition_endpoints
from ..wal.partitions import partition_files
from ..wal.records import TIME_TYPE, to_table
from ..wal.segments import list_segments, read_records, wal_dir
from .entities import PredictionRecord
from .records import from_flat, from_payload
from .window import Window

__all__ = ["batches", "endpoints", "get", "partition_files", "scan", "window"]

Source = Any  # a Yard, or an ArtifactStore


def _resolve(source: Source, log_dir: str | os.PathLike[str] | None) -> tuple[ArtifactStore, Path | None]:
    if isinstance(source, ArtifactStore):
        return source, Path(log_dir) if log_dir is not None else None
    artifacts = source.backend.artifacts
    if log_dir is None:
        log_dir = source.settings.resolved_prediction_log_dir
    return artifacts, Path(log_dir)


def _window(start: Any, end: Any) -> tuple[datetime, datetime]:
    s = parse_time(start, field="start")
    e = parse_time(end, field="end")
    if e < s:
        raise InvalidParameter(
            f"end must not be before start. Got start={s.isoformat()}, end={e.isoformat()}.",
            field="end",
        )
    return s, e


def endpoints(source: Source) -> list[str]:
    """The endpoints that have compacted partitions."""
    artifacts, _ = _resolve(source, None)
    return _partition_endpoints(artifacts)


def _frame_of_file(artifacts: ArtifactStore, path: str) -> pl.LazyFrame:
    if artifacts.is_local:
        return pl.scan_parquet(path)
    dataset = pads.dataset(path, format="parquet", filesystem=artifacts.fs)
    return pl.scan_pyarrow_dataset(dataset)


def _wal_payloads(log_dir: Path | None, endpoint: str | None, lo_us: int, hi_us: int) -> list[dict[str, Any]]:
    if log_dir is None:
        return []
    out = []
    for seg in list_segments(wal_dir(log_dir)):
        for r in read_records(seg.path):
            if (endpoint is None or r.get("endpoint") == endpoint) and lo_us <= r["time"] <= hi_us:
                out.append(r)
    return out


def _empty() -> pl.LazyFrame:
    schema: dict[str, Any] = {
        "id": pl.String, "time": pl.Datetime("us", "UTC"), "endpoint": pl.String,
        "route": pl.String, "model_name": pl.String, "model_version": pl.Int64,
        "latency_ms": pl.Float64, "shadow": pl.Boolean, "request_key": pl.String,
        "request_id": pl.String,
    }
    return pl.LazyFrame(schema=schema)


def scan(
    source: Source,
    endpoint: str,
    start: Any,
    end: Any,
    *,
    model_version: int | None = None,
    include_wal: bool = True,
    log_dir: str | os.PathLike[str] | None = None,
) -> pl.LazyFrame:
    """Every logged prediction of ``endpoint`` with ``start <= time <= end``, lazily, sorted
    by id only if you sort it; ``model_version`` keeps one version."""
    artifacts, ldir = _resolve(source, log_dir)
    s, e = _window(start, end)
    frames = [_frame_of_file(artifacts, f)
              for f in partition_files(artifacts, endpoint, s.date(), e.date())]
    if include_wal:
        payloads = _wal_payloads(ldir, endpoint, _us(s), _us(e))
        if payloads:
            frames.append(pl.from_arrow(to_table(payloads)).lazy())  # type: ignore[union-attr]
    if not frames:
        return _empty()
    lf = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    lf = lf.filter((pl.col("time") >= s) & (pl.col("time") <= e))
    if model_version is not None:
        lf = lf.filter(pl.col("model_version") == int(model_version))
    return lf


def batches(
    source: Source,
    endpoint: str,
    start: Any,
    end: Any,
    *,
    model_version: int | None = None,
    batch_size: int = 65_536,
    include_wal: bool = True,
    log_dir: str | os.PathLike[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The same rows as :func:`scan`, as Arrow record batches read one file at a time (memory
    stays bounded by one batch, whatever the window). Batches of different files may have
    different columns."""
    artifacts, ldir = _resolve(source, log_dir)
    s, e = _window(start, end)
    s_pa, e_pa = pa.scalar(s, TIME_TYPE), pa.scalar(e, TIME_TYPE)
    expr = (pads.field("time") >= s_pa) & (pads.field("time") <= e_pa)
    if model_version is not None:
        expr = expr & (pads.field("model_version") == int(model_version))
    fs = None if artifacts.is_local else artifacts.fs
    for path in partition_files(artifacts, endpoint, s.date(), e.date()):
        dataset = pads.dataset(path, format="parquet", filesystem=fs)
        yield from dataset.to_batches(filter=expr, batch_size=batch_size)
    if include_wal:
        payloads = _wal_payloads(ldir, endpoint, _us(s), _us(e))
        if model_version is not None:
            payloads = [p for p in payloads if p["model_version"] == int(model_version)]
        if payloads:
            yield from to_table(payloads).to_batches(max_chunksize=batch_size)


def window(
    source: Source,
    endpoint: str,
    start: Any,
    end: Any,
    *,
    model_version: int | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> Window:
    """The rows of ``endpoint`` in ``[start, end]`` as a :class:`Window`: its columns and its
    batches, read once, one row group at a time (what monitoring reads)."""
    artifacts, ldir = _resolve(source, log_dir)
    s, e = _window(start, end)
    payloads = _wal_payloads(ldir, endpoint, _us(s), _us(e))
    if model_version is not None:
        payloads = [p for p in payloads if p["model_version"] == int(model_version)]
    return Window(artifacts, to_table(payloads) if payloads else None, endpoint, s, e,
                  model_version)


def get(
    source: Source,
    prediction_id: str,
    *,
    log_dir: str | os.PathLike[str] | None = None,
) -> PredictionRecord:
    """The record with ``prediction_id``; reads only the partitions of the id's date."""
    artifacts, ldir = _resolve(source, log_dir)
    try:
        when = uuid7_time(prediction_id)
    except ValueError as exc:
        raise InvalidParameter(
            f"prediction_id must be a UUIDv7 hex string. Got {prediction_id!r} instead.",
            field="prediction_id",
        ) from exc
    pid = prediction_id.replace("-", "").lower()
    day = when.date()
    fs = None if artifacts.is_local else artifacts.fs
    for name in endpoints(artifacts):
        for path in partition_files(artifacts, name, day, day):
            table = pq.read_table(path, filesystem=fs, filters=[("id", "=", pid)])
            if table.num_rows:
                return from_flat(table.slice(0, 1).to_pylist()[0])
    hi = _us(when) + 1000
    for r in _wal_payloads(ldir, None, _us(when), hi):
        if r["id"] == pid:
            return from_payload(r)
    raise NotFound(f"No prediction with id {prediction_id!r} in the log.", field="prediction_id")


def _us(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp() * 1_000_000)


