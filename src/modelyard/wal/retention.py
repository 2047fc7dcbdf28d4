"""Retention of the compacted prediction log: an endpoint's ``privacy.retention_days``
(``serving/endpoints.py``) drops its date partitions older than that, as part of compaction.

A partition ``predlog/endpoint=<e>/date=<d>`` is dropped when ``d`` is before the date of
``now - retention_days`` (so a partition goes whole, at most a day after its last record
passed the limit); the rows of that endpoint in the id indexes of that date go with it, so
``get(id)`` of a dropped prediction answers 404. What was dropped is returned (and, by the
server that asked, recorded in the audit log with the feedback labels it deleted:
``predictions/erase.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from ..artifacts.store import ArtifactStore
from .partitions import IDS, PREFIX, _ls, _parquet, remove_file, rewrite_file

__all__ = ["EndpointRetention", "RetentionResult", "expire"]


class EndpointRetention(BaseModel):
    """What retention dropped of one endpoint: the dates before ``before`` (ISO date), their
    files and records, and (filled by the server) the feedback labels deleted."""

    endpoint: str
    retention_days: int
    cutoff: datetime
    before: str
    dates: list[str] = Field(default_factory=list)
    files: int = 0
    records: int = 0
    labels: int = 0


class RetentionResult(BaseModel):
    """The endpoints retention dropped something of in one pass."""

    endpoints: list[EndpointRetention] = Field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(e.records for e in self.endpoints)


def expire(artifacts: ArtifactStore, policies: Mapping[str, int],
           now: datetime) -> RetentionResult:
    """Drop the partitions of each endpoint of ``policies`` (endpoint -> days) older than
    its days (see the module docstring)."""
    result = RetentionResult()
    fs = None if artifacts.is_local else artifacts.fs
    for endpoint, days in sorted(policies.items()):
        if days is None or days < 1:
            continue
        cutoff = now - timedelta(days=int(days))
        before = cutoff.date().isoformat()
        drop = EndpointRetention(endpoint=endpoint, retention_days=int(days), cutoff=cutoff,
                                 before=before)
        for folder in sorted(_ls(artifacts, artifacts.path(f"{PREFIX}/endpoint={endpoint}"))):
            name = folder.rsplit("/", 1)[-1]
            if not name.startswith("date=") or name[5:] >= before:
                continue
            for path in _parquet(_ls(artifacts, folder)):
                f = pq.ParquetFile(path if fs is None else fs.open(path, "rb"))
                drop.records += f.metadata.num_rows
                remove_file(artifacts, path)
                drop.files += 1
            _remove_folder(artifacts, folder)
            _drop_index_rows(artifacts, date.fromisoformat(name[5:]), endpoint, fs)
            drop.dates.append(name[5:])
        if drop.dates:
            result.endpoints.append(drop)
    return result


def _remove_folder(artifacts: ArtifactStore, folder: str) -> None:
    try:
        if not _ls(artifacts, folder):
            artifacts.fs.rmdir(folder)
    except OSError:
        pass  # something new arrived, or the store has no folders


def _drop_index_rows(artifacts: ArtifactStore, day: date, endpoint: str, fs: object) -> None:
    folder = artifacts.path(f"{PREFIX}/{IDS}/date={day.isoformat()}")
    for path in _parquet(_ls(artifacts, folder)):
        table = pq.read_table(path, filesystem=fs)
        keep = pc.not_equal(table["endpoint"], pa.scalar(endpoint, pa.string()))
        kept = table.filter(keep)
        if kept.num_rows == table.num_rows:
            continue
        if kept.num_rows:
            rewrite_file(artifacts, path, kept)
        else:
            remove_file(artifacts, path)
