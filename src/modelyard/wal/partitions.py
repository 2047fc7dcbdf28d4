"""Where compacted Parquet lives on an artifact store, and how to find it.

    predlog/endpoint=<name>/date=<YYYY-MM-DD>/<segment-id>.parquet         the records
    predlog/_ids/date=<YYYY-MM-DD>/<min-id>_<max-id>_<segment-id>.parquet   which endpoint has an id

A record file holds one segment's records of one endpoint and date, sorted by id, in row
groups of :data:`ROW_GROUP` rows (an id index: :data:`ID_ROW_GROUP`) (a lookup by id reads one row group, a window scan skips row
groups by their ``time`` statistics). The id index of a segment and date lists its ids (sorted)
and each one's endpoint; its name carries the id range, so ``get(id)`` lists one date folder,
opens only the index files whose range holds the id, and then one record file. Both are
written atomically (temporary name, fsync, rename) and under names that depend only on the
segment, so a compaction run again after a crash rewrites the same files.
"""

from __future__ import annotations

import io
import os
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..artifacts.store import ArtifactStore

__all__ = [
    "IDS",
    "ID_ROW_GROUP",
    "PREFIX",
    "ROW_GROUP",
    "endpoints",
    "id_index_files",
    "partition_files",
    "partition_path",
    "remove_file",
    "rewrite_file",
    "write_id_index",
    "write_partition",
]

PREFIX = "predlog"
IDS = "_ids"
ROW_GROUP = 8_192  # rows per row group of a record file
ID_ROW_GROUP = 2_048  # of an id index: a lookup reads one such group of (id, endpoint)


def partition_path(endpoint: str, day: str) -> str:
    """The folder (relative to the store) of one endpoint's partition of one date."""
    return f"{PREFIX}/endpoint={endpoint}/date={day}"


def _ls(artifacts: ArtifactStore, path: str) -> list[str]:
    try:
        return [str(e).rstrip("/") for e in artifacts.fs.ls(path, detail=False)]
    except FileNotFoundError:
        return []


def endpoints(artifacts: ArtifactStore) -> list[str]:
    """The endpoints that have compacted partitions."""
    names = []
    for entry in _ls(artifacts, f"{artifacts.root}/{PREFIX}"):
        base = entry.rsplit("/", 1)[-1]
        if base.startswith("endpoint="):
            names.append(base[len("endpoint="):])
    return sorted(names)


def _parquet(entries: list[str]) -> list[str]:
    return sorted(e for e in entries
                  if e.endswith(".parquet") and not e.rsplit("/", 1)[-1].startswith(".tmp-"))


def partition_files(artifacts: ArtifactStore, endpoint: str, first: date, last: date) -> list[str]:
    """Parquet files of ``endpoint`` for the dates ``first``..``last`` (inclusive)."""
    files: list[str] = []
    lo, hi = first.isoformat(), last.isoformat()
    for entry in sorted(_ls(artifacts, artifacts.path(f"{PREFIX}/endpoint={endpoint}"))):
        name = entry.rsplit("/", 1)[-1]
        if name.startswith("date=") and lo <= name[5:] <= hi:
            files.extend(_parquet(_ls(artifacts, entry)))
    return files


def id_index_files(artifacts: ArtifactStore, day: date, lo: str,
                   hi: str) -> list[tuple[str, str]]:
    """``(index file, segment id)`` of the id indexes of ``day`` whose id range meets
    ``[lo, hi]`` (ids as 32 lowercase hex characters)."""
    out = []
    for path in _parquet(_ls(artifacts, artifacts.path(f"{PREFIX}/{IDS}/date={day.isoformat()}"))):
        parts = path.rsplit("/", 1)[-1][: -len(".parquet")].split("_")
        if len(parts) == 3 and parts[0] <= hi and lo <= parts[1]:
            out.append((path, parts[2]))
    return out


def _write(artifacts: ArtifactStore, relative: str, table: pa.Table, row_group: int) -> str:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=row_group)
    return artifacts.write_file(relative, buf.getvalue())


def write_partition(artifacts: ArtifactStore, endpoint: str, day: str, segment_id: str,
                    table: pa.Table) -> str:
    """Write one segment's records of ``endpoint`` and ``day`` (sorted here by id)."""
    table = table.take(pc.sort_indices(table["id"]))
    return _write(artifacts, f"{partition_path(endpoint, day)}/{segment_id}.parquet", table,
                  ROW_GROUP)


def write_id_index(artifacts: ArtifactStore, day: str, segment_id: str,
                   parts: list[tuple[str, pa.Array]]) -> str:
    """Write the id index of one segment and ``day``: ``parts`` are (endpoint, its ids)."""
    ids = pa.concat_arrays([p.cast(pa.string()) for _, p in parts])
    names = pa.concat_arrays([pa.repeat(pa.scalar(e, pa.string()), len(p)) for e, p in parts])
    table = pa.table({"id": ids, "endpoint": names})
    table = table.take(pc.sort_indices(table["id"]))
    lo, hi = table["id"][0].as_py(), table["id"][-1].as_py()
    return _write(artifacts, f"{PREFIX}/{IDS}/date={day}/{lo}_{hi}_{segment_id}.parquet", table,
                  ID_ROW_GROUP)


def _relative(artifacts: ArtifactStore, path: str) -> str:
    root = artifacts.root.rstrip("/") + "/"
    if not path.startswith(root):
        raise ValueError(f"{path!r} is not under the store's root {artifacts.root!r}")
    return path[len(root):]


def rewrite_file(artifacts: ArtifactStore, path: str, table: pa.Table) -> str:
    """Replace the record file or id index at ``path`` (a full path under the store) by
    ``table`` atomically, under the same name (still sorted by id: rows were only left out;
    an id index keeps its name's id range, which still holds every id left)."""
    row_group = ID_ROW_GROUP if f"/{IDS}/" in path else ROW_GROUP
    return _write(artifacts, _relative(artifacts, path), table, row_group)


def remove_file(artifacts: ArtifactStore, path: str) -> None:
    """Delete a record file or id index that no longer holds a row."""
    try:
        if artifacts.is_local:
            os.unlink(path)
        else:
            artifacts.fs.rm(path)
    except FileNotFoundError:
        pass
