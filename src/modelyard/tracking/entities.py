"""What tracking stores and returns: experiments, runs, metrics, run inputs and artifacts.

These pydantic models are the one shape of each concept in the SDK, the REST API and the CLI.
Times are timezone-aware UTC datetimes, except metric timestamps, which stay epoch
milliseconds (as in the ``metrics`` table) because they come in batches of thousands.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from ..clock import to_utc

__all__ = [
    "RUN_STATUSES",
    "Experiment",
    "Metric",
    "Run",
    "RunArtifact",
    "RunEnvironment",
    "RunInput",
    "RunStatus",
]


RunStatus = Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
RUN_STATUSES: tuple[str, ...] = ("RUNNING", "FINISHED", "FAILED", "KILLED")


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


def _json_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


Int64 = Annotated[int, Field(ge=-(2**63), lt=2**63)]

# A float that keeps NaN and infinities in JSON as "NaN", "Infinity", "-Infinity" (plain JSON
# has no such numbers and most encoders turn them into null); validation reads them back.
MetricValue = Annotated[float, PlainSerializer(_json_float, when_used="json")]


class Experiment(BaseModel):
    """A named group of runs (``yard.start_run(experiment="loans")`` creates it on first use)."""

    id: int
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime


class Metric(BaseModel):
    """One value of a metric at a step. ``timestamp`` is epoch milliseconds; None means now.

    NaN and infinities are valid values (a diverged loss is worth recording); in JSON they are
    the strings "NaN", "Infinity" and "-Infinity".
    """

    key: str
    value: MetricValue
    step: Int64 = 0
    timestamp: Int64 | None = None


class RunInput(BaseModel):
    """A dataset version a run read, with what it was used for.

    ``as_of`` (the point in time the rows were known) and ``window_start``/``window_end`` (an
    event-time window) describe the view the run read when it was not the whole version.
    """

    dataset: str
    version: int = Field(ge=0, lt=2**31)
    digest: str
    role: str = "training"
    as_of: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None

    utc_times = field_validator("as_of", "window_start", "window_end")(_aware)


class RunArtifact(BaseModel):
    """A file logged by a run: its path inside the run and the blob that holds its bytes."""

    path: str
    digest: str
    size: int
    created_at: datetime


class RunEnvironment(BaseModel):
    """Where a run's code came from, captured when it starts (see ``tracking.environment``).

    Who started the run is not part of it: the store records that from the principal."""

    model_config = ConfigDict(extra="forbid")

    code_commit: str | None = None
    code_dirty: bool | None = None
    code_repo: str | None = None
    source: str | None = None
    entry_point: str | None = None
    python_version: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)


class Run(RunEnvironment):
    """One execution of training code: its params, latest metric values, tags and inputs,
    plus the environment it ran in (the fields of :class:`RunEnvironment`). ``user`` is who
    started it: the principal the server authenticated (the OS user in the embedded mode)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    user: str | None = None
    experiment_id: int
    experiment: str
    name: str | None = None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    inputs: list[RunInput] = Field(default_factory=list)
    # what re-runs it (automation/retrain.py), stored at creation and never changed
    recipe: dict[str, Any] | None = None

    utc_times = field_validator("start_time", "end_time")(_aware)

    def __repr__(self) -> str:
        return (
            f"Run(id={self.id!r}, experiment={self.experiment!r}, name={self.name!r}, "
            f"status={self.status!r}, params={self.params!r}, metrics={self.metrics!r})"
        )

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while the run is still going."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()
