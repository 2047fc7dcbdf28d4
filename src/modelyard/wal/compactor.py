"""Turn sealed write-ahead segments into Parquet on the artifact store.

Output: ``predlog/endpoint=<name>/date=<YYYY-MM-DD>/<segment-id>.parquet``, one file per
endpoint and date present in a segment. A segment is deleted only after all its Parquet files
are durably written (fsync'd on a local store); a compaction that dies half way is simply run
again and writes the same file names, so no record is lost or duplicated.

Open segments whose writer is gone (no one holds their lock: the process was killed) are
sealed first, so a restart recovers everything a dead server had confirmed.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from ..artifacts.store import ArtifactStore
from ..ids import new_id
from .partitions import partition_path
from .records import to_table
from .segments import SEALED, Segment, fsync_dir, list_segments, read_records, try_lock

__all__ = ["CompactionResult", "Compactor", "compact"]

log = logging.getLogger("modelyard.wal")


class CompactionResult(BaseModel):
    """What one compaction pass did."""

    segments: int = 0
    records: int = 0
    files: list[str] = Field(default_factory=list)


def compact(directory: str | os.PathLike[str], artifacts: ArtifactStore) -> CompactionResult:
    """Compact every sealed segment (and every orphaned open one) in ``directory``."""
    result = CompactionResult()
    for seg in list_segments(directory):
        try:
            fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # another compactor took it
        try:
            if not try_lock(fd):
                continue  # a live writer (open) or another compactor (sealed)
            if not os.path.exists(seg.path):
                continue
            path = seg.path
            if not seg.sealed:  # its writer died: seal it for it
                path = seg.path.with_suffix(SEALED)
                os.replace(seg.path, path)
                fsync_dir(path.parent)
            n, files = _compact_one(Segment(path, seg.segment_id, True), artifacts)
            os.unlink(path)
            fsync_dir(path.parent)
            result.segments += 1
            result.records += n
            result.files.extend(files)
        finally:
            os.close(fd)
    return result


def _compact_one(seg: Segment, artifacts: ArtifactStore) -> tuple[int, list[str]]:
    records = read_records(seg.path)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        day = datetime.fromtimestamp(r["time"] / 1_000_000, tz=UTC).date().isoformat()
        groups[(r["endpoint"], day)].append(r)
    files = []
    for (endpoint, day), rows in sorted(groups.items()):
        rows.sort(key=lambda r: r["id"])
        relative = f"{partition_path(endpoint, day)}/{seg.segment_id}.parquet"
        files.append(_write_parquet(artifacts, relative, rows))
    return len(records), files


def _write_parquet(artifacts: ArtifactStore, relative: str, rows: list[dict[str, Any]]) -> str:
    table = to_table(rows)
    if artifacts.is_local:
        full = Path(artifacts.path(relative))
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.parent / f".tmp-{new_id()}"
        try:
            pq.write_table(table, tmp, compression="zstd")
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, full)
        finally:
            if tmp.exists():
                tmp.unlink()
        fsync_dir(full.parent)
        return str(full)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return artifacts.write_file(relative, buf.getvalue())


class Compactor:
    """A background thread that compacts every ``interval`` seconds (and once on ``stop``)."""

    def __init__(self, directory: str | os.PathLike[str], artifacts: ArtifactStore,
                 interval: float = 30.0) -> None:
        self.directory = directory
        self.artifacts = artifacts
        self.interval = interval
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
                self.last = compact(self.directory, self.artifacts)
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
