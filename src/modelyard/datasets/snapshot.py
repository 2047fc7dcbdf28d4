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
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterable
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
# a column whose dictionary outgrows this (event times, ids, measurements) goes on in plain
# encoding: smaller and faster than a dictionary of mostly distinct values
DICTIONARY_PAGE_BYTES = 128 * 1024
ENCODERS = max(1, min(4, os.cpu_count() or 1))  # fragments encoded at once
QUEUED_CHUNKS = 2  # row groups waiting per fragment


@dataclass
class WrittenFragment:
    path: Path
    digest: str
    n_rows: int
    n_bytes: int
    sketch: dict[str, Any]


class _FragmentWriter:
    """One fragment being written on two threads of its own, one encoding its chunks and one
    profiling them (pyarrow and numpy release the GIL), so several fragments encode and profile
    at once while the caller reads the source. At most ``QUEUED_CHUNKS`` chunks wait per
    fragment and ``ENCODERS`` fragments are open: memory stays bounded whatever the size of the
    data."""

    def __init__(self, schema: pa.Schema, workdir: Path, seed: int,
                 keep: Callable[[Path], str]) -> None:
        self.path = workdir / f"fragment-{new_id()}.parquet"
        self.keep = keep
        self.writer = pq.ParquetWriter(
            self.path,
            schema,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
            write_statistics=True,
        )
        self.profiler = FragmentProfiler(schema, seed)
        self.n_rows = 0
        # each thread sees the chunks in order
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-encode")
        self._profiling = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-profile")
        self._queued: deque[tuple[Future[None], Future[None]]] = deque()
        self.closing: Future[WrittenFragment] | None = None

    def _profile(self, chunk: pa.Table) -> None:
        for batch in chunk.to_batches():
            self.profiler.update(batch)

    def write(self, chunk: pa.Table) -> None:
        while len(self._queued) >= QUEUED_CHUNKS:
            for queued in self._queued.popleft():
                queued.result()
        self._queued.append((
            self._worker.submit(self.writer.write_table, chunk, row_group_size=ROW_GROUP_ROWS),
            self._profiling.submit(self._profile, chunk),
        ))
        self.n_rows += chunk.num_rows

    def finish(self) -> None:
        """Close the file once its chunks are written (on the encoding thread), and sketch the
        profile meanwhile (on the profiling thread)."""
        sketching = self._profiling.submit(self.profiler.sketch)  # after every chunk's update
        self.closing = self._worker.submit(self._close, sketching)
        self._worker.shutdown(wait=False)
        self._profiling.shutdown(wait=False)

    def _close(self, sketching: Future[dict[str, Any]]) -> WrittenFragment:
        try:
            for pair in self._queued:  # written by now (one thread, in order); profiled soon
                for queued in pair:
                    queued.result()
        finally:
            self.writer.close()
        n_bytes = self.path.stat().st_size
        digest = self.keep(self.path)  # hashed (and stored) on this thread too
        return WrittenFragment(path=self.path, digest=digest, n_rows=self.n_rows,
                               n_bytes=n_bytes, sketch=sketching.result())

    def abandon(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._profiling.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):  # the error that got us here matters more
            self.writer.close()


def write_fragments(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, workdir: Path, *, seed: int = 0,
    keep: Callable[[Path], str] = sha256_file,
) -> list[WrittenFragment]:
    """Write ``batches`` (already normalised to ``schema``) under ``workdir``. ``keep`` is
    called with each finished file on its writer's thread and returns its digest: by default
    it only hashes the file; a local artifact store can take the file in there and then
    (``put_file(path, move=True)``), so no fragment is read again or copied."""
    fragments: list[_FragmentWriter] = []
    current: _FragmentWriter | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def emit(chunk: pa.Table) -> None:
        nonlocal current
        if current is None:
            busy = [f.closing for f in fragments if f.closing is not None and not f.closing.done()]
            if len(busy) >= ENCODERS:
                busy[0].result()
            current = _FragmentWriter(schema, workdir,
                                      zlib.crc32(f"{seed}:{len(fragments)}".encode()), keep)
            fragments.append(current)
        current.write(_contiguous(chunk))
        if current.n_rows >= FRAGMENT_ROWS:
            current.finish()
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
            current.finish()
            current = None
        return [f.closing.result() for f in fragments if f.closing is not None]
    except BaseException:
        for f in fragments:
            f.abandon()
        raise


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
