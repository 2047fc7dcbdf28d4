"""The loop unattended, end to end, on real parts: a model server over HTTP (its prediction log
and canaries in the yard), a ``modelyard scheduler`` process running a monitor policy and a
retrain policy, and the test as the world: it sends traffic and, later, the true labels.

1. drifted traffic -> the monitor opens a drift alert -> retrain -> validate -> canary ->
   promoted (and watched without a breach);
2. the retrained model is worse: the gate refuses it, production stays, a webhook says so;
3. new data -> retrain -> passes the gate -> production moves -> the labels that come back say
   it is wrong -> rolled back automatically within the watch period.
"""

from __future__ import annotations

import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import modelyard as my
from modelyard.automation.retrain import run_training
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import EndpointConfig, RouteConfig
from modelyard.serving.options import ServerOptions
from modelyard.serving.repository import ServingRepository
from modelyard.serving.testing import serve_in_thread

from .conftest import TRAINING, Receiver, cancer_rows, wait_until
from .processes import SchedulerProcess

pytestmark = pytest.mark.timeout(900)

FEATURES = 30


@dataclass
class World:
    yard: my.Yard
    url: str
    entry: str
    folder: Path
    serving: ServingRepository
    receiver: Receiver
    scheduler: SchedulerProcess


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("loop")
    folder = root / "project"
    folder.mkdir()
    module = f"loop_world_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(TRAINING)
    sys.path.insert(0, str(folder))
    home = root / "home"
    yard = my.connect(settings=my.Settings.load({}, home=home))
    receiver = Receiver()
    app = create_app(yard, [], ServerOptions(poll_interval=0.1))
    scheduler = SchedulerProcess(["--home", str(home)], "loop", root / "scheduler.log",
                                 "--workers", "2")
    try:
        with serve_in_thread(app) as url:
            wait_until(scheduler.running, 300, "the scheduler running")
            yield World(yard, url, f"{module}:train", folder,
                        ServingRepository(yard.backend.db, yard.clock), receiver, scheduler)
    finally:
        log = scheduler.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
        yard.close()
        sys.path.remove(str(folder))
        print(log[-4000:])


def _shifted(rows: pd.DataFrame) -> pd.DataFrame:
    """The world after a change: every feature moved by 1.5 standard deviations."""
    out = rows.copy()
    cols = [c for c in rows.columns if c not in ("ts", "target")]
    out[cols] = rows[cols] + 1.5 * rows[cols].std()
    return out


