"""Read the prediction log: compacted Parquet partitions plus the local segments not yet
compacted (when this process can reach the log folder).

    scan(yard, "loans", start, end)            -> polars.LazyFrame of flat rows
    batches(yard, "loans", start, end)         -> iterator of pyarrow.RecordBatch (bounded memory)
    window(yard, "loans", start, end)          -> Window: columns + batches, read once
    get(yard, prediction_id)                   -> PredictionRecord

What is read follows what was asked. A window reads the endpoint's partitions of the window's
dates, and of the write-ahead segments only those whose index says they hold the endpoint in
that time range (other endpoints' frames in them are passed over by their header, unparsed).
``get`` reads the segments whose time range covers the id's UUIDv7 time, then the id indexes
of the id's date whose id range holds it, and one row group of one record file. Records of a
segment already compacted for that endpoint and date are read from Parquet only (a compaction
running meanwhile neither hides nor repeats them). Segments written by different model
versions may have different columns, combined by name (missing columns are null).

Frames that cannot be read are skipped (the next good frame is read) and reported: logged with
the segment's path, and kept on a :class:`Window` as ``skipped``.
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..artifacts.store import ArtifactStore, open_artifact_store
from ..clock import parse_time
from ..config import Settings
from ..errors import InvalidParameter, NotFound
from ..ids import uuid7_time
from ..wal.erasures import erased_ids
from ..wal.partitions import endpoints as _partition_endpoints
from ..wal.partitions import id_index_files, partition_files, partition_path
from ..wal.records import TIME_TYPE, to_table
from ..wal.segments import ScanReport, endpoint_key, list_segments, read_segment, wal_dir
from .entities import PredictionRecord
from .records import from_flat, from_payload
from .window import Window

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "SkippedFrames",
    "batches",
    "endpoints",
    "get",
    "log_artifacts",
    "lookup",
    "partition_files",
    "scan",
    "window",
]

log = logging.getLogger("modelyard.predictions")

Source = Any  # a Yard, or an ArtifactStore


def log_artifacts(settings: Settings, artifacts: ArtifactStore | None) -> ArtifactStore:
    """Where a yard's compacted log lives: ``settings.prediction_log_url`` when set, else the
    yard's artifact store (``artifacts``)."""
    url = settings.prediction_log_url
    if url:
        return open_artifact_store(url)
    if artifacts is None:
        raise InvalidParameter("prediction_log_url must be set where there is no local "
                               "artifact store. Got none.", field="prediction_log_url")
    return artifacts


def _resolve(source: Source, log_dir: str | os.PathLike[str] | None) -> tuple[ArtifactStore, Path | None]:
    if isinstance(source, ArtifactStore):
        return source, Path(log_dir) if log_dir is not None else None
    artifacts = log_artifacts(source.settings, source.backend.artifacts)
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


def _us(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp() * 1_000_000)


def _day(t_us: int) -> str:
    return datetime.fromtimestamp(t_us / 1_000_000, tz=UTC).date().isoformat()


