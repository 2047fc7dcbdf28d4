"""modelyard.tracking: experiments and runs (params, metrics, tags, inputs, artifacts), the run
filter language, environment capture and autolog.

The SDK is reached through a yard (``yard.runs``, ``yard.experiments``, ``yard.start_run``,
``yard.autolog()``); the names below are its types.
"""

from .entities import Experiment, Metric, Run, RunArtifact, RunEnvironment, RunInput, RunStatus
from .runs import ActiveRun, Experiments, Runs, active_run

__all__ = [
    "ActiveRun",
    "Experiment",
    "Experiments",
    "Metric",
    "Run",
    "RunArtifact",
    "RunEnvironment",
    "RunInput",
    "RunStatus",
    "Runs",
    "active_run",
]
