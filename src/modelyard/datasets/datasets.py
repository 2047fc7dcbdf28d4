"""``yard.datasets``: versioned, profiled, time-travelling datasets.

    dv = yard.datasets.add("loans", df, time_column="ts")     # DatasetVersion
    dv = yard.datasets.append("loans", new_rows)               # shares the old fragments
    view = yard.datasets.get("loans").as_of("2026-03-01")      # rows known then
    train = yard.datasets.window("loans", "2025-12-01", "2026-03-01", as_of="2026-03-01")

The data side (reading the source, checking it, writing and profiling Parquet fragments)
happens here, in the caller's process; what is stored goes through ``yard.backend.datasets``
(the SQL store, or the same methods over HTTP) and ``yard.backend.blobs``, so the same code
works against a local yard and a shared server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..artifacts.store import ProgressHook, no_progress, sha256_file
from ..clock import parse_time
from ..errors import InvalidParameter, NotFound
from .entities import (
    ColumnInfo,
    ColumnSchema,
    DatasetInfo,
    DatasetVersion,
    NewFragment,
    Profile,
)
from .ingest import open_source
from .snapshot import schema_to_json, write_fragments
from .store import check_append_schema, check_name
from .timetravel import DatasetView

__all__ = ["Datasets", "parse_ref"]


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"loans"`` -> ("loans", None); ``"loans/3"`` -> ("loans", 3); a ``dataset:`` prefix is
    allowed."""
    text = ref.removeprefix("dataset:")
    name, _, version = text.partition("/")
    check_name(name, field="ref")
    if not version:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise InvalidParameter(
            f"a dataset reference must look like 'name' or 'name/3'. Got {ref!r} instead.",
            field="ref",
        )
    return name, int(version)


