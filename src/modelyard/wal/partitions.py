"""Where compacted Parquet lives on an artifact store, and how to list it.

    predlog/endpoint=<name>/date=<YYYY-MM-DD>/<segment-id>.parquet

One file per segment, endpoint and date; rows sorted by id.
"""

from __future__ import annotations

from datetime import date

from ..artifacts.store import ArtifactStore

__all__ = ["PREFIX", "endpoints", "partition_files", "partition_path"]

PREFIX = "predlog"


def partition_path(endpoint: str, day: str) -> str:
    """The folder (relative to the store) of one endpoint's partition of one date."""
    return f"{PREFIX}/endpoint={endpoint}/date={day}"


def endpoints(artifacts: ArtifactStore) -> list[str]:
    """The endpoints that have compacted partitions."""
    root = f"{artifacts.root}/{PREFIX}"
    if not artifacts.fs.exists(root):
        return []
    names = []
    for entry in artifacts.fs.ls(root, detail=False):
        base = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if base.startswith("endpoint="):
            names.append(base[len("endpoint="):])
    return sorted(names)


def partition_files(artifacts: ArtifactStore, endpoint: str, first: date, last: date) -> list[str]:
    """Parquet files of ``endpoint`` for the dates ``first``..``last`` (inclusive)."""
    base = artifacts.path(f"{PREFIX}/endpoint={endpoint}")
    fs = artifacts.fs
    if not fs.exists(base):
        return []
    files: list[str] = []
    lo, hi = first.isoformat(), last.isoformat()
    for entry in sorted(str(e).rstrip("/") for e in fs.ls(base, detail=False)):
        name = entry.rsplit("/", 1)[-1]
        if not name.startswith("date="):
            continue
        day = name[5:]
        if lo <= day <= hi:
            files.extend(
                sorted(str(f) for f in fs.ls(entry, detail=False)
                       if str(f).endswith(".parquet") and "/.tmp-" not in str(f))
            )
    return files
