"""Turn sealed write-ahead segments into Parquet on an artifact store (see ``partitions`` for
the layout): one record file per segment, endpoint and date, and one id index per segment and
date. A segment is deleted only after all its files are durably written; a compaction that
dies half way is simply run again and writes the same file names, so no record is lost or
duplicated. The store is the yard's artifact store, or another URL
(``Settings.prediction_log_url``): a model server far from its yard ships its log there.

Open segments whose writer is gone (no one holds their lock: the process was killed) are
sealed first, so a restart recovers everything a dead server had confirmed.

A segment that could not be read completely (a bad frame anywhere, bytes that are not frames,
an I/O error) is never deleted: what could be read is compacted as usual, then the segment is
moved to ``<wal>/quarantine/`` beside a JSON report (``<segment-id>.json``: what was recovered,
which byte ranges were skipped and why), logged with its path and counted
(``modelyard_wal_quarantined_segments_total``); ``modelyard predictions doctor`` lists them.
One bad segment never stops the compaction of the others.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from pydantic import BaseModel, Field

from ..artifacts.store import ArtifactStore
from ..clock import Clock, SystemClock
from .erasures import drop_erased, erased_ids
from .metrics import WalMetrics
from .partitions import write_id_index, write_partition
from .records import to_table
from .retention import RetentionResult, expire
from .segments import (
    QUARANTINE,
    SEALED,
    ScanReport,
    Segment,
    Skipped,
    fsync_dir,
    fsync_path,
    list_segments,
    read_segment,
    try_lock,
)

__all__ = ["CompactionResult", "Compactor", "QuarantinedSegment", "compact", "quarantined"]

log = logging.getLogger("modelyard.wal")


class SkippedBytes(BaseModel):
    """A byte range of a segment that held no readable frame."""

    offset: int
    length: int
    reason: str


class QuarantinedSegment(BaseModel):
    """A segment the compactor could not read completely, kept in the quarantine folder."""

    segment: str
    path: str
    size: int
    records_recovered: int
    skipped: list[SkippedBytes] = Field(default_factory=list)
    error: str | None = None
    quarantined_at: datetime

    @property
    def skipped_bytes(self) -> int:
        return sum(s.length for s in self.skipped)


class CompactionResult(BaseModel):
    """What one compaction pass did: segments compacted (and deleted or quarantined),
    records written to Parquet, the files, the segments quarantined, and the segments left
    for the next pass because writing their Parquet failed (with the reason)."""

    segments: int = 0
    records: int = 0
    files: list[str] = Field(default_factory=list)
    quarantined: list[QuarantinedSegment] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    # what retention (endpoint -> days, when asked) dropped after the segments were compacted
    retention: RetentionResult | None = None


def compact(directory: str | os.PathLike[str], artifacts: ArtifactStore, *,
            clock: Clock | None = None, metrics: WalMetrics | None = None,
            retention: Mapping[str, int] | None = None) -> CompactionResult:
    """Compact every sealed segment (and every orphaned open one) in ``directory``; then,
    with ``retention`` (endpoint -> days), drop the partitions older than that
    (``retention.py``)."""
    result = CompactionResult()
    clock = clock or SystemClock()
    for seg in list_segments(directory):
        try:
            _compact_locked(seg, artifacts, result, clock, metrics)
        except Exception as exc:
            log.exception("compacting prediction-log segment %s failed; it is kept for the "
                          "next pass", seg.path, extra={"event": "wal_compaction_failed",
                                                        "path": str(seg.path)})
            result.failed[str(seg.path)] = f"{type(exc).__name__}: {exc}"
    if retention:
        result.retention = expire(artifacts, retention, clock.now())
        for drop in result.retention.endpoints:
            log.info("retention dropped %d predictions of endpoint %s (%d days: dates before "
                     "%s)", drop.records, drop.endpoint, drop.retention_days, drop.before,
                     extra={"event": "predlog_retention", "endpoint": drop.endpoint,
                            "records": drop.records, "dates": drop.dates})
    return result


def _compact_locked(seg: Segment, artifacts: ArtifactStore, result: CompactionResult,
                    clock: Clock, metrics: WalMetrics | None) -> None:
    try:
        fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # another compactor took it
    try:
        if not try_lock(fd) or not os.path.exists(seg.path):
            return  # a live writer (open) or another compactor (sealed)
        path = seg.path
        if not seg.sealed:  # its writer died: seal it for it
            path = seg.path.with_suffix(SEALED)
            os.replace(seg.path, path)
            fsync_dir(path.parent)
        sealed = Segment(path, seg.segment_id, True)
        report = ScanReport()
        error = None
        try:
            index = sealed.index()
            records = read_segment(path, report, length=index.length if index else None)
        except OSError as exc:  # the disk could not give it back whole
            records, error = [], f"{type(exc).__name__}: {exc}"
        erased = erased_ids(path.parent, sealed.segment_id)  # erased while it was live
        if erased:
            records = [r for r in records if r.get("id") not in erased]
        files = _write_records(sealed.segment_id, records, artifacts)
        if report.clean and error is None:
            os.unlink(path)
        else:
            result.quarantined.append(_quarantine(sealed, report, len(records), error, clock,
                                                  metrics))
        _unlink_index(sealed)
        drop_erased(path.parent, sealed.segment_id)
        fsync_dir(path.parent)
        result.segments += 1
        result.records += len(records)
        result.files.extend(files)
    finally:
        os.close(fd)


def _write_records(segment_id: str, records: list[dict[str, Any]],
                   artifacts: ArtifactStore) -> list[str]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        day = datetime.fromtimestamp(r["time"] / 1_000_000, tz=UTC).date().isoformat()
        groups[(r["endpoint"], day)].append(r)
    files = []
    ids_by_day: dict[str, list[tuple[str, pa.Array]]] = defaultdict(list)
    for (endpoint, day), rows in sorted(groups.items()):
        table = to_table(rows)
        files.append(write_partition(artifacts, endpoint, day, segment_id, table))
        ids_by_day[day].append((endpoint, table["id"].combine_chunks()))
    for day, parts in sorted(ids_by_day.items()):
        files.append(write_id_index(artifacts, day, segment_id, parts))
    return files


def _unlink_index(seg: Segment) -> None:
    try:
        os.unlink(seg.index_path)
    except FileNotFoundError:
        pass


def _quarantine(seg: Segment, report: ScanReport, recovered: int, error: str | None,
                clock: Clock, metrics: WalMetrics | None) -> QuarantinedSegment:
    folder = seg.path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    dest = folder / seg.path.name
    entry = QuarantinedSegment(
        segment=seg.segment_id, path=str(dest), size=report.size,
        records_recovered=recovered, error=error, quarantined_at=clock.now(),
        skipped=[_skipped(s) for s in report.skipped])
    note = folder / f"{seg.segment_id}.json"
    tmp = folder / f".{seg.segment_id}.json.tmp"
    tmp.write_bytes(orjson.dumps(entry.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    fsync_path(tmp)
    os.replace(tmp, note)
    os.replace(seg.path, dest)
    fsync_dir(folder)
    if metrics is not None:
        metrics.quarantined.inc()
    log.error("prediction-log segment quarantined: %s (%d records recovered, %d bytes "
              "skipped%s)", dest, recovered, report.skipped_bytes,
              f", {error}" if error else "",
              extra={"event": "wal_quarantined", "path": str(dest),
                     "records_recovered": recovered, "skipped_bytes": report.skipped_bytes})
    return entry


def quarantined(directory: str | os.PathLike[str]) -> list[QuarantinedSegment]:
    """The segments in ``directory``'s quarantine folder, oldest first, with their reports (a
    segment whose report is missing is listed with what its file shows)."""
    folder = Path(directory) / QUARANTINE
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob(f"*{SEALED}")):
        segment_id = path.name[: -len(SEALED)]
        try:
            out.append(QuarantinedSegment.model_validate_json(
                (folder / f"{segment_id}.json").read_bytes()))
        except (OSError, ValueError):
            report = ScanReport()
            n = len(read_segment(path, report))
            out.append(QuarantinedSegment(
                segment=segment_id, path=str(path), size=report.size, records_recovered=n,
                skipped=[_skipped(s) for s in report.skipped],
                quarantined_at=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)))
    return out


class Compactor:
    """A background thread that compacts every ``interval`` seconds (and once on ``stop``)."""

    def __init__(self, directory: str | os.PathLike[str], artifacts: ArtifactStore,
                 interval: float = 30.0, *, clock: Clock | None = None,
                 metrics: WalMetrics | None = None) -> None:
        self.directory = directory
        self.artifacts = artifacts
        self.interval = interval
        self.clock = clock
        self.metrics = metrics
        self.last: CompactionResult | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Compactor:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelyard-compactor",
                                            daemon=True)
            self._thread.start()
        return self

    def run_once(self) -> CompactionResult:
        with self._lock:
            try:
                self.last = compact(self.directory, self.artifacts, clock=self.clock,
                                    metrics=self.metrics)
            except Exception:  # keep serving; the segments stay for the next pass
                log.exception("prediction log compaction failed")
                self.last = CompactionResult()
            return self.last

    def _run(self) -> None:
        self.run_once()
        while not self._stop.wait(self.interval):
            self.run_once()

    def stop(self, final: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if final:
            self.run_once()


def _skipped(s: Skipped) -> SkippedBytes:
    return SkippedBytes(offset=s.offset, length=s.length, reason=s.reason)