class Datasets:
    """Dataset versions of one yard (``yard.datasets``)."""

    def __init__(self, yard: Any) -> None:
        self._yard = yard

    @property
    def _store(self) -> Any:
        return self._yard.backend.datasets

    def _bind(self, version: DatasetVersion) -> DatasetVersion:
        return version.bind(self._yard)

    # ---- writing ---------------------------------------------------------------------------
    def add(
        self,
        name: str,
        source: Any,
        *,
        time_column: str | None = None,
        key_columns: list[str] | None = None,
        description: str | None = None,
        parents: list[str | DatasetVersion] | None = None,
        transform: str | None = None,
        code_commit: str | None = None,
        ingested_at: str | datetime | None = None,
        progress: ProgressHook | None = None,
    ) -> DatasetVersion:
        """Add ``source`` as a version of dataset ``name`` (creating the dataset).

        ``source``: a pandas/polars DataFrame, an Arrow table, or the path or fsspec URL of a
        Parquet file, a folder of Parquet files or a CSV file. ``time_column`` names the event
        time of each row (enables ``window``); ``key_columns`` the columns that identify a row.
        ``parents``, ``transform`` and ``code_commit`` record where the data came from.
        ``ingested_at`` backfills: the time the rows became known (the version's time, which
        ``as_of`` goes by) when that was before now; it may not be earlier than the latest
        version's nor in the future. ``progress`` (a :class:`~modelyard.artifacts.store.
        ProgressHook`) is told the bytes read and uploaded.
        Adding the content of the latest version again returns that version.
        """
        check_name(name)
        existing = self._info_or_none(name)
        if existing is not None:
            time_column = time_column or existing.time_column
            key_columns = key_columns or existing.key_columns
        return self._ingest(
            name, source, base=None, time_column=time_column, key_columns=key_columns,
            progress=progress, mode="add", description=description, parents=parents,
            transform=transform, code_commit=code_commit,
            ingested_at=ingested_at,
        )

    def append(
        self,
        name: str,
        source: Any,
        *,
        parents: list[str | DatasetVersion] | None = None,
        transform: str | None = None,
        code_commit: str | None = None,
        ingested_at: str | datetime | None = None,
        progress: ProgressHook | None = None,
    ) -> DatasetVersion:
        """Append rows: a new version made of the latest version's fragments plus new ones
        (only the new rows are stored). Rows whose columns or types differ from the latest
        version are refused with :class:`~modelyard.errors.SchemaMismatch`; nothing is written.
        Appending the same rows twice in a row returns the latest version. ``ingested_at`` and
        ``progress`` as for :meth:`add`."""
        check_name(name)
        base = self._store.latest_version(name)
        return self._ingest(
            name, source, base=base, time_column=base.time_column,
            key_columns=base.key_columns, progress=progress, mode="append", parents=parents,
            transform=transform, code_commit=code_commit,
            ingested_at=ingested_at,
        )

    def _ingest(
        self, name: str, source: Any, *, base: DatasetVersion | None, time_column: str | None,
        key_columns: list[str] | None, progress: ProgressHook | None,
        parents: list[str | DatasetVersion] | None,
        ingested_at: str | datetime | None, **provenance: Any,
    ) -> DatasetVersion:
        parent_refs = [self._parent_ref(p) for p in parents or []]
        when = parse_time(ingested_at, field="ingested_at") if ingested_at is not None else None
        opened = open_source(source, time_column=time_column, key_columns=key_columns, name=name)
        schema = opened.schema
        batches = opened.batches
        if base is not None:
            check_append_schema(base, _columns(schema))
            schema, batches = _conform(schema, batches, base)
        blobs = self._yard.backend.blobs
        hook = progress or no_progress
        scratch = blobs.scratch_dir()  # a local store: fragments are written in place
        with tempfile.TemporaryDirectory(prefix="modelyard-dataset-", dir=scratch) as tmp:
            with hook(f"read {_short_uri(opened.uri)}", opened.n_bytes) as advance:
                written = write_fragments(
                    _reporting(batches(), opened.n_rows, opened.n_bytes, advance), schema,
                    Path(tmp), seed=base.n_rows if base is not None else 0,
                    keep=partial(blobs.put_file, move=True) if scratch else sha256_file,
                )
            if not written:
                raise InvalidParameter(
                    f"dataset {name!r} must have at least one row. Got 0 rows from "
                    f"{opened.uri}.",
                    field="source",
                )
            uploads = [w for w in written if scratch is None and not blobs.exists(w.digest)]
            if uploads:
                total = sum(w.n_bytes for w in uploads)
                with hook(f"upload {len(uploads)} fragment(s)", total) as advance:
                    for fragment in uploads:
                        blobs.put_file(fragment.path, move=True, progress=advance)
        columns = _columns(schema)
        _observe_columns(columns, [w.sketch for w in written], base)
        version = self._store.commit_version(
            name,
            columns,
            [
                NewFragment(digest=w.digest, n_rows=w.n_rows, n_bytes=w.n_bytes, sketch=w.sketch)
                for w in written
            ],
            time_column=time_column,
            key_columns=list(key_columns or []),
            source_uri=opened.uri,
            parents=parent_refs,
            ingested_at=when,
            **provenance,
        )
        return self._bind(version)

    def _parent_ref(self, parent: str | DatasetVersion) -> str:
        if isinstance(parent, DatasetVersion):
            return parent.ref
        name, version = parse_ref(parent)
        resolved = self.get(name, version=version)
        return resolved.ref

    def describe(
        self,
        name: str,
        column: str,
        *,
        description: str | None = None,
        unit: str | None = None,
        owner: str | None = None,
        sensitivity: str | None = None,
        valid_min: float | str | None = None,
        valid_max: float | str | None = None,
        max_null_rate: float | str | None = None,
    ) -> ColumnInfo:
        """Write the data-dictionary entry of a column (kept across versions). Arguments left
        None keep their value; an empty string clears one. ``valid_min``, ``valid_max`` and
        ``max_null_rate`` are expectations: validation's data checks hold every model's
        training data to them."""
        return self._store.describe_column(  # type: ignore[no-any-return]
            name, column, description=description, unit=unit, owner=owner,
            sensitivity=sensitivity, valid_min=valid_min, valid_max=valid_max,
            max_null_rate=max_null_rate,
        )

    # ---- reading ---------------------------------------------------------------------------
    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        """The latest version of ``name``, or version ``version``. ``name`` may also be a
        reference such as ``"loans/3"``."""
        if "/" in name or name.startswith("dataset:"):
            name, ref_version = parse_ref(name)
            version = version or ref_version
        if version is None:
            return self._bind(self._store.latest_version(name))
        return self._bind(self._store.get_version(name, int(version)))

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first."""
        return [self._bind(v) for v in self._store.list_versions(name)]

    def list(self) -> list[DatasetInfo]:
        """Every dataset with its latest version."""
        return self._store.list_datasets()  # type: ignore[no-any-return]

    def info(self, name: str) -> DatasetInfo:
        return self._store.get_dataset(name)  # type: ignore[no-any-return]

    def as_of(self, name: str, at: str | datetime) -> DatasetView:
        """The rows of ``name`` known at ``at`` (the newest version created by then)."""
        return self.get(name).as_of(at)

    def window(
        self, name: str, start: str | datetime, end: str | datetime, *,
        as_of: str | datetime | None = None,
    ) -> DatasetView:
        """Rows of ``name`` whose event time is in ``[start, end)``, as known now or
        ``as_of``."""
        return self.get(name).window(start, end, as_of=as_of)

    def view(
        self, name: str, *, version: int | None = None, as_of: str | datetime | None = None,
        window_start: str | datetime | None = None, window_end: str | datetime | None = None,
    ) -> DatasetView:
        """The view a run recorded (any of the arguments may be None)."""
        latest = self.get(name, version=version).view()
        if as_of is not None:
            latest = latest.at(as_of)
        if window_start is not None or window_end is not None:
            if window_start is None or window_end is None:
                raise InvalidParameter("a window needs both window_start and window_end.",
                                       field="window_start")
            latest = latest.window(window_start, window_end)
        return latest

    def profile(self, name: str, version: int | None = None) -> Profile:
        """The profile of a version (latest by default): the drift reference."""
        if version is None:
            version = self._store.latest_version(name).version
        return self._store.get_profile(name, int(version))  # type: ignore[no-any-return]

    def dictionary(self, name: str) -> list[ColumnInfo]:
        """The data dictionary of ``name``, one entry per column of its latest version."""
        return self._store.get_dictionary(name)  # type: ignore[no-any-return]

    def _info_or_none(self, name: str) -> DatasetInfo | None:
        try:
            return self.info(name)
        except NotFound:
            return None


def _short_uri(uri: str) -> str:
    return uri if len(uri) <= 40 else "…" + uri[-39:]


def _reporting(batches: Iterator[pa.RecordBatch], n_rows: int | None, n_bytes: int | None,
               advance: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    """``batches``, telling ``advance`` the bytes of the source read so far: the share of its
    rows times its size when both are known, else the batches' own bytes."""
    rows = told = 0
    for batch in batches:
        yield batch
        rows += batch.num_rows
        if n_rows and n_bytes is not None:
            now = min(n_bytes, n_bytes * rows // n_rows)
            advance(now - told)
            told = now
        else:
            advance(batch.nbytes)


def _columns(schema: pa.Schema) -> list[ColumnSchema]:
    return [ColumnSchema(**c) for c in schema_to_json(schema)]


def _conform(schema: pa.Schema, batches: Any, base: DatasetVersion) -> tuple[pa.Schema, Any]:
    """Appended rows in the base version's column order, all-null columns given its types."""
    fields = []
    by_name = {f.name: f for f in schema}
    for column in base.schema:
        field = by_name[column.name]
        if pa.types.is_null(field.type):
            try:
                field = pa.field(column.name, pa.type_for_alias(column.type))
            except ValueError:
                from ..errors import SchemaMismatch

                raise SchemaMismatch(
                    f"column {column.name!r} has only missing values; expected {column.type}.",
                    field=column.name,
                ) from None
        fields.append(field)
    target = pa.schema(fields)
    if target == schema:
        return schema, batches

    def conformed() -> Any:
        for batch in batches():
            yield pa.RecordBatch.from_arrays(
                [batch.column(f.name).cast(f.type) for f in target], schema=target
            )

    return target, conformed


def _observe_columns(columns: list[ColumnSchema], sketches: list[dict[str, Any]],
                    base: DatasetVersion | None) -> None:
    """Record what the data shows of each column: whether it has missing values (nulls or
    NaN) in this version, and the categories of dictionary columns (up to 1,000)."""
    previous = {c.name: c for c in base.schema} if base is not None else {}
    for column in columns:
        parts = [sketch["columns"][column.name] for sketch in sketches]
        missing = any(p["nulls"] or p.get("nan") for p in parts)
        column.nullable = missing or (column.name in previous and previous[column.name].nullable)
        if not column.type.startswith("dictionary"):
            continue
        seen = set(previous[column.name].categories or []) if column.name in previous else set()
        for sketch in sketches:
            seen.update(sketch["columns"][column.name].get("top", {}))
        column.categories = sorted(seen)[:1000]
