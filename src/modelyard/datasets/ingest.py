"""Turning what a user hands us into checked, normalised Arrow record batches.

Sources: a pandas or polars DataFrame, an Arrow table, record batch or reader, or the path or
fsspec URL of a Parquet file (or folder of them) or a CSV file. Everything is streamed by record
batch, so a file larger than memory goes through.

Normalisation makes the same rows give the same bytes whatever they came from: strings become
``string``, binaries ``binary``, categoricals ``dictionary<int32, string>``, timestamps
microseconds (time-zone-aware ones in UTC) and the event-time column ``timestamp[us, UTC]``
(naive times are taken as UTC; ISO-8601 text is parsed). Schema metadata (pandas, polars) is
dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidParameter, NotFound

__all__ = ["TIME_TYPE", "Source", "open_source"]

TIME_TYPE = pa.timestamp("us", tz="UTC")
BATCH_ROWS = 131_072


@dataclass
class Source:
    """A checked source: its normalised schema and a one-shot stream of normalised batches."""

    schema: pa.Schema
    uri: str
    batches: Callable[[], Iterator[pa.RecordBatch]]
    n_rows: int | None = None
    n_bytes: int | None = None  # of the file(s) or table, for progress bars


def open_source(
    source: Any, *, time_column: str | None = None, key_columns: list[str] | None = None,
    name: str = "dataset",
) -> Source:
    """Check ``source`` and return its normalised stream. Raises :class:`InvalidParameter`
    (or :class:`NotFound` for a missing path) naming the problem; reads nothing else."""
    raw_schema, uri, raw_batches, n_rows, n_bytes = _open(source)
    if len(raw_schema) == 0:
        raise InvalidParameter(f"dataset {name!r} must have at least one column. Got none.",
                               field="source")
    names = raw_schema.names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidParameter(f"column names must be unique. Got {duplicates} more than once.",
                               field="source")
    if n_rows == 0:
        raise InvalidParameter(f"dataset {name!r} must have at least one row. Got 0 rows "
                               f"from {uri}.", field="source")
    for column in [time_column] if time_column else []:
        if column not in names:
            raise InvalidParameter(
                f"time_column must be one of the columns {names}. Got {column!r} instead.",
                field="time_column",
            )
    for column in key_columns or []:
        if column not in names:
            raise InvalidParameter(
                f"key_columns must be columns of the data {names}. Got {column!r} instead.",
                field="key_columns",
            )
    target = _target_schema(raw_schema, time_column)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in raw_batches():
                if batch.num_rows:
                    yield _normalise(batch, target, time_column)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise NotFound(f"No file at {uri!r}.", field="source") from exc
            raise InvalidParameter(f"could not read {uri}: {exc}", field="source") from exc

    return Source(schema=target, uri=uri, batches=batches, n_rows=n_rows, n_bytes=n_bytes)


# ---- opening each kind of source -----------------------------------------------------------------
_Parts = tuple[pa.Schema, str, Callable[[], Iterator[pa.RecordBatch]], "int | None"]
# schema, uri, batches, rows (if known), bytes (if known)
_Opened = tuple[pa.Schema, str, Callable[[], Iterator[pa.RecordBatch]], "int | None", "int | None"]


def _open(source: Any) -> _Opened:
    if isinstance(source, (str, os.PathLike)):
        return _open_path(str(source))
    module = type(source).__module__.split(".")[0]
    if module == "pandas":
        return _from_table(_pandas_to_arrow(source), "pandas.DataFrame")
    if module == "polars":
        frame = source.collect() if hasattr(source, "collect") else source
        return _from_table(frame.to_arrow(), "polars.DataFrame")
    if isinstance(source, pa.Table):
        return _from_table(source, "pyarrow.Table")
    if isinstance(source, pa.RecordBatch):
        return _from_table(pa.Table.from_batches([source]), "pyarrow.RecordBatch")
    if isinstance(source, pa.RecordBatchReader):
        reader = source
        return reader.schema, "pyarrow.RecordBatchReader", lambda: iter(reader), None, None
    raise InvalidParameter(
        "source must be a pandas or polars DataFrame, a pyarrow Table, or the path or URL of a "
        f"Parquet or CSV file. Got {type(source).__name__} instead.",
        field="source",
    )


def _from_table(table: pa.Table, uri: str) -> _Opened:
    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=BATCH_ROWS)

    return table.schema, uri, batches, table.num_rows, table.nbytes


def _pandas_to_arrow(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        for column in frame.columns:
            try:
                pa.array(frame[column], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                kinds = sorted({type(v).__name__ for v in frame[column].dropna()})
                raise InvalidParameter(
                    f"column {str(column)!r} must hold values of one type. Got a mix of "
                    f"{', '.join(kinds)} instead.",
                    field=str(column),
                ) from exc
        raise InvalidParameter(f"could not convert the DataFrame: {exc}", field="source") from exc


def _open_path(text: str) -> _Opened:
    import fsspec

    if "://" in text and not text.startswith("file://"):
        try:
            fs, path = fsspec.core.url_to_fs(text)
        except (ValueError, ImportError) as exc:
            raise InvalidParameter(f"source URL {text!r} cannot be opened: {exc}",
                                   field="source") from exc
        if not fs.exists(path):
            raise NotFound(f"No file or folder at {text!r}.", field="source")
        is_dir = fs.isdir(path)
    else:
        path = text.removeprefix("file://")
        path = str(Path(path).expanduser())
        fs = None
        if not os.path.exists(path):
            raise NotFound(f"No file or folder at {text!r}.", field="source")
        is_dir = os.path.isdir(path)
    lower = path.lower()
    if lower.endswith((".csv", ".csv.gz", ".tsv")):
        return (*_open_csv(text, path, fs), _size(path, fs, is_dir))
    if is_dir or lower.endswith((".parquet", ".pq", ".parq")) or _looks_like_parquet(path, fs):
        return (*_open_parquet(text, path, fs, is_dir), _size(path, fs, is_dir))
    raise InvalidParameter(
        f"source must be a Parquet file (.parquet), a folder of them or a CSV file (.csv). "
        f"Got {text!r} instead.",
        field="source",
    )


def _size(path: str, fs: Any, is_dir: bool) -> int | None:
    """Bytes of a file or of the files under a folder (None if the store will not say)."""
    try:
        if fs is not None:
            return int(fs.du(path)) if is_dir else int(fs.size(path))
        if not is_dir:
            return os.path.getsize(path)
        return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
    except (OSError, TypeError, ValueError):
        return None


def _looks_like_parquet(path: str, fs: Any) -> bool:
    opener = fs.open if fs is not None else open
    try:
        with opener(path, "rb") as fh:
            return bool(fh.read(4) == b"PAR1")
    except OSError:
        return False


def _open_parquet(text: str, path: str, fs: Any, is_dir: bool) -> _Parts:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    try:
        if is_dir:
            dataset = ds.dataset(path, format="parquet", filesystem=fs)

            def batches() -> Iterator[pa.RecordBatch]:
                for fragment in dataset.get_fragments():
                    yield from fragment.to_batches(batch_size=BATCH_ROWS)

            return dataset.schema, text, batches, dataset.count_rows()
        handle = fs.open(path, "rb") if fs is not None else path
        # pre_buffer would keep every row group read so far in memory (pyarrow 26)
        parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidParameter(
            f"source {text!r} must be a readable Parquet file. It is not: {exc}",
            field="source",
        ) from exc

    def file_batches() -> Iterator[pa.RecordBatch]:
        yield from parquet.iter_batches(batch_size=BATCH_ROWS)

    return parquet.schema_arrow, text, file_batches, parquet.metadata.num_rows


def _open_csv(text: str, path: str, fs: Any) -> _Parts:
    import pyarrow.csv as pacsv

    def reader() -> pacsv.CSVStreamingReader:
        handle = fs.open(path, "rb", compression="infer") if fs is not None else path
        try:
            return pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=16 << 20),
                parse_options=pacsv.ParseOptions(delimiter="\t" if path.endswith(".tsv") else ","),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidParameter(f"source {text!r} must be a readable CSV file: {exc}",
                                   field="source") from exc

    opened = [reader()]
    schema = opened[0].schema

    def batches() -> Iterator[pa.RecordBatch]:
        yield from (opened.pop() if opened else reader())

    return schema, text, batches, None


# ---- normalising ---------------------------------------------------------------------------------
def _target_schema(schema: pa.Schema, time_column: str | None) -> pa.Schema:
    fields = []
    for f in schema:
        if f.name == time_column:
            kind = f.type
            if not (
                pa.types.is_timestamp(kind) or pa.types.is_date(kind) or _is_text(kind)
                or pa.types.is_null(kind)
            ):
                raise InvalidParameter(
                    f"time column {f.name!r} must hold timestamps, dates or ISO-8601 text. "
                    f"Got type {kind} instead.",
                    field="time_column",
                )
            fields.append(pa.field(f.name, TIME_TYPE, nullable=True))
        else:
            fields.append(pa.field(f.name, _normal_type(f.type), nullable=True))
    return pa.schema(fields)


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
    )


def _normal_type(kind: pa.DataType) -> pa.DataType:
    if _is_text(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_dictionary(kind):
        return pa.dictionary(pa.int32(), _normal_type(kind.value_type))
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC" if kind.tz else None)
    if pa.types.is_large_list(kind) or pa.types.is_list_view(kind):
        return pa.list_(_normal_type(kind.value_type))
    return kind


def _normalise(batch: pa.RecordBatch, target: pa.Schema, time_column: str | None) -> pa.RecordBatch:
    columns = []
    for f in target:
        column = batch.column(f.name)
        if f.name == time_column:
            column = _parse_times(column, f.name)
            if column.null_count:
                raise InvalidParameter(
                    f"time column {f.name!r} must have a time on every row. Got "
                    f"{column.null_count} missing value(s) instead.",
                    field="time_column",
                )
        elif column.type != f.type:
            try:
                column = column.cast(f.type, safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidParameter(
                    f"column {f.name!r} must hold values of type {f.type}. Got {column.type} "
                    f"that cannot be converted: {exc}",
                    field=f.name,
                ) from exc
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=target)


def _parse_times(column: pa.Array, name: str) -> pa.Array:
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            column = column.cast(pa.timestamp(kind.unit), safe=False)
            return column.cast(pa.timestamp("us"), safe=False).cast(TIME_TYPE)
        return column.cast(TIME_TYPE, safe=False)
    if pa.types.is_date(kind) or pa.types.is_null(kind):
        return column.cast(pa.timestamp("us")).cast(TIME_TYPE)
    for target in (TIME_TYPE, pa.timestamp("us")):
        try:
            return column.cast(target).cast(TIME_TYPE)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return _parse_times_slowly(column, name)


def _parse_times_slowly(column: pa.Array, name: str) -> pa.Array:
    """Mixed ISO-8601 forms (some with offsets, some without): parse each distinct value."""
    from ..clock import to_utc

    encoded = pc.dictionary_encode(column.cast(pa.string()))
    parsed: list[datetime | None] = []
    for value in encoded.dictionary.to_pylist():
        text = value.strip()
        try:
            parsed.append(to_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z")
                                                         else text)))
        except ValueError:
            row = column.to_pylist().index(value)
            raise InvalidParameter(
                f"time column {name!r} must hold ISO-8601 times such as '2026-03-01' or "
                f"'2026-03-01T12:00:00Z'. Got {value!r} (row {row} of its batch) instead.",
                field="time_column",
            ) from None
    values = pa.array(parsed, type=TIME_TYPE)
    return values.take(encoded.indices)

