"""Several runs side by side: which params differ, their metrics, their metric histories
(downsampled in the database), and the data each one read.

    cmp = compare_runs(yard.runs, [run_a, run_b, run_c])
    [p.key for p in cmp.params if p.differs]      # the params that tell the runs apart
    cmp.histories["loss"]                         # one downsampled series per run
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from ..errors import InvalidParameter
from .entities import Metric, Run

__all__ = ["MAX_COMPARED", "ComparedValue", "RunComparison", "RunSource", "Series",
           "compare_runs"]

MAX_COMPARED = 12


class RunSource(Protocol):
    """What a comparison reads: ``yard.runs``."""

    def get(self, run_id: str) -> Run: ...

    def metric_history(self, run_id: str, key: str, *,
                       max_points: int | None = None) -> list[Metric]: ...


class ComparedValue(BaseModel):
    """One param, metric or data input across the runs (None where a run has none)."""

    key: str
    values: list[str | float | None]
    differs: bool


class Series(BaseModel):
    run_id: str
    steps: list[int] = Field(default_factory=list)
    values: list[float | None] = Field(default_factory=list)


class RunComparison(BaseModel):
    runs: list[Run]
    params: list[ComparedValue] = Field(default_factory=list)
    metrics: list[ComparedValue] = Field(default_factory=list)
    inputs: list[ComparedValue] = Field(default_factory=list)  # key: dataset role/name
    histories: dict[str, list[Series]] = Field(default_factory=dict)


def _row(key: str, values: list[str | float | None]) -> ComparedValue:
    return ComparedValue(key=key, values=values, differs=len({repr(v) for v in values}) > 1)


def compare_runs(runs: RunSource, run_ids: Sequence[str], *,
                 max_points: int = 400) -> RunComparison:
    """Compare 1 to 12 runs (raises NotFound for an unknown id). Metric histories with more
    than one step come back downsampled to about ``max_points`` points per run."""
    ids = list(dict.fromkeys(run_ids))  # each run once, in the order given
    if not 1 <= len(ids) <= MAX_COMPARED:
        raise InvalidParameter(
            f"run_ids must name 1 to {MAX_COMPARED} runs. Got {len(ids)} instead.",
            field="run_ids")
    got = [runs.get(i) for i in ids]
    out = RunComparison(runs=got)
    for key in sorted({k for r in got for k in r.params}):
        out.params.append(_row(key, [r.params.get(key) for r in got]))
    for key in sorted({k for r in got for k in r.metrics}):
        out.metrics.append(_row(key, [r.metrics.get(key) for r in got]))
    roles: dict[str, list[str | None]] = {}
    for i, r in enumerate(got):
        for inp in r.inputs:
            slot = roles.setdefault(f"{inp.role}: {inp.dataset}", [None] * len(got))
            slot[i] = f"{inp.dataset}/{inp.version}"
    for key in sorted(roles):
        out.inputs.append(_row(key, list(roles[key])))
    for row in out.metrics:
        series = []
        for r in got:
            if row.key not in r.metrics:
                continue
            history = runs.metric_history(r.id, row.key, max_points=max_points)
            series.append(Series(run_id=r.id, steps=[m.step for m in history],
                                 values=[_finite(m.value) for m in history]))
        if any(len(s.steps) > 1 for s in series):
            out.histories[row.key] = series
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
