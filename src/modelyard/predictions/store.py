"""``PredictionStore``: the prediction log behind ``yard.predictions`` and the REST API."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path

import polars as pl

from ..artifacts.store import ArtifactStore
from ..errors import InvalidParameter
from ..store.base import DomainStore
from ..store.names import check_name
from ..transport import endpoint
from ..wal.compactor import QuarantinedSegment, compact, quarantined
from ..wal.segments import wal_dir
from . import reader
from .entities import CompactionResult, PredictionRecord
from .erase import ErasureResult, check_request_key, erase_log, record_erasure, record_retention
from .records import from_flat

__all__ = ["PredictionStore"]

MAX_QUERY_ROWS = 100_000


class PredictionStore(DomainStore):
    """Reads of the prediction log (compacted Parquet + this machine's pending segments)."""

    @property
    def log_dir(self) -> Path:
        return self.settings.resolved_prediction_log_dir

    @cached_property
    def log_artifacts(self) -> ArtifactStore:
        """Where the compacted log lives (``settings.prediction_log_url`` or the artifacts)."""
        return reader.log_artifacts(self.settings, self.artifacts)

    # before get: "/predictions/{prediction_id}" would take these names for an id
    @endpoint("GET", "/predictions/endpoints", permission="read")
    def endpoints(self) -> list[str]:
        """The endpoints that have logged predictions (compacted, or pending on this machine)."""
        return reader.endpoints(self.log_artifacts, log_dir=self.log_dir)

    @endpoint("GET", "/predictions/quarantine", permission="read")
    def quarantined(self) -> list[QuarantinedSegment]:
        """The segments of this machine's log that the compactor could not read completely
        (kept in ``<log>/wal/quarantine/``), with what was recovered from each."""
        return quarantined(wal_dir(self.log_dir))

    @endpoint("GET", "/predictions/{prediction_id}", permission="read")
    def get(self, prediction_id: str) -> PredictionRecord:
        """One logged prediction by its id."""
        return reader.get(self.log_artifacts, prediction_id, log_dir=self.log_dir)

    @endpoint("GET", "/predictions", permission="read")
    def query(
        self,
        endpoint: str,
        start: datetime,
        end: datetime,
        model_version: int | None = None,
        limit: int = 1000,
        after: str | None = None,
    ) -> list[PredictionRecord]:
        """Logged predictions of an endpoint in a time window, ordered by id (time), at most
        ``limit`` (which may not exceed 100000) and only those after the id ``after``: a
        page. The SDK's ``query`` on a remote yard reads every page it was asked for."""
        if not 1 <= limit <= MAX_QUERY_ROWS:
            raise InvalidParameter(
                f"limit must be between 1 and {MAX_QUERY_ROWS}. Got {limit!r} instead.",
                field="limit",
            )
        lf = reader.scan(self.log_artifacts, endpoint, start, end, model_version=model_version,
                         log_dir=self.log_dir)
        if after is not None:
            lf = lf.filter(pl.col("id") > after.replace("-", "").lower())
        df = lf.sort("id").head(limit).collect()
        return [from_flat(row) for row in df.iter_rows(named=True)]

    @endpoint("POST", "/predictions/compact", permission="write")
    def compact(self) -> CompactionResult:
        """Compact the sealed (and orphaned) segments of this machine's log into Parquet."""
        return compact(wal_dir(self.log_dir), self.log_artifacts, clock=self.clock)

    @endpoint("POST", "/predictions/retention", permission="admin")
    def apply_retention(self, retention_days: dict[str, int]) -> CompactionResult:
        """Compact, then drop each endpoint's partitions older than its days
        (``retention_days``: endpoint -> days, at least 1) with the feedback labels of their
        predictions; recorded in the audit log (what a model server does for endpoints with
        ``privacy.retention_days``)."""
        if not isinstance(retention_days, dict) or not retention_days:
            raise InvalidParameter("retention_days must map endpoint names to days. Got "
                                   f"{retention_days!r} instead.", field="retention_days")
        for name, days in retention_days.items():
            check_name(name, field="retention_days", what="An endpoint name")
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise InvalidParameter(
                    f"retention_days must map endpoint names to whole days (at least 1). Got "
                    f"{days!r} for {name!r} instead.", field="retention_days")
        result = compact(wal_dir(self.log_dir), self.log_artifacts, clock=self.clock,
                         retention=retention_days)
        if result.retention is not None and result.retention.endpoints:
            record_retention(self.db, self.log_artifacts, self.log_dir, result.retention)
        return result

    @endpoint("POST", "/predictions/erase", permission="admin")
    def erase(self, request_key: str) -> ErasureResult:
        """Erase every logged prediction made for ``request_key`` (a data subject's requests)
        from the segments and the compacted Parquet, with their feedback labels; recorded in
        the audit log without the key. Answers what was removed (counts, endpoints)."""
        result, ids = erase_log(self.log_artifacts, self.log_dir, check_request_key(request_key))
        return record_erasure(self.db, result, ids)

