"""Records as the log stores them: the WAL payload (a nested dict) and the flat Arrow table
the compactor writes as Parquet (the entity view is ``predictions.records``).

Flat columns: ``id, time, endpoint, route, model_name, model_version, latency_ms, shadow,
request_key, request_id``, then ``input.<feature>`` per feature and ``output.prediction`` (+
``output.proba.<class>``, and ``output.<name>`` for any other output).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import pyarrow as pa
import uuid_utils

from ..clock import Clock, SystemClock

__all__ = ["BASE_COLUMNS", "TIME_TYPE", "new_prediction_id", "to_table"]

BASE_COLUMNS = (
    "id", "time", "endpoint", "route", "model_name", "model_version", "latency_ms", "shadow",
    "request_key", "request_id",
)
_BASE_TYPES = {
    "id": pa.string(),
    "endpoint": pa.string(),
    "route": pa.string(),
    "model_name": pa.string(),
    "model_version": pa.int64(),
    "latency_ms": pa.float64(),
    "shadow": pa.bool_(),
    "request_key": pa.string(),
    "request_id": pa.string(),
}
TIME_TYPE = pa.timestamp("us", tz="UTC")


def new_prediction_id(clock: Clock | None = None) -> tuple[str, int]:
    """A UUIDv7 id and its time in epoch microseconds (ms precision: the id's own time), so
    the id alone tells which date partition holds the record."""
    if clock is None or isinstance(clock, SystemClock):
        u = uuid_utils.uuid7()
    else:
        u = uuid_utils.uuid7(nanoseconds=clock.millis() * 1_000_000)
    return u.hex, u.timestamp * 1000


def _output_columns(outputs: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key, value in outputs.items():
        if key == "proba" and isinstance(value, Mapping):
            for cls, p in value.items():
                yield f"output.proba.{cls}", p
        else:
            yield f"output.{key}", value


def _array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array(
            [None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
             for v in values],
            pa.string(),
        )


def to_table(payloads: list[Mapping[str, Any]]) -> pa.Table:
    """The flat Arrow table of WAL payloads (columns in first-seen order)."""
    n = len(payloads)
    columns: dict[str, list[Any]] = {}
    for i, p in enumerate(payloads):
        for key, value in (p.get("inputs") or {}).items():
            col = columns.get(f"input.{key}")
            if col is None:
                col = columns[f"input.{key}"] = [None] * n
            col[i] = value
        for key, value in _output_columns(p.get("outputs") or {}):
            col = columns.get(key)
            if col is None:
                col = columns[key] = [None] * n
            col[i] = value
    arrays: dict[str, pa.Array] = {}
    for name in BASE_COLUMNS:
        if name == "time":
            arrays[name] = pa.array([p["time"] for p in payloads], pa.int64()).cast(TIME_TYPE)
        else:
            arrays[name] = pa.array([p.get(name) for p in payloads], _BASE_TYPES[name])
    inputs = sorted((k for k in columns if k.startswith("input.")), key=list(columns).index)
    outputs = [k for k in columns if k.startswith("output.")]
    outputs.sort(key=lambda k: (k != "output.prediction", list(columns).index(k)))
    for name in inputs + outputs:
        arrays[name] = _array(columns[name])
    return pa.table(arrays)


