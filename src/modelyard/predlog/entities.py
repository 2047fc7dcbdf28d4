"""The logged prediction: one row of one request, as the server saw and answered it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CompactionResult", "PredictionRecord"]


class PredictionRecord(BaseModel):
    """One prediction of the log.

    ``inputs`` holds one row's features by name; ``outputs`` holds ``prediction`` and, for a
    classifier, ``proba`` (class label -> probability). ``shadow`` is true for a shadow model's
    prediction, which the client never saw.
    """

    id: str
    time: datetime
    endpoint: str
    route: str
    model_name: str
    model_version: int
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    latency_ms: float = 0.0
    shadow: bool = False
    request_key: str | None = None


class CompactionResult(BaseModel):
    """What one compaction pass did."""

    segments: int = 0
    records: int = 0
    files: list[str] = Field(default_factory=list)
