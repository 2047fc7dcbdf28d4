"""Code run in child processes and threads by the concurrency tests (importable under spawn)."""

from __future__ import annotations

from pathlib import Path

import modelyard as my
from modelyard.tracking.entities import Metric


def log_many(yard: my.Yard, shared_run: str, worker: int, n: int) -> str:
    """Log ``n`` metric values one call at a time to a shared run and to a run of its own."""
    with yard.start_run(experiment="concurrent", name=f"worker-{worker}") as run:
        for step in range(n):
            run.log_metric("own", float(step), step=step)
            yard.backend.tracking.log_metrics(
                shared_run, [Metric(key=f"w{worker}", value=step, step=step)]
            )
            if step % 10 == 0:
                run.log_param(f"p{step}", step)
    return run.id


def log_many_in_process(db_url: str, artifacts: str, home: str, shared_run: str, worker: int,
                        n: int) -> str:
    yard = my.connect(db_url, artifacts=artifacts, home=Path(home))
    try:
        return log_many(yard, shared_run, worker, n)
    finally:
        yard.close()
