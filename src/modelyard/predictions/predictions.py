"""``yard.predictions``: the prediction log from the SDK.

    rec = yard.predictions.get(prediction_id)                 # PredictionRecord
    df = yard.predictions.query("loans", start, end)           # polars.DataFrame, flat columns
    lf = yard.predictions.scan("loans", start, end)            # polars.LazyFrame (any window)
    w = yard.predictions.window("loans", start, end)           # .columns, .batches(columns=…)
    for batch in yard.predictions.batches("loans", start, end): ...   # pyarrow.RecordBatch
    yard.predictions.log(records)                              # write records (backfills, tests)
    yard.predictions.compact(retention_days={"loans": 90})
    yard.predictions.erase(request_key="customer-42")          # a data subject's predictions
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from ..errors import InvalidParameter, NotFound, did_you_mean
from ..wal.compactor import compact
from ..wal.records import new_prediction_id, to_table
from ..wal.segments import encode_record, wal_dir
from ..wal.writer import WalWriter
from . import reader
from .entities import CompactionResult, PredictionRecord
from .erase import ErasureResult
from .records import to_payload
from .store import MAX_QUERY_ROWS
from .window import Window

if TYPE_CHECKING:
    from ..yard import Yard

__all__ = ["Predictions"]


class Predictions:
    """The prediction log of a yard (see the module docstring)."""

    def __init__(self, yard: Yard) -> None:
        self._yard = yard

    @property
    def _store(self) -> Any:
        return self._yard.backend.predictions

    def get(self, prediction_id: str) -> PredictionRecord:
        """The logged prediction with this id (raises NotFound)."""
        return self._store.get(prediction_id)  # type: ignore[no-any-return]

    def query(
        self,
        endpoint: str,
        start: Any,
        end: Any,
        *,
        model_version: int | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Predictions of ``endpoint`` logged between ``start`` and ``end``, oldest first, as
        a DataFrame of flat columns (``id, time, …, input.<f>, output.prediction``). For
        windows too large for memory use :meth:`scan` or :meth:`batches`."""
        if self._yard.backend.is_remote:
            records = self._remote_pages(endpoint, start, end, model_version, limit)
            payloads = [to_payload(r) for r in records]
            if not payloads:
                return reader._empty().collect()
            return pl.from_arrow(to_table(payloads))  # type: ignore[return-value]
        lf = self.scan(endpoint, start, end, model_version=model_version).sort("id")
        if limit is not None:
            lf = lf.head(limit)
        return lf.collect()

    def endpoints(self) -> list[str]:
        """The endpoints that have logged predictions."""
        return self._store.endpoints()  # type: ignore[no-any-return]

    def require_endpoint(self, endpoint: str, *, known: Iterable[str] = ()) -> None:
        """Raise NotFound, with a "did you mean", when ``endpoint`` has never logged a
        prediction and is not among ``known`` (e.g. configured monitors): a mistyped name is
        an error, not an empty answer."""
        names = set(known)
        if endpoint in names:
            return
        names.update(self.endpoints())
        if endpoint not in names:
            raise NotFound(
                f"No endpoint named {endpoint!r} has logged predictions."
                f"{did_you_mean(endpoint, sorted(names))}"
                + ("" if names else " The log is empty."), field="endpoint")

    def _remote_pages(self, endpoint: str, start: Any, end: Any, model_version: int | None,
                      limit: int | None) -> list[PredictionRecord]:
        """Every record asked for, page by page (the server answers at most
        ``MAX_QUERY_ROWS`` per call): a remote query is never cut short silently."""
        records: list[PredictionRecord] = []
        after: str | None = None
        while limit is None or len(records) < limit:
            size = MAX_QUERY_ROWS if limit is None else min(MAX_QUERY_ROWS, limit - len(records))
            page = self._store.query(endpoint, start, end, model_version=model_version,
                                     limit=size, after=after)
            records += page
            if len(page) < size:
                break
            after = page[-1].id
        return records

    def scan(self, endpoint: str, start: Any, end: Any, *,
             model_version: int | None = None) -> pl.LazyFrame:
        """The same rows as :meth:`query`, lazily (local yards only)."""
        self._local_only("scan")
        return reader.scan(self._yard, endpoint, start, end, model_version=model_version)

    def batches(self, endpoint: str, start: Any, end: Any, *, model_version: int | None = None,
                batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The same rows as :meth:`query`, as Arrow batches with bounded memory."""
        self._local_only("batches")
        return reader.batches(self._yard, endpoint, start, end, model_version=model_version,
                              batch_size=batch_size)

    def window(self, endpoint: str, start: Any, end: Any, *,
               model_version: int | None = None) -> Window:
        """The rows of a window as a :class:`~modelyard.predictions.window.Window` (its
        ``columns`` and ``batches(columns=…)``), read once in bounded memory: what monitoring
        reads (local yards only)."""
        self._local_only("window")
        return reader.window(self._yard, endpoint, start, end, model_version=model_version)

    def compact(self, *, retention_days: Mapping[str, int] | None = None) -> CompactionResult:
        """Turn the sealed segments of the log into Parquet partitions; ``retention_days``
        (endpoint -> days) then drops each endpoint's partitions older than that (and the
        feedback labels of their predictions; audited)."""
        if retention_days:
            return self._store.apply_retention(  # type: ignore[no-any-return]
                dict(retention_days))
        return self._store.compact()  # type: ignore[no-any-return]

    def erase(self, *, request_key: str) -> ErasureResult:
        """Erase every prediction logged for ``request_key`` (and its feedback labels) from
        the log's segments and Parquet; recorded in the audit log without the key (admin
        permission on a server). See ``predictions/erase.py``."""
        return self._store.erase(request_key)  # type: ignore[no-any-return]

    def log(self, records: Iterable[PredictionRecord | Mapping[str, Any]], *,
            compact_now: bool = True) -> list[str]:
        """Write records to the log as a server would (durably), e.g. for a backfill; a record
        given as a dict may leave out ``id``/``time`` (then made from the yard's clock).
        Returns the ids."""
        self._local_only("log")
        frames, ids = [], []
        for rec in records:
            data = to_payload(rec) if isinstance(rec, PredictionRecord) else dict(rec)
            if not data.get("id"):
                data["id"], t_us = new_prediction_id(self._yard.clock)
                data.setdefault("time", t_us)
            if "time" not in data:
                raise InvalidParameter("Each record needs a time when it has an id.", field="time")
            data = to_payload(data)
            data.setdefault("latency_ms", 0.0)
            data.setdefault("shadow", False)
            data.setdefault("request_key", None)
            data.setdefault("request_id", None)
            ids.append(data["id"])
            frames.append(encode_record(data))
        directory = wal_dir(self._yard.settings.resolved_prediction_log_dir)
        writer = WalWriter(directory).start()
        try:
            if frames:
                writer.append_sync(frames)
        finally:
            writer.close()
        if compact_now:
            compact(directory, reader.log_artifacts(self._yard.settings,
                                                    self._yard.backend.artifacts),
                    clock=self._yard.clock)
        return ids

    def _local_only(self, what: str) -> None:
        if self._yard.backend.is_remote:
            raise InvalidParameter(
                f"predictions.{what} reads the log files directly and needs a local yard "
                "(connect with a database URL). Got a remote yard; use query() instead.",
                field="yard",
            )
