"""What a backtest returns and stores: a record per policy and step, a summary per policy,
and the totals (trainings shared between policies, compute time, wall time)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .policies import BacktestPolicy

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BacktestResult", "PolicySummary", "StepRecord"]


class StepRecord(BaseModel):
    """One step of one policy: the window ``[start, end)`` it was evaluated on, the model in
    use (trained as of ``model_trained_at``), whether the policy retrained at ``start`` and
    why, the realised ``metric`` (and every metric computed), rows, labelled rows, drift
    share against the model's training data, and the training's seconds and rows when it
    trained (the first step, or a retrain)."""

    policy: str
    step: int
    start: datetime
    end: datetime
    model_step: int
    model_trained_at: datetime
    retrained: bool
    reason: str | None = None
    metric: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    rows: int = 0
    labelled: int = 0
    drift_share: float | None = None
    train_seconds: float | None = None
    train_rows: int | None = None


class PolicySummary(BaseModel):
    """A policy over the whole range: mean and worst metric (and the worst window's start),
    retrains (the first training not counted), trainings it used and how many of them other
    policies used too, and compute seconds as if it ran alone (trainings + evaluations)."""

    policy: str
    mean: float | None
    worst: float | None
    worst_start: datetime | None
    retrains: int
    trainings: int
    shared_trainings: int
    train_seconds: float
    eval_seconds: float

    @property
    def compute_seconds(self) -> float:
        return self.train_seconds + self.eval_seconds


class BacktestResult(BaseModel):
    """A backtest (see :func:`modelyard.automation.backtest.backtest`).

    ``trainings_requested`` counts every policy's trainings as if each ran alone;
    ``trainings_run`` the distinct ones actually run (shared where policies coincide), and
    ``saved_seconds`` the training time that sharing saved."""

    model: str
    entry_point: str
    dataset: str
    label: str
    metric: str
    higher_is_better: bool
    start: datetime
    end: datetime
    every: str
    knowledge: str
    executor: str
    policies: list[BacktestPolicy]
    steps: list[StepRecord]
    summary: list[PolicySummary]
    trainings_run: int
    trainings_requested: int
    train_seconds: float
    saved_seconds: float
    evaluations_run: int
    eval_seconds: float
    wall_seconds: float
    created_at: datetime
    run_id: str | None = None

    def policy(self, name: str) -> list[StepRecord]:
        """The steps of policy ``name``, in order."""
        return [s for s in self.steps if s.policy == name]

    def summary_of(self, name: str) -> PolicySummary:
        for s in self.summary:
            if s.policy == name:
                return s
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """Every step of every policy as a pandas DataFrame (one row each)."""
        import pandas as pd

        rows = [s.model_dump(exclude={"metrics"}) | {f"metric.{k}": v
                                                      for k, v in s.metrics.items()}
                for s in self.steps]
        return pd.DataFrame(rows)

    def table(self) -> list[list[str]]:
        """The summary as rows of text: policy, mean, worst (when), retrains, trainings
        (shared), compute seconds."""
        out = []
        for s in self.summary:
            worst = "–" if s.worst is None else \
                f"{s.worst:.4f} ({s.worst_start:%Y-%m-%d})" if s.worst_start else f"{s.worst:.4f}"
            out.append([s.policy, _fmt(s.mean), worst, str(s.retrains),
                        f"{s.trainings} ({s.shared_trainings} shared)",
                        f"{s.compute_seconds:.1f}"])
        return out

    def to_html(self, path: str | Path | None = None) -> str:
        """The self-contained HTML report (Plotly inlined); written to ``path`` if given."""
        from .report import render_backtest_html

        html = render_backtest_html(self)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html


def _fmt(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.4f}"


def summary_columns(metric: str) -> list[str]:
    return ["policy", f"mean {metric}", f"worst {metric}", "retrains", "trainings",
            "compute s"]


def as_dict(result: BacktestResult) -> dict[str, Any]:
    return result.model_dump(mode="json")
