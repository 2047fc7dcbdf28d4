"""Reading versions and their bitemporal views.

Every row has two times: its event time (the dataset's ``time_column``) and the time it became
known to the yard (the ``ingested_at`` of its fragment). A :class:`DatasetView` is a version
seen *as of* a point in knowledge time (the newest version created by then: exactly the rows
known at that time) and optionally restricted to an event-time *window* ``[start, end)``.
Windows are pushed down to Parquet row-group statistics, and reads stream fragment by
fragment, row group by row group, in stored row order.

Fragments are verified blobs: on a local artifact store they are read in place (each file's
digest is checked once per process); on any other store they are downloaded once, verified,
into ``{home}/cache/blobs``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..artifacts.store import sha256_file
from ..clock import parse_time
from ..errors import IntegrityError, InvalidParameter
from .ingest import TIME_TYPE

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from .entities import DatasetVersion, Fragment

__all__ = ["INGESTED_AT", "DatasetView", "fragment_paths"]

INGESTED_AT = "_ingested_at"
_VERIFIED: dict[str, tuple[str, int, int]] = {}  # digest -> (path, size, mtime_ns) checked


def fragment_paths(yard: Any, fragments: list[Fragment]) -> list[str]:
    """Local, verified Parquet files for ``fragments`` (in order)."""
    blobs = yard.backend.blobs
    local = bool(getattr(blobs, "is_local", False)) and hasattr(blobs, "blob_path")
    cache = Path(yard.settings.home).resolve() / "cache" / "blobs"
    out = []
    for fragment in fragments:
        digest = fragment.digest
        if local:
            path = blobs.blob_path(digest)
        else:
            path = str(cache / digest[:2] / f"{digest}.parquet")
            if not os.path.exists(path):
                blobs.get_file(digest, path)  # verified while downloading
                _remember(digest, path)
        if not _known_good(digest, path):
            if not os.path.exists(path):
                blobs.get_bytes(digest)  # raises NotFound naming the digest
            actual = sha256_file(path)
            if actual != digest:
                if local:  # quarantined: adding the same rows again stores the fragment again
                    raise blobs.corrupt(digest, actual)
                os.unlink(path)  # a bad cached copy: the next read downloads it again
                raise IntegrityError(
                    f"Fragment {digest} is corrupt: its content hashes to {actual}. "
                    "Refusing to read it."
                )
            _remember(digest, path)
        out.append(path)
    return out


def _remember(digest: str, path: str) -> None:
    st = os.stat(path)
    _VERIFIED[digest] = (path, st.st_size, st.st_mtime_ns)


def _known_good(digest: str, path: str) -> bool:
    seen = _VERIFIED.get(digest)
    if seen is None or seen[0] != path:
        return False
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return (st.st_size, st.st_mtime_ns) == seen[1:]


def _stamp(fragment: Fragment, n: int) -> pa.Array:
    return pa.array([fragment.ingested_at] * n, TIME_TYPE)


def _time(value: str | datetime | float, field: str) -> datetime:
    return parse_time(value, field=field)


class DatasetView:
    """Rows of a version, possibly as known at ``as_of`` and inside an event-time window.

    Has the attributes a run records for an input: ``name``, ``version``, ``digest``,
    ``as_of``, ``window_start``, ``window_end``.
    """

    def __init__(
        self,
        yard: Any,
        source: DatasetVersion,
        *,
        as_of: datetime | None = None,
        window_start: datetime | None = None,
        window_end: datetime | None = None,
    ) -> None:
        self._yard = yard
        self.source = source
        self.as_of = as_of
        self.window_start = window_start
        self.window_end = window_end

    # ---- identity --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.source.name

    @property
    def version(self) -> int:
        return self.source.version

    @property
    def digest(self) -> str:
        return self.source.digest

    @property
    def time_column(self) -> str | None:
        return self.source.time_column

    @property
    def columns(self) -> list[str]:
        return self.source.columns

    def __repr__(self) -> str:
        parts = [f"{self.name}/{self.version}"]
        if self.as_of is not None:
            parts.append(f"as_of={self.as_of.isoformat()}")
        if self.window_start is not None:
            parts.append(f"window=[{self.window_start.isoformat()}, "
                         f"{self.window_end.isoformat() if self.window_end else ''})")
        return f"DatasetView({', '.join(parts)})"

    # ---- narrowing -------------------------------------------------------------------------
    def at(self, when: str | datetime) -> DatasetView:
        """The same window over the rows known at ``when`` (the newest version created by
        then, among versions up to this one)."""
        moment = _time(when, "as_of")
        version = self._yard.backend.datasets.version_as_of(
            self.name, moment, up_to=self.version
        ).bind(self._yard)
        return DatasetView(self._yard, version, as_of=moment,
                           window_start=self.window_start, window_end=self.window_end)

    def window(
        self, start: str | datetime, end: str | datetime, *, as_of: str | datetime | None = None
    ) -> DatasetView:
        """Rows whose event time is in ``[start, end)``, as known by this view or ``as_of``."""
        if self.time_column is None:
            raise InvalidParameter(
                f"dataset {self.name!r} has no time_column, so it has no event-time windows; "
                "add it with time_column=…",
                field="time_column",
            )
        lo, hi = _time(start, "start"), _time(end, "end")
        if hi <= lo:
            raise InvalidParameter(
                f"end must be after start. Got start={lo.isoformat()}, end={hi.isoformat()}.",
                field="end",
            )
        view = self.at(as_of) if as_of is not None else self
        return DatasetView(self._yard, view.source, as_of=view.as_of, window_start=lo,
                           window_end=hi)

    # ---- reading ---------------------------------------------------------------------------
    def _filter(self) -> pc.Expression | None:
        if self.window_start is None or self.time_column is None:
            return None
        column = pc.field(self.time_column)
        return (column >= pa.scalar(self.window_start, TIME_TYPE)) & (
            column < pa.scalar(self.window_end, TIME_TYPE)
        )

    def _fragments(self) -> Iterator[tuple[Fragment, str]]:
        fragments = self.source.fragments
        yield from zip(fragments, fragment_paths(self._yard, fragments))

    def iter_batches(
        self, batch_size: int = 65_536, columns: list[str] | None = None,
        with_ingested_at: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        """Stream the rows as record batches, in stored order; memory stays bounded."""
        self._check_columns(columns)
        condition = self._filter()
        for fragment, path in self._fragments():
            if condition is None:
                reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
                batches = reader.iter_batches(batch_size=batch_size, columns=columns)
            else:
                scanner = ds.dataset(path, format="parquet").scanner(
                    columns=columns, filter=condition, batch_size=batch_size,
                    batch_readahead=2, fragment_readahead=1,
                )
                batches = scanner.to_batches()
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if with_ingested_at:
                    batch = batch.append_column(INGESTED_AT, _stamp(fragment, batch.num_rows))
                yield batch

    def to_arrow(self, columns: list[str] | None = None,
                 with_ingested_at: bool = False) -> pa.Table:
        """All the rows as one Arrow table (``with_ingested_at`` adds each row's known-since
        time as ``_ingested_at``). A window is pushed down to row-group statistics."""
        self._check_columns(columns)
        condition = self._filter()
        tables = []
        for fragment, path in self._fragments():
            if condition is None:
                table = pq.ParquetFile(path).read(columns=columns)
            else:
                table = ds.dataset(path, format="parquet").to_table(columns=columns,
                                                                     filter=condition)
            if with_ingested_at:
                table = table.append_column(INGESTED_AT, _stamp(fragment, table.num_rows))
            tables.append(table)
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.to_arrow(columns=columns).to_pandas()

    def to_polars(self, columns: list[str] | None = None) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(columns=columns))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def count(self) -> int:
        """The number of rows in this view."""
        condition = self._filter()
        if condition is None:
            return self.source.n_rows
        return sum(ds.dataset(path, format="parquet").count_rows(filter=condition)
                   for _, path in self._fragments())

    def _check_columns(self, columns: list[str] | None) -> None:
        unknown = [c for c in columns or [] if c not in self.columns]
        if unknown:
            raise InvalidParameter(
                f"columns must be among {self.columns}. Got {unknown} instead.", field="columns"
            )
