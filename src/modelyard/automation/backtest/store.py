"""Backtests are stored as runs (experiment ``backtests``, tag ``modelyard.backtest``): the
parameters, each policy's summary as metrics (``<policy>.mean_<metric>``, ``.worst_…``,
``.retrains``, ``.compute_seconds``), its metric over the steps as a metric history (step =
step index; the dashboard draws it), and two artifacts: ``backtest/result.json`` (the whole
:class:`BacktestResult`) and ``backtest/report.html``.

    result = load_result(yard, run_id)
    yard.runs.search("tags.`modelyard.backtest` = 'loans'")
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from ...tracking.entities import Metric
from .results import BacktestResult

__all__ = ["BACKTEST_TAG", "EXPERIMENT", "load_result", "save_result"]

EXPERIMENT = "backtests"
BACKTEST_TAG = "modelyard.backtest"
RESULT = "backtest/result.json"
REPORT = "backtest/report.html"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def save_result(yard: Any, result: BacktestResult) -> str:
    """Store ``result`` as a run; returns its id."""
    name = f"{result.model} {result.start:%Y-%m-%d}..{result.end:%Y-%m-%d} every {result.every}"
    params = {"model": result.model, "entry_point": result.entry_point,
              "dataset": result.dataset, "label": result.label, "metric": result.metric,
              "start": result.start.isoformat(), "end": result.end.isoformat(),
              "every": result.every, "knowledge": result.knowledge,
              "executor": result.executor,
              "policies": ", ".join(p.name for p in result.policies)}
    with yard.start_run(experiment=EXPERIMENT, name=name, params=params,
                        tags={BACKTEST_TAG: result.model}) as run:
        values: dict[str, float] = {
            "trainings_run": result.trainings_run,
            "trainings_requested": result.trainings_requested,
            "train_seconds": result.train_seconds, "saved_seconds": result.saved_seconds,
            "wall_seconds": result.wall_seconds}
        for s in result.summary:
            values[f"{s.policy}.retrains"] = s.retrains
            values[f"{s.policy}.compute_seconds"] = s.compute_seconds
            if _finite(s.mean):
                values[f"{s.policy}.mean_{result.metric}"] = s.mean  # type: ignore[assignment]
            if _finite(s.worst):
                values[f"{s.policy}.worst_{result.metric}"] = s.worst  # type: ignore[assignment]
        run.log_metrics(values)
        run.log_batch([Metric(key=f"{s.policy}.{result.metric}", value=s.metric, step=s.step,
                              timestamp=int(s.start.timestamp() * 1000))
                       for s in result.steps if _finite(s.metric)])
        stored = result.model_copy(update={"run_id": run.id})
        with tempfile.TemporaryDirectory(prefix="modelyard-backtest-") as tmp:
            (Path(tmp) / "result.json").write_text(stored.model_dump_json(), encoding="utf-8")
            (Path(tmp) / "report.html").write_text(stored.to_html(), encoding="utf-8")
            run.log_artifact(Path(tmp) / "result.json", RESULT)
            run.log_artifact(Path(tmp) / "report.html", REPORT)
        return str(run.id)


def load_result(yard: Any, run_id: str) -> BacktestResult:
    """The :class:`BacktestResult` a backtest run stored."""
    with tempfile.TemporaryDirectory(prefix="modelyard-backtest-") as tmp:
        path = yard.runs.download_artifact(run_id, RESULT, Path(tmp) / "result.json")
        return BacktestResult.model_validate_json(Path(path).read_bytes())
