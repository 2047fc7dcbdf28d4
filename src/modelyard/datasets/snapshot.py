"""Writing a stream of normalised batches as content-addressed Parquet fragments.

Rows are cut into row groups of exactly ``ROW_GROUP_ROWS`` rows and fragments of
``FRAGMENT_ROWS`` rows (the last ones shorter), whatever the batch sizes of the source, and each
row group is written from one contiguous chunk with fixed writer settings: the same rows and
schema give the same bytes, hence the same digests (for one pyarrow version, which the Parquet
footer names). Each fragment is profiled in the same pass (:mod:`.profile`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..artifacts.store import sha256_file
from ..ids import new_id
from .profile import FragmentProfiler

__all__ = [
    "FRAGMENT_ROWS",
    "ROW_GROUP_ROWS",
    "WrittenFragment",
    "schema_to_json",
    "version_digest",
    "write_fragments",
]

ROW_GROUP_ROWS = 131_072
FRAGMENT_ROWS = 8 * ROW_GROUP_ROWS
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1


@dataclass
class WrittenFragment:
    path: Path
    digest: str
    n_rows: int
    n_bytes: int
    sketch: dict[str, Any]


class _FragmentWriter:
    """One fragment being written. Encoding runs on ``encoder`` (a one-thread pool: pyarrow
    releases the GIL) while the caller reads and profiles the next chunk; at most one chunk
    waits, so memory stays bounded."""

    def __init__(self, schema: pa.Schema, workdir: Path, seed: int,
                 encoder: ThreadPoolExecutor) -> None:
        self.schema = schema
        self.path = workdir / f"fragment-{new_id()}.parquet"
        self.writer = pq.ParquetWriter(
            self.path,
            schema,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            write_statistics=True,
        )
        self.profiler = FragmentProfiler(schema, seed)
        self.n_rows = 0
        self._encoder = encoder
        self._pending: Future[None] | None = None

    def write(self, chunk: pa.Table) -> None:
        self._wait()
        self._pending = self._encoder.submit(
            self.writer.write_table, chunk, row_group_size=ROW_GROUP_ROWS
        )
        for batch in chunk.to_batches():
            self.profiler.update(batch)
        self.n_rows += chunk.num_rows

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> WrittenFragment:
        try:
            self._wait()
        finally:
            self.writer.close()
        return WrittenFragment(
            path=self.path,
            digest=sha256_file(self.path),
            n_rows=self.n_rows,
            n_bytes=self.path.stat().st_size,
            sketch=self.profiler.sketch(),
        )


def write_fragments(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, workdir: Path, *, seed: int = 0
) -> list[WrittenFragment]:
    """Write ``batches`` (already normalised to ``schema``) under ``workdir``."""
    done: list[WrittenFragment] = []
    current: _FragmentWriter | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-parquet")

    def emit(chunk: pa.Table) -> None:
        nonlocal current
        if current is None:
            seed_k = zlib.crc32(f"{seed}:{len(done)}".encode())
            current = _FragmentWriter(schema, workdir, seed_k, encoder)
        current.write(_contiguous(chunk))
        if current.n_rows >= FRAGMENT_ROWS:
            done.append(current.close())
            current = None

    try:
        for batch in batches:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(pending, schema)
                emit(table.slice(0, ROW_GROUP_ROWS))
                rest = table.slice(ROW_GROUP_ROWS)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            emit(pa.Table.from_batches(pending, schema))
        if current is not None:
            done.append(current.close())
            current = None
    finally:
        if current is not None:
            with contextlib.suppress(Exception):  # the error that got us here matters more
                current._wait()
            current.writer.close()
        encoder.shutdown(wait=True)
    return done


def _contiguous(table: pa.Table) -> pa.Table:
    """One chunk per column, so page boundaries depend on the rows only."""
    if all(column.num_chunks <= 1 for column in table.columns):
        return table
    if any(pa.types.is_dictionary(f.type) for f in table.schema):
        table = table.unify_dictionaries()
    return table.combine_chunks()


def schema_to_json(schema: pa.Schema) -> list[dict[str, Any]]:
    """The columns of ``schema`` as :class:`~.entities.ColumnSchema` dicts."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def version_digest(schema: list[dict[str, Any]], fragment_digests: list[str]) -> str:
    """The content address of a version: its column names and types plus its fragments."""
    canonical = {
        "schema": [[c["name"], c["type"]] for c in schema],
        "fragments": fragment_digests,
    }
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()
