"""Ground truth checked against the predictions it labels.

A label is compared with its prediction as text when a window is evaluated (``1``, ``1.0`` and
``"1"`` are one class; ``True`` is ``"true"``; see :mod:`.performance`), so a label the model
can never predict — ``"approved"`` for a 0/1 classifier — would silently count as a miss on
every row and wreck precision and recall. :func:`label_domains` reads, for each labelled id,
what its model answered (from the prediction log: the compacted partitions of the id's date,
then this machine's pending segments), and :class:`LabelDomain` says which labels fit it:

* the model logged class probabilities: the label must be one of those classes;
* otherwise, by the type of the logged prediction: an integer prediction takes an integer
  label, a boolean one ``true``/``false`` (or 1/0), a float one any number; a string
  prediction takes any label (its classes are not known).

Ids not found in the log (a label may come before its prediction is compacted on another
machine) are not checked here; the evaluation leaves such labels out of the figures when they
do not fit and says so in a finding.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..artifacts.store import ArtifactStore
from ..ids import uuid7_time
from ..wal.partitions import endpoints as log_endpoints
from ..wal.partitions import partition_files
from ..wal.segments import list_segments, read_records, wal_dir

__all__ = ["LabelDomain", "class_text", "label_domains", "label_text"]

_PROBA = "output.proba."
_INTEGER = re.compile(r"-?\d+")


def label_text(value: Any) -> str:
    """A label as the class text it is compared with (``True`` -> ``"true"``, ``1.0`` -> ``"1"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def class_text(name: str) -> str:
    """A logged class name (``str()`` of the model's class) as label text."""
    return name.lower() if name in ("True", "False") else name


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class LabelDomain:
    """What labels fit the predictions of one model version (see the module docstring).

    ``kind``: ``classes`` (``classes`` holds the class texts), ``integer``, ``bool``,
    ``number`` or ``string``."""

    model: str
    kind: str
    classes: tuple[str, ...] = ()

    def accepts(self, label: Any) -> bool:
        if self.kind == "classes":
            return label_text(label) in self.classes
        if self.kind == "integer":
            return not isinstance(label, bool) and _INTEGER.fullmatch(label_text(label)) is not None
        if self.kind == "bool":
            return label_text(label) in ("true", "false", "0", "1")
        if self.kind == "number":
            return _is_number(label)
        return True

    def expected(self) -> str:
        """What fits, for an error message: ``one of the classes of loans/1 ('0', '1')``."""
        if self.kind == "classes":
            return (f"one of the classes of model {self.model} "
                    f"({', '.join(repr(c) for c in self.classes)})")
        what = {"integer": "an integer class", "bool": "true or false", "number": "a number",
                "string": "a label"}[self.kind]
        return f"{what}, as model {self.model} predicts"


def _domain(row: dict[str, Any]) -> LabelDomain:
    model = f"{row.get('model_name')}/{row.get('model_version')}"
    classes = sorted(class_text(k[len(_PROBA):]) for k, v in row.items()
                     if k.startswith(_PROBA) and v is not None)
    if classes:
        return LabelDomain(model, "classes", tuple(classes))
    pred = row.get("output.prediction")
    if isinstance(pred, bool):
        return LabelDomain(model, "bool")
    if isinstance(pred, int):
        return LabelDomain(model, "integer")
    if isinstance(pred, float):
        return LabelDomain(model, "number")
    return LabelDomain(model, "string")


def _flat(payload: dict[str, Any]) -> dict[str, Any]:
    row = {"model_name": payload.get("model_name"), "model_version": payload.get("model_version")}
    outputs = payload.get("outputs") or {}
    row["output.prediction"] = outputs.get("prediction")
    for cls, p in (outputs.get("proba") or {}).items():
        row[f"{_PROBA}{cls}"] = p
    return row


def label_domains(artifacts: ArtifactStore, log_dir: Any, ids: Iterable[str],
                  endpoint: str | None = None) -> dict[str, LabelDomain]:
    """The domain of each id found in the prediction log (ids as 32 lowercase hex). Reads only
    the partitions of the ids' dates (of ``endpoint``, or of every endpoint), and of those
    only the rows with these ids and the model and output columns."""
    by_day: dict[Any, set[str]] = defaultdict(set)
    for pid in ids:
        by_day[uuid7_time(pid).date()].add(pid)
    if not by_day:
        return {}
    found: dict[str, LabelDomain] = {}
    seen: dict[LabelDomain, LabelDomain] = {}
    fs = None if artifacts.is_local else artifacts.fs
    names = [endpoint] if endpoint is not None else log_endpoints(artifacts)
    for day, wanted in sorted(by_day.items()):
        for name in names:
            for path in partition_files(artifacts, name, day, day):
                missing = sorted(wanted - found.keys())
                if not missing:
                    break
                for row in _rows_with_ids(path, fs, missing):
                    d = _domain(row)
                    found[row["id"]] = seen.setdefault(d, d)
    rest = {pid for w in by_day.values() for pid in w} - found.keys()
    if rest and log_dir is not None:
        lo = min(uuid7_time(p) for p in rest)
        hi = max(uuid7_time(p) for p in rest)
        lo_us, hi_us = _us(lo), _us(hi) + 1000
        for seg in list_segments(wal_dir(log_dir)):
            for rec in read_records(seg.path):
                pid = rec.get("id")
                if pid in rest and lo_us <= rec["time"] <= hi_us \
                        and (endpoint is None or rec.get("endpoint") == endpoint):
                    d = _domain(_flat(rec))
                    found[pid] = seen.setdefault(d, d)
    return found


def _rows_with_ids(path: str, fs: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The model and output columns of the rows of one file whose id is in ``ids`` (sorted);
    row groups whose ``id`` statistics hold none of them are skipped unread (ids are
    time-ordered, so a lookup usually reads one row group of one file, or none)."""
    f = pq.ParquetFile(path, filesystem=fs)
    names = f.schema_arrow.names
    if "id" not in names:
        return []
    cols = [c for c in names if c in ("id", "model_name", "model_version", "output.prediction")
            or c.startswith(_PROBA)]
    meta, at = f.metadata, names.index("id")
    out: list[dict[str, Any]] = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(at).statistics
        if stats is not None and stats.has_min_max:
            lo, hi = bisect_left(ids, stats.min), bisect_right(ids, stats.max)
            if lo == hi:
                continue
            candidates = ids[lo:hi]
        else:
            candidates = ids
        hits = pc.indices_nonzero(pc.is_in(f.read_row_group(i, columns=["id"])["id"],
                                           pa.array(candidates)))
        if len(hits):
            out += f.read_row_group(i, columns=cols).take(hits).to_pylist()
    return out


def _us(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp() * 1_000_000)
