"""Backtests of retraining policies: replay history with dataset time travel and compare
policies (never, every N weeks, on drift, on a performance drop …) by realised metric,
retrains and compute.

    result = yard.backtest("loans@production", start="2025-01-01", end="2026-01-01",
                           every="1w", policies=["never", "every:4w", "drift:0.3",
                                                 "performance:accuracy<0.85"],
                           label="default", executor="dask://host:8786")
    result.summary, result.to_frame(), result.to_html("backtest.html"), result.run_id

See :mod:`.engine` for how steps are decided and run, :mod:`.policies` for the policy
files, :mod:`.store` for how results are kept.
"""

from .engine import TrainingPlan, backtest
from .policies import BacktestPolicy, load_policies
from .results import BacktestResult, PolicySummary, StepRecord
from .store import load_result

__all__ = [
    "BacktestPolicy",
    "BacktestResult",
    "PolicySummary",
    "StepRecord",
    "TrainingPlan",
    "backtest",
    "load_policies",
    "load_result",
]