class Traffic:
    """The world sending requests to an endpoint and, for each answer, the true label (or,
    with ``wrong_for``, the opposite of what that model version said)."""

    def __init__(self, world: World, endpoint: str, rows: pd.DataFrame) -> None:
        self.world, self.endpoint = world, endpoint
        self.X = rows.drop(columns=["ts", "target"]).to_dict(orient="records")
        self.y = rows["target"].to_numpy()
        self.wrong_for: str | None = None
        self.models: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        with httpx.Client(base_url=self.world.url, timeout=30) as client:
            while not self.stop.is_set():
                k = i % len(self.X)
                r = client.post(f"/predict/{self.endpoint}", json={"records": [self.X[k]]})
                if r.status_code == 200:
                    body = r.json()
                    label = int(self.y[k])
                    if body["model"] == self.wrong_for:
                        label = 1 - int(body["predictions"][0])
                    self.world.yard.feedback(body["ids"][0], label)
                    self.models.append(body["model"])
                i += 1

    def __enter__(self) -> Traffic:  # noqa: PYI034 - used only as this class
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def _setup(world: World, name: str, *, drift: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dataset ``name`` (rows until 20 days ago), ``name/1`` trained on them in production
    behind a protected alias, its suite (on a holdout dataset of the world as it is now), an
    endpoint serving ``name@production``, and a monitor with a drift alert rule.

    Returns the rows the world sends from now on, and the labelled rows of the last two weeks
    that the world delivers as new training data (the caller appends them)."""
    yard = world.yard
    now = pd.Timestamp(datetime.now(UTC))
    rows = cancer_rows(now - pd.Timedelta(days=20))  # 569 rows, 12 h apart, until 20 days ago
    old, rest = rows.iloc[:400], rows.iloc[400:]
    yard.datasets.add(name, old, time_column="ts")
    v1 = run_training(yard, world.entry, model_name=name, code_path=world.folder,
                      data={"train": yard.datasets.window(name, now - pd.Timedelta(days=400),
                                                          now)})
    yard.models.set_alias(name, "production", v1.version)
    fresh = _shifted(rest) if drift else rest.copy()
    new, holdout = fresh.iloc[:110].copy(), fresh.iloc[110:].copy()
    new["ts"] = now - pd.to_timedelta(np.arange(len(new))[::-1] * 3 + 200, unit="h")
    holdout["ts"] = now - pd.to_timedelta(np.arange(len(holdout))[::-1] * 2 + 1, unit="h")
    yard.datasets.add(f"{name}_holdout", holdout, time_column="ts")
    yard.validation.set_suite(name, yaml=textwrap.dedent(f'''
        holdout: {{dataset: {name}_holdout, last: 30d}}
        label: target
        against: production
        checks:
          - {{type: metric, metric: accuracy, min: 0.8}}
          - {{type: champion, metric: accuracy, max_regression: 0.1, test: mcnemar}}
          - {{type: signature}}
    '''))
    yard.validation.protect(name, "production")
    spec = EndpointConfig(name=name, routes=[RouteConfig(model=f"{name}@production")])
    world.serving.save_endpoint(name, spec.model_dump(mode="json"), "api")
    wait_until(lambda: httpx.get(f"{world.url}/v2/models/{name}/ready").status_code == 200,
               120, f"endpoint {name} served")
    yard.monitoring.configure(name, window="1h")
    yard.monitoring.alert_rule(f"{name} drift", metric="drift_share", op=">=", threshold=0.5,
                               endpoint=name, window="1h", cooldown="1h")
    return fresh, new


def _policies(world: World, name: str, *, triggers: list[dict[str, Any]],
              deploy: dict[str, Any], params: dict[str, Any] | None = None,
              watch: dict[str, Any] | None = None) -> None:
    yard = world.yard
    yard.automation.policy(f"{name}-monitor", model=name, action="monitor", endpoint=name,
                           triggers=[{"type": "every", "every": "1s"}], retries=0)
    yard.automation.policy(
        f"{name}-retrain", model=name, endpoint=name, entry_point=world.entry,
        code_path=str(world.folder),
        params=params or {}, data={"train": {"dataset": name, "last": "16d"}},
        triggers=triggers, deploy=deploy, watch=watch, poll="0.2s",
        webhooks=[world.receiver.url], retries=0)


def _retrain_job(world: World, name: str) -> Any:
    jobs = world.yard.automation.jobs(policy=f"{name}-retrain")
    return jobs[-1] if jobs and jobs[-1].done else None


@pytest.fixture
def stop_policies(world: World) -> Iterator[None]:
    """Each scenario's policies are disabled when it ends (the scheduler lives on)."""
    yield
    for p in world.yard.automation.policies():
        world.yard.automation.disable(p.name)


def test_drift_alert_retrains_validates_canaries_and_promotes(world: World,
                                                             stop_policies: None) -> None:
    name = "loop1"
    fresh, new = _setup(world, name, drift=True)
    world.yard.datasets.append(name, new)  # labelled rows of the changed world came in
    _policies(world, name,
              triggers=[{"type": "alert", "metric": "drift_share", "cooldown": "1h"}],
              deploy={"mode": "canary", "endpoint": name, "alias": "production",
                      "steps": [50, 100], "interval_s": 1, "min_requests": 5,
                      "latency_slack_ms": 10_000},
              watch={"period": "3s", "every": "1s", "min_rows": 5,
                     "thresholds": [{"metric": "accuracy", "op": "<", "threshold": 0.7}]})
    yard = world.yard
    with Traffic(world, name, fresh) as traffic:
        job = wait_until(lambda: _retrain_job(world, name), 600, "the retrain job done")
    assert job.status == "succeeded", (job.error, yard.automation.job(job.id).logs)
    assert job.trigger == "alert" and job.reason["metric"] == "drift_share"
    alert = yard.monitoring.alerts(endpoint=name)[-1]
    assert job.reason["alert"] == alert.id and alert.model_version == "1"
    assert job.model_version == f"{name}/2"
    assert yard.validation.report(job.report_id).status == "passed"
    assert job.deploy["mode"] == "canary" and job.deploy["canary_status"] == "promoted"
    assert [s["action"] for s in job.deploy["steps"]] == ["start", "step", "promote"]
    assert yard.models.get(f"{name}@production").version == 2
    assert f"{name}/2" in traffic.models and traffic.models[0] == f"{name}/1"
    assert "watch" in yard.automation.job(job.id).logs and not job.rollback
    assert not [b for b in world.receiver.bodies if b["job"]["policy"] == f"{name}-retrain"]


def test_a_worse_retrained_model_is_refused_by_the_gate(world: World,
                                                       stop_policies: None) -> None:
    name = "loop2"
    fresh, new = _setup(world, name, drift=True)
    world.yard.datasets.append(name, new)
    _policies(world, name,
              triggers=[{"type": "alert", "metric": "drift_share", "cooldown": "1h"}],
              deploy={"mode": "canary", "endpoint": name, "alias": "production",
                      "steps": [50, 100], "interval_s": 1, "min_requests": 5},
              params={"kind": "flip"})
    yard = world.yard
    with Traffic(world, name, fresh):
        job = wait_until(lambda: _retrain_job(world, name), 600, "the retrain job done")
    assert job.status == "refused" and job.model_version == f"{name}/2"
    report = yard.validation.report(job.report_id)
    assert {c.name for c in report.failures} >= {"metric:accuracy", "champion:accuracy"}
    assert yard.models.get(f"{name}@production").version == 1
    assert world.serving.canaries(name) == []  # nothing was deployed
    [note] = [b for b in world.receiver.bodies if b["job"]["policy"] == f"{name}-retrain"]
    assert note["event"] == "job_refused" and "failed validation" in note["text"]


def test_a_model_that_degrades_after_deployment_is_rolled_back(world: World,
                                                               stop_policies: None) -> None:
    name = "loop3"
    fresh, arriving = _setup(world, name, drift=False)
    _policies(world, name,
              triggers=[{"type": "data", "dataset": name, "min_new_rows": 50}],
              deploy={"mode": "alias", "alias": "production"},
              watch={"period": "10m", "every": "1s", "min_rows": 10,
                     "thresholds": [{"metric": "accuracy", "op": "<", "threshold": 0.7}]})
    yard = world.yard
    with Traffic(world, name, fresh) as traffic:
        traffic.wrong_for = f"{name}/2"  # the world changes for the new model's answers
        yard.datasets.append(name, arriving)
        job = wait_until(lambda: _retrain_job(world, name), 600, "the retrain job done")
    assert job.status == "rolled_back", (job.error, yard.automation.job(job.id).logs)
    assert job.trigger == "data" and job.reason["new_rows"] == len(arriving)
    assert yard.validation.report(job.report_id).status == "passed"
    assert job.deploy["to"] == 2 and job.rollback["to"] == 1
    assert job.rollback["metric"] == "accuracy" and job.rollback["value"] < 0.7
    assert yard.models.get(f"{name}@production").version == 1
    history = yard.models.alias_history(name, "production")
    assert [(e.old_version, e.new_version) for e in history] == [(None, 1), (1, 2), (2, 1)]
    assert history[-1].reason.startswith(f"automatic rollback by job {job.id}")
    assert f"{name}/2" in traffic.models
    [note] = [b for b in world.receiver.bodies if b["job"]["policy"] == f"{name}-retrain"]
    assert note["event"] == "job_rolled_back"
    assert timedelta(0) < job.finished_at - job.started_at < timedelta(minutes=10)
