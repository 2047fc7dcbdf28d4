"""Records as the SDK sees them: :class:`~modelyard.predictions.entities.PredictionRecord`
from a WAL payload or a flat Parquet row, and back to a payload."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .entities import PredictionRecord

__all__ = ["from_flat", "from_payload", "to_payload"]


def to_payload(record: PredictionRecord | Mapping[str, Any]) -> dict[str, Any]:
    """The WAL payload of a record given as an entity or a dict of its fields."""
    if isinstance(record, PredictionRecord):
        data = record.model_dump()
    else:
        data = dict(record)
    t = data["time"]
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        data["time"] = int(t.timestamp() * 1_000_000)
    return data


def from_payload(p: Mapping[str, Any]) -> PredictionRecord:
    return PredictionRecord(
        id=p["id"],
        time=datetime.fromtimestamp(p["time"] / 1_000_000, tz=UTC),
        endpoint=p["endpoint"],
        route=p["route"],
        model_name=p["model_name"],
        model_version=p["model_version"],
        inputs=p.get("inputs") or {},
        outputs=p.get("outputs") or {},
        latency_ms=p.get("latency_ms") or 0.0,
        shadow=bool(p.get("shadow")),
        request_key=p.get("request_key"),
        request_id=p.get("request_id"),
    )



def from_flat(row: Mapping[str, Any]) -> PredictionRecord:
    """A record from one flat row (a dict of Parquet columns); null inputs of other schemas
    (columns a union added) are dropped."""
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    proba: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith("input."):
            if value is not None:
                inputs[key[6:]] = value
        elif key.startswith("output.proba."):
            if value is not None:
                proba[key[13:]] = value
        elif key.startswith("output.") and (value is not None or key == "output.prediction"):
            outputs[key[7:]] = value
    if proba:
        outputs["proba"] = proba
    t = row["time"]
    if isinstance(t, datetime) and t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return PredictionRecord(
        id=row["id"],
        time=t,
        endpoint=row["endpoint"],
        route=row["route"],
        model_name=row["model_name"],
        model_version=int(row["model_version"]),
        inputs=inputs,
        outputs=outputs,
        latency_ms=float(row.get("latency_ms") or 0.0),
        shadow=bool(row.get("shadow")),
        request_key=row.get("request_key"),
        request_id=row.get("request_id"),
    )
