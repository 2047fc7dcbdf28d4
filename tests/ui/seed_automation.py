"""A yard with the automation the dashboard shows, made the way a user makes it, on a clock the
seed moves: a champion in a protected production alias with a validation suite, and retrain
policies that the scheduler (in this process) ran to every outcome there is:

- ``hourly`` (every 1 h, deploy to the alias, watch accuracy on the endpoint): trained
  cancer/2, passed the gate, moved production, then the labels that came back for its
  predictions were wrong, so the watch rolled production back to 1;
- ``constant`` (a manual run, a model that always says 0): refused by the gate;
- ``flaky`` (the training raises): failed with its traceback;
- ``register`` (deploy nothing): registered and validated, succeeded;
- ``nightly`` (cron at 03:00 Paris time, disabled): no job yet.

An audit checkpoint is signed at the end. Used by the browser tests of the automation, validation
and audit pages and by ``scripts/ui_screenshots.py``."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

import modelyard as my
from automation.conftest import SUITE, TRAINING, cancer_rows  # tests/automation's loop helpers
from modelyard.automation.retrain import run_training
from modelyard.automation.scheduler import Scheduler

ENDPOINT = "cancer"


def _policy(entry: str, folder: Path, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": "cancer", "entry_point": entry, "code_path": str(folder),
        "data": {"train": {"dataset": "cancer", "last": "200d"}},
        "triggers": [], "deploy": {"mode": "alias", "alias": "production"}, "retries": 0,
    }
    spec.update(extra)
    return spec


def _wrong_traffic(yard: my.Yard, version: int, rows: pd.DataFrame, n: int = 60) -> list[str]:
    """``n`` predictions of cancer/``version`` on the endpoint, and labels that say each was
    wrong (the world changed for this model)."""
    model = yard.models.load(f"cancer/{version}")
    X = rows.drop(columns=["ts", "target"]).head(n)
    predicted = [int(p) for p in model.predict(X)]
    ids = yard.predictions.log([
        {"endpoint": ENDPOINT, "route": "main", "model_name": "cancer", "model_version": version,
         "latency_ms": 3.0, "inputs": dict(zip(X.columns, map(float, row))),
         "outputs": {"prediction": p}}
        for row, p in zip(X.to_numpy(), predicted)])
    yard.monitoring.feedback(ids, [1 - p for p in predicted])
    return ids


def seed_automation(yard: my.Yard, project: Path) -> dict[str, Any]:
    """Fill ``yard`` (with a :class:`~modelyard.clock.FixedClock`) as the module docstring
    says; ``project``: a folder for the training module (put on ``sys.path``)."""
    clock = yard.clock
    project.mkdir(parents=True, exist_ok=True)
    module = f"ui_loop_{abs(hash(str(project))) % 10**8}"
    (project / f"{module}.py").write_text(TRAINING)
    sys.path.insert(0, str(project))
    entry = f"{module}:train"
    rows = cancer_rows(pd.Timestamp(clock.now()))
    yard.datasets.add("cancer", rows, time_column="ts")
    train = yard.datasets.window("cancer", clock.now() - timedelta(days=200), clock.now())
    v1 = run_training(yard, entry, model_name="cancer", data={"train": train}, code_path=project)
    yard.models.set_alias("cancer", "production", v1.version)
    yard.validation.set_suite("cancer", yaml=SUITE)
    yard.validation.protect("cancer", "production")
    champion_report = yard.validation.run(f"cancer/{v1.version}")

    yard.automation.policy("hourly", _policy(
        entry, project, triggers=[{"type": "every", "every": "1h"}],
        watch={"period": "1d", "every": "5m", "endpoint": ENDPOINT, "min_rows": 30,
               "thresholds": [{"metric": "accuracy", "op": "<", "threshold": 0.8}]}))
    sched = Scheduler.for_yard(yard, owner="ui-seed")
    clock.advance(3600)
    [hourly] = sched.tick()
    assert hourly.status == "waiting", (hourly.status, hourly.error)
    yard.automation.disable("hourly")  # one job of it is enough
    clock.advance(60)
    _wrong_traffic(yard, int(hourly.model_version.rsplit("/", 1)[1]), rows)  # type: ignore[union-attr]
    clock.advance(300)
    [hourly] = sched.tick()
    assert hourly.status == "rolled_back", (hourly.status, hourly.error)

    yard.automation.policy("constant", _policy(entry, project, params={"kind": "constant"}))
    yard.automation.run_now("constant", reason="try the baseline")
    [constant] = sched.tick()
    assert constant.status == "refused", (constant.status, constant.error)

    yard.automation.policy("flaky", _policy(entry, project, params={"fail": True}))
    yard.automation.run_now("flaky")
    [flaky] = sched.tick()
    assert flaky.status == "failed", flaky.status

    yard.automation.policy("register", _policy(entry, project, deploy={"mode": "none"}))
    yard.automation.run_now("register")
    [register] = sched.tick()
    assert register.status == "succeeded", (register.status, register.error)

    yard.automation.policy("nightly", _policy(
        entry, project, triggers=[{"type": "cron", "cron": "0 3 * * *",
                                   "timezone": "Europe/Paris"}]), enabled=False)
    checkpoint = yard.backend.audit.checkpoint()
    return {"jobs": {"hourly": hourly.id, "constant": constant.id, "flaky": flaky.id,
                     "register": register.id},
            "champion_report": champion_report.id, "checkpoint": checkpoint,
            "versions": {"hourly": hourly.model_version, "constant": constant.model_version,
                         "register": register.model_version}}
