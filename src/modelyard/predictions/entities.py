"""The logged prediction: one row of one request, as the server saw and answered it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..wal.compactor import CompactionResult  # what a compaction pass did (ground)

__all__ = ["CompactionResult", "PredictionRecord"]


class PredictionRecord(BaseModel):
    """One prediction of the log.

    ``inputs`` holds one row's features by name; ``outputs`` holds ``prediction`` and, for a
    classifier, ``proba`` (class label -> probability). ``shadow`` is true for a shadow model's
    prediction, which the client never saw. ``request_id`` ties the records of one request
    row together: it is the id the caller got back for that row, so it equals ``id`` on the
    route that answered and names the answered prediction on every shadow's record of the same
    row (ground truth given for that id applies to them all). Records logged before it existed
    have none.
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
    request_id: str | None = None
