"""``MonitorService``: monitor runs executed where the data is.

A remote yard's ``yard.monitoring.run(...)`` calls ``POST /api/v1/monitoring/evaluate``: the
server evaluates the window over its own prediction log (compacted Parquet and its pending
segments), its references and its labels, streamed in batches and never truncated, stores the
figures and evaluates the alert rules as a local run would, and returns the result. Only the
result crosses the network. ``yard.monitoring.compare(...)`` likewise calls
``GET /api/v1/monitoring/compare`` (read permission; nothing is stored).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import polars as pl

from ..store.base import DomainStore
from ..transport import endpoint
from .compare import Comparison
from .entities import MonitorResult

__all__ = ["MonitorService"]


class MonitorService(DomainStore):
    """The server side of remote monitor runs (see the module docstring)."""

    @endpoint("POST", "/monitoring/evaluate", permission="write")
    def evaluate(
        self,
        endpoint: str,
        window: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        reference: str | None = None,
        reference_table: str | None = None,
        features: list[str] | None = None,
        tests: dict[str, str] | str | None = None,
        thresholds: dict[str, float] | float | None = None,
        segment_by: str | None = None,
        model_version: int | None = None,
        save: bool = True,
        alerts: bool = True,
    ) -> MonitorResult:
        """Evaluate one endpoint's window on the server (``yard.monitoring.run`` remotely);
        ``reference_table``: the digest of a Parquet blob holding a reference table."""
        yard = self._yard()
        ref: Any = reference
        if reference_table is not None:
            ref = pl.read_parquet(io.BytesIO(self.artifacts.get_bytes(reference_table)))
        result = yard.monitoring.run(
            endpoint, window=window, start=start, end=end, reference=ref,
            features=features, tests=tests, thresholds=thresholds, segment_by=segment_by,
            model_version=model_version, save=save, alerts=alerts)
        assert isinstance(result, MonitorResult)
        return result

    @endpoint("GET", "/monitoring/compare", permission="read")
    def compare(
        self,
        endpoint: str,
        window: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        champion: str | None = None,
        reference: str | None = None,
        drift: bool = True,
        confidence: float = 0.95,
        max_rows: int | None = None,
    ) -> Comparison:
        """Compare an endpoint's model versions on the same traffic of a window, on the server
        (``yard.monitoring.compare`` remotely)."""
        return self._yard().monitoring.compare(
            endpoint, window=window, start=start, end=end, champion=champion,
            reference=reference, drift=drift, confidence=confidence, max_rows=max_rows)

    def _yard(self) -> Any:
        # The server composes a yard over its own stores, as `connect` would for this
        # database and artifact store: the work then reads the log where it lies.
        from ..backend import LocalBackend
        from ..yard import Yard

        return Yard(LocalBackend(self.db, self.artifacts, self.settings, self.clock),
                    self.settings, self.clock)