def endpoints(source: Source, *, log_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The endpoints that have logged predictions: compacted partitions, and (when this
    process reaches the log folder) the segments not compacted yet, by their indexes."""
    artifacts, ldir = _resolve(source, log_dir)
    names = set(_partition_endpoints(artifacts))
    if ldir is not None:
        for seg in list_segments(wal_dir(ldir)):
            index = seg.index()
            if index is not None and len(index.names) == len(index.keys):
                names.update(index.names.values())
            else:  # no index to tell: read it
                names.update(str(r.get("endpoint")) for r in read_segment(seg.path))
    return sorted(names)


@dataclass
class SkippedFrames:
    """Bytes of one segment a read passed over (bad frames), by range and reason."""

    path: str
    ranges: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(n for _, n, _ in self.ranges)


@dataclass
class _Pending:
    """What a read took from the write-ahead segments."""

    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (segment, rec)
    skipped: list[SkippedFrames] = field(default_factory=list)


def _read_segments(log_dir: Path | None, endpoint: str | None, lo_us: int,
                   hi_us: int) -> _Pending:
    """The records of ``endpoint`` (None: any) in ``[lo_us, hi_us]`` still in segments,
    opening only the segments whose index admits them."""
    out = _Pending()
    if log_dir is None:
        return out
    key = endpoint_key(endpoint) if endpoint is not None else None
    for seg in list_segments(wal_dir(log_dir)):
        index = seg.index()
        if index is not None and not index.covers(key, lo_us, hi_us):
            continue
        report = ScanReport()
        erased = erased_ids(seg.path.parent, seg.segment_id)  # see wal/erasures.py
        for rec in read_segment(seg.path, report, endpoint=endpoint, lo_us=lo_us, hi_us=hi_us,
                                length=index.length if index is not None else None):
            if not erased or rec.get("id") not in erased:
                out.records.append((seg.segment_id, rec))
        if report.skipped:
            found = SkippedFrames(str(seg.path), [(s.offset, s.length, s.reason)
                                                  for s in report.skipped])
            out.skipped.append(found)
            log.warning("prediction-log segment %s: %d bytes could not be read and were "
                        "skipped", seg.path, found.bytes,
                        extra={"event": "wal_frames_skipped", "path": str(seg.path)})
    return out


def _compacted(files: list[str]) -> set[tuple[str, str]]:
    """``(segment id, date)`` of record files ``.../date=<d>/<segment>.parquet``."""
    out = set()
    for f in files:
        parts = f.rsplit("/", 2)
        if len(parts) == 3 and parts[1].startswith("date="):
            out.add((parts[2][: -len(".parquet")], parts[1][5:]))
    return out


@dataclass
class _Read:
    artifacts: ArtifactStore
    files: list[str]
    pending: list[dict[str, Any]]
    skipped: list[SkippedFrames]
    start: datetime
    end: datetime


def _read(source: Source, endpoint: str, start: Any, end: Any,
          log_dir: str | os.PathLike[str] | None, include_wal: bool = True) -> _Read:
    artifacts, ldir = _resolve(source, log_dir)
    s, e = _window(start, end)
    # segments first: one compacted meanwhile has its Parquet listed below
    pending = _read_segments(ldir if include_wal else None, endpoint, _us(s), _us(e))
    files = partition_files(artifacts, endpoint, s.date(), e.date())
    done = _compacted(files) if pending.records else set()
    payloads = [r for seg, r in pending.records if (seg, _day(r["time"])) not in done]
    return _Read(artifacts, files, payloads, pending.skipped, s, e)


def _frame_of_file(artifacts: ArtifactStore, path: str) -> pl.LazyFrame:
    import polars as pl

    if artifacts.is_local:
        return pl.scan_parquet(path)
    dataset = pads.dataset(path, format="parquet", filesystem=artifacts.fs)
    return pl.scan_pyarrow_dataset(dataset)


def _empty() -> pl.LazyFrame:
    import polars as pl

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
    import polars as pl

    r = _read(source, endpoint, start, end, log_dir, include_wal)
    frames = [_frame_of_file(r.artifacts, f) for f in r.files]
    if r.pending:
        frames.append(pl.from_arrow(to_table(r.pending)).lazy())  # type: ignore[union-attr]
    if not frames:
        return _empty()
    lf = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    lf = lf.filter((pl.col("time") >= r.start) & (pl.col("time") <= r.end))
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
    r = _read(source, endpoint, start, end, log_dir, include_wal)
    s_pa, e_pa = pa.scalar(r.start, TIME_TYPE), pa.scalar(r.end, TIME_TYPE)
    expr = (pads.field("time") >= s_pa) & (pads.field("time") <= e_pa)
    if model_version is not None:
        expr = expr & (pads.field("model_version") == int(model_version))
    fs = None if r.artifacts.is_local else r.artifacts.fs
    for path in r.files:
        dataset = pads.dataset(path, format="parquet", filesystem=fs)
        yield from dataset.to_batches(filter=expr, batch_size=batch_size)
    payloads = r.pending
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
    r = _read(source, endpoint, start, end, log_dir)
    payloads = r.pending
    if model_version is not None:
        payloads = [p for p in payloads if p["model_version"] == int(model_version)]
    return Window(r.artifacts, r.files, to_table(payloads) if payloads else None, r.start,
                  r.end, model_version, skipped_bytes=sum(s.bytes for s in r.skipped))


def get(
    source: Source,
    prediction_id: str,
    *,
    log_dir: str | os.PathLike[str] | None = None,
) -> PredictionRecord:
    """The record with ``prediction_id``: the segments whose time range covers the id's
    time, then the id indexes of its date whose range holds it, then one record file."""
    artifacts, ldir = _resolve(source, log_dir)
    try:
        when = uuid7_time(prediction_id)
    except ValueError as exc:
        raise InvalidParameter(
            f"prediction_id must be a UUIDv7 hex string. Got {prediction_id!r} instead.",
            field="prediction_id",
        ) from exc
    pid = prediction_id.replace("-", "").lower()
    lo = _us(when)
    for _seg, rec in _read_segments(ldir, None, lo, lo + 999).records:
        if rec.get("id") == pid:
            return from_payload(rec)
    day = when.date()
    fs = None if artifacts.is_local else artifacts.fs
    for index_path, segment_id in id_index_files(artifacts, day, pid, pid):
        found = _find_row(index_path, pid, fs, ["endpoint"])
        if found is None:
            continue
        path = artifacts.path(f"{partition_path(found['endpoint'], day.isoformat())}/"
                              f"{segment_id}.parquet")
        row = _find_row(path, pid, fs, None)
        if row is not None:
            return from_flat(row)
    raise NotFound(f"No prediction with id {prediction_id!r} in the log.", field="prediction_id")


def lookup(
    source: Source,
    ids: Iterable[str],
    *,
    columns: Callable[[str], bool] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The flat rows (the columns ``columns`` accepts, and ``id``) of the ``ids`` found in the
    log, by id: per date, the id indexes whose range holds some of them, then only the row
    groups of their record files that can hold them; then the segments whose time range
    covers the ids not found. Ids are 32 lowercase hex characters."""
    artifacts, ldir = _resolve(source, log_dir)
    by_day: dict[Any, list[str]] = defaultdict(list)
    for pid in set(ids):
        by_day[uuid7_time(pid).date()].append(pid)
    fs = None if artifacts.is_local else artifacts.fs
    found: dict[str, dict[str, Any]] = {}
    for day, wanted in sorted(by_day.items()):
        wanted.sort()
        files: dict[str, list[str]] = defaultdict(list)  # record file -> its wanted ids
        for index_path, segment_id in id_index_files(artifacts, day, wanted[0], wanted[-1]):
            for row in _rows_with_ids(index_path, fs, wanted, lambda c: c == "endpoint"):
                path = artifacts.path(f"{partition_path(row['endpoint'], day.isoformat())}/"
                                      f"{segment_id}.parquet")
                files[path].append(row["id"])
        for path, some in files.items():
            for row in _rows_with_ids(path, fs, sorted(some), columns):
                found[row["id"]] = row
    rest = {pid for w in by_day.values() for pid in w} - found.keys()
    if rest:
        lo = min(_us(uuid7_time(p)) for p in rest)
        hi = max(_us(uuid7_time(p)) for p in rest) + 999
        payloads = [r for _, r in _read_segments(ldir, None, lo, hi).records if r.get("id") in rest]
        if payloads:
            for row in to_table(payloads).to_pylist():
                found[row["id"]] = {k: v for k, v in row.items()
                                    if k == "id" or columns is None or columns(k)}
    return found


def _rows_with_ids(path: str, fs: Any, ids: list[str],
                   columns: Callable[[str], bool] | None) -> list[dict[str, Any]]:
    """The rows of one Parquet file sorted by id whose id is in ``ids`` (sorted): row groups
    whose ``id`` statistics hold none of them are skipped unread."""
    try:
        f = pq.ParquetFile(path if fs is None else fs.open(path, "rb"))
    except FileNotFoundError:
        return []
    names = f.schema_arrow.names
    if "id" not in names:
        return []
    cols = None if columns is None else ["id", *(c for c in names if c != "id" and columns(c))]
    meta, at = f.metadata, names.index("id")
    out: list[dict[str, Any]] = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(at).statistics
        candidates = ids
        if stats is not None and stats.has_min_max:
            candidates = ids[bisect_left(ids, stats.min):bisect_right(ids, stats.max)]
            if not candidates:
                continue
        table = f.read_row_group(i, columns=cols)
        hits = pc.indices_nonzero(pc.is_in(table["id"], pa.array(candidates, pa.string())))
        if len(hits):
            out += table.take(hits).to_pylist()
    return out


def _find_row(path: str, pid: str, fs: Any, columns: list[str] | None) -> dict[str, Any] | None:
    """The row with ``id == pid`` of a Parquet file sorted by id: only the row groups whose
    id statistics hold it are read."""
    try:
        f = pq.ParquetFile(path if fs is None else fs.open(path, "rb"))
    except FileNotFoundError:
        return None
    meta = f.metadata
    names = f.schema_arrow.names
    if "id" not in names:
        return None
    col = names.index("id")
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is not None and stats.has_min_max and not stats.min <= pid <= stats.max:
            continue
        table = f.read_row_group(i, columns=None if columns is None else ["id", *columns])
        hit = pc.index(table["id"], pid).as_py()
        if hit >= 0:
            return table.slice(hit, 1).to_pylist()[0]  # type: ignore[no-any-return]
    return None

