"""Policies and the scheduler in one process, on a clock the test moves: planning, the loop's
stages, retries, the gate, catch-up, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import modelyard as my
from modelyard.automation.entities import CronTrigger, EveryTrigger
from modelyard.automation.retrain import run_training
from modelyard.automation.scheduler import Scheduler
from modelyard.automation.triggers import due_times, plan_due
from modelyard.errors import InvalidParameter

from .conftest import SUITE, Receiver, cancer_rows


def _policy(project: tuple[Path, str], **extra: Any) -> dict[str, Any]:
    folder, entry = project
    spec: dict[str, Any] = {
        "model": "cancer", "entry_point": entry, "code_path": str(folder),
        "data": {"train": {"dataset": "cancer", "last": "200d"}},
        "triggers": [{"type": "every", "every": "1h"}],
        "deploy": {"mode": "alias", "alias": "production"},
        "retries": 0,
    }
    spec.update(extra)
    return spec


def _champion(yard: my.Yard, project: tuple[Path, str]) -> None:
    """cancer/1 in production, trained the same way, with the suite declared."""
    folder, entry = project
    train = yard.datasets.window("cancer", yard.clock.now() - timedelta(days=200),
                                 yard.clock.now())
    v1 = run_training(yard, entry, model_name="cancer", data={"train": train}, code_path=folder)
    yard.models.set_alias("cancer", "production", v1.version)
    yard.validation.set_suite("cancer", yaml=SUITE)
    yard.validation.protect("cancer", "production")


def _scheduler(yard: my.Yard) -> Scheduler:
    return Scheduler.for_yard(yard, owner="test")


# ---- due times -----------------------------------------------------------------------------------
def test_cron_due_times_follow_the_time_zone_and_the_catch_up_rule() -> None:
    paris = CronTrigger(cron="0 3 * * *", timezone="Europe/Paris")
    cursor = datetime(2026, 3, 27, 12, tzinfo=UTC)
    now = datetime(2026, 3, 30, 1, 2, tzinfo=UTC)  # 03:02 in Paris, summer time since the 29th
    due = due_times(paris, cursor, now, timedelta(minutes=5))
    assert due.on_time == [datetime(2026, 3, 30, 1, 0, tzinfo=UTC)]
    assert due.latest_missed == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert due.cursor == datetime(2026, 3, 30, 1, 0, tzinfo=UTC)
    later = due_times(paris, cursor, now + timedelta(hours=3), timedelta(minutes=5))
    assert later.on_time == [] and plan_due(later, "skip") == []
    assert plan_due(later, "once") == [datetime(2026, 3, 30, 1, 0, tzinfo=UTC)]
    hourly = EveryTrigger(every="1h")
    gap = due_times(hourly, cursor, cursor + timedelta(hours=10, minutes=2), timedelta(minutes=5))
    assert gap.on_time == [cursor + timedelta(hours=10)]
    assert gap.latest_missed == cursor + timedelta(hours=9)
    # a year of minutes missed costs no more than one
    minutes = CronTrigger(cron="* * * * *")
    far = due_times(minutes, cursor, cursor + timedelta(days=365), timedelta(seconds=30))
    assert len(far.on_time) == 1 and far.latest_missed is not None


# ---- declaring -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"triggers": [{"type": "cron", "cron": "61 * * * *"}]}, "cron must be a cron expression"),
    ({"triggers": [{"type": "cron", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}]},
     "timezone must be an IANA time zone"),
    ({"entry_point": "no_such_project_module:train"},
     "entry_point module 'no_such_project_module' cannot be imported"),
    ({"entry_point": "train"}, "needs entry_point 'package.module:function'"),
    ({"deploy": {"mode": "canary"}}, "a canary deploy needs the endpoint"),
    ({"data": {}}, "a retrain policy needs data"),
    ({"triggers": [{"type": "every", "every": "soon"}]}, "every must be a duration"),
    ({"deploy": {"mode": "alias", "alais": "production"}}, "unknown key 'alais'"),
    ({"webhooks": ["ftp://x"]}, "webhooks must be http"),
    ({"watch": {"thresholds": [{"metric": "accuracy", "op": "<", "threshold": 0.8}]}},
     "watch thresholds need the endpoint to watch"),
])
def test_a_bad_policy_is_refused_when_saved(cancer_yard: my.Yard, project: tuple[Path, str],
                                            change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        cancer_yard.automation.policy("nightly", _policy(project, **change))
    assert cancer_yard.automation.policies() == []


# ---- the loop in one process ---------------------------------------------------------------------
def test_a_due_job_trains_validates_and_moves_the_alias(cancer_yard: my.Yard,
                                                        project: tuple[Path, str]) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("hourly", _policy(project))
    sched = _scheduler(yard)
    assert sched.tick() == []  # nothing due yet
    yard.clock.advance(3600)
    [job] = sched.tick()
    assert (job.status, job.stage, job.trigger) == ("succeeded", "done", "every")
    assert job.reason["due"] == (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=1)).isoformat()
    assert job.model_version == "cancer/2" and job.report_id
    assert yard.models.get("cancer@production").version == 2
    assert job.deploy == {"mode": "alias", "alias": "production", "from": 1, "to": 2,
                          "at": yard.clock.now().isoformat()}
    stored = yard.automation.job(job.id)
    assert "training on 400 rows" in stored.logs and "validation passed" in stored.logs
    run = yard.runs.get(yard.models.get("cancer/2").run_id)
    assert run.inputs[0].window_end == yard.clock.now() and run.tags["modelyard.job"] == job.id
    assert sched.tick() == []  # the same due time never runs twice


def test_a_worse_model_is_refused_and_the_alias_stays(cancer_yard: my.Yard,
                                                     project: tuple[Path, str],
                                                     receiver: Receiver) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("bad", _policy(project, params={"kind": "constant"},
                                          webhooks=[receiver.url]))
    yard.clock.advance(3600)
    [job] = _scheduler(yard).tick()
    assert job.status == "refused" and job.model_version == "cancer/2"
    assert yard.models.get("cancer@production").version == 1
    report = yard.validation.report(job.report_id)  # type: ignore[arg-type]
    assert {c.name for c in report.failures} == {"metric:accuracy", "champion:accuracy"}
    assert receiver.events() == ["job_refused"]
    assert "failed validation" in receiver.bodies[0]["text"]
    assert job.notified["refused"][receiver.url]["ok"] is True


def test_a_training_function_that_raises_is_retried_then_fails_with_its_traceback(
        cancer_yard: my.Yard, project: tuple[Path, str], receiver: Receiver) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("flaky", _policy(project, params={"fail": True}, retries=1,
                                            backoff="10m", webhooks=[receiver.url]))
    sched = _scheduler(yard)
    yard.clock.advance(3600)
    [first] = sched.tick()
    assert (first.status, first.attempt) == ("queued", 1)
    assert "RuntimeError: the training data service is down" in (first.error or "")
    assert sched.tick() == []  # backing off
    yard.clock.advance(600)
    [second] = sched.tick()
    assert (second.status, second.attempt, second.stage) == ("failed", 2, "done")
    assert "Traceback" in (second.error or "") and "service is down" in (second.error or "")
    assert "training on" in yard.automation.job(second.id).logs
    assert [v.version for v in yard.models.versions("cancer")] == [1]
    assert yard.models.get("cancer@production").version == 1
    assert receiver.events() == ["job_failed"]


def test_an_empty_data_window_fails_at_once(cancer_yard: my.Yard,
                                            project: tuple[Path, str]) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("empty", _policy(
        project, data={"train": {"dataset": "cancer", "version": None, "last": "1h"}},
        retries=3))
    yard.clock.advance(7200)
    [job] = _scheduler(yard).tick()
    assert job.status == "failed" and job.attempt == 1
    assert "has no rows: nothing to train on" in (job.error or "")
    assert yard.models.get("cancer@production").version == 1


@pytest.mark.parametrize("catch_up", ["skip", "once"])
def test_missed_runs_follow_the_catch_up_rule(cancer_yard: my.Yard, project: tuple[Path, str],
                                              catch_up: str) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("hourly", _policy(project, catch_up=catch_up, deploy={"mode": "none"}))
    yard.clock.advance(5 * 3600 + 1200)  # five hourly runs missed while no scheduler ran
    ran = _scheduler(yard).tick()
    if catch_up == "skip":
        assert ran == [] and yard.automation.jobs() == []
    else:
        [job] = ran
        assert job.reason["caught_up"] is True and job.status == "succeeded"
        assert job.due_at == datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert _scheduler(yard).tick() == []


def test_new_data_and_a_manual_run_trigger_jobs(cancer_yard: my.Yard,
                                                project: tuple[Path, str]) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("on-data", _policy(
        project, triggers=[{"type": "data", "dataset": "cancer", "min_new_rows": 50}],
        deploy={"mode": "none"}))
    sched = _scheduler(yard)
    assert sched.tick() == []
    yard.clock.advance(86400)
    more = cancer_rows(pd.Timestamp(yard.clock.now()), n=60)
    yard.datasets.append("cancer", more)
    [job] = sched.tick()
    assert job.trigger == "data" and job.reason["new_rows"] == 60 and job.status == "succeeded"
    assert sched.tick() == []
    manual = yard.automation.run_now("on-data", reason="a test")
    [again] = sched.tick()
    assert again.id == manual.id and again.trigger == "manual" and again.status == "succeeded"
    assert [j.trigger for j in yard.automation.jobs(policy="on-data")] == ["manual", "data"]
    yard.automation.disable("on-data")
    yard.datasets.append("cancer", cancer_rows(pd.Timestamp(yard.clock.now()), n=60))
    assert sched.tick() == []
