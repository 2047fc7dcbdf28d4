"""What a policy and its jobs did, as the dashboard shows it (``automation.history``): triggers
with their cursors and next due times, stage times, decisions (the gate, the alias, a canary,
a rollback, webhooks), every policy with its newest job, and the job history paged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import modelyard as my
from modelyard.automation.entities import Job
from modelyard.automation.history import (
    decisions,
    describe_trigger,
    policy_summaries,
    stage_times,
    trigger_states,
)
from modelyard.automation.scheduler import Scheduler
from modelyard.errors import InvalidParameter

from .conftest import Receiver
from .test_scheduler import _champion, _policy

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_triggers_show_their_cursor_and_next_due_time(cancer_yard: my.Yard,
                                                      project: tuple[Path, str]) -> None:
    yard = cancer_yard
    policy = yard.automation.policy("mixed", _policy(project, triggers=[
        {"type": "cron", "cron": "0 3 * * *", "timezone": "Europe/Paris"},
        {"type": "every", "every": "90m"},
        {"type": "data", "dataset": "cancer", "min_new_rows": 50},
        {"type": "alert", "metric": "drift_share", "endpoint": "loans", "cooldown": "2h"},
    ]))
    cron, every, data, alert = trigger_states(policy, yard.clock.now())
    assert cron.description == "cron 0 3 * * * (Europe/Paris)"
    assert cron.next_due == datetime(2026, 3, 1, 2, tzinfo=UTC)  # 03:00 in Paris (winter)
    assert every.description == "every 90m" and every.next_due == T0 + timedelta(minutes=90)
    assert data.description == "50 new rows of cancer"
    assert data.cursor == "rows 569, version 1" and data.next_due is None
    assert alert.description == "alert drift_share on loans (cool-down 2h)"
    # once the scheduler planned a due time, the next one follows it (not the creation time)
    yard.clock.advance(timedelta(minutes=100).total_seconds())
    Scheduler.for_yard(yard, owner="t").plan()
    later = trigger_states(yard.automation.get("mixed"), yard.clock.now())
    assert later[1].cursor == (T0 + timedelta(minutes=90)).isoformat()
    assert later[1].next_due == T0 + timedelta(minutes=180)
    assert describe_trigger(policy.spec.triggers[0]) == cron.description


def test_a_rolled_out_job_shows_its_stages_and_decisions(cancer_yard: my.Yard,
                                                         project: tuple[Path, str],
                                                         receiver: Receiver) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("hourly", _policy(project, webhooks=[receiver.url]))
    yard.clock.advance(3600)
    [job] = Scheduler.for_yard(yard, owner="t").tick()
    assert job.status == "succeeded"
    stages = stage_times(yard.automation.job(job.id))
    assert [s.stage for s in stages] == ["train", "validate", "deploy", "watch"]
    assert all(s.end is not None and s.seconds == 0.0 for s in stages)  # a fixed clock
    report = yard.validation.report(job.report_id)  # type: ignore[arg-type]
    found = decisions(job, report)
    assert [(d.kind, d.outcome) for d in found] == [("validate", "passed"), ("deploy", "moved")]
    assert found[0].summary == f"cancer/2 passed the gate (report {job.report_id})"
    assert found[0].at == report.created_at
    assert found[1].summary == "moved production from 1 to 2"
    assert receiver.bodies == []  # succeeded jobs notify nobody


def test_a_refused_job_names_the_failed_checks_and_its_webhook(cancer_yard: my.Yard,
                                                               project: tuple[Path, str],
                                                               receiver: Receiver) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("bad", _policy(project, params={"kind": "constant"},
                                          webhooks=[receiver.url]))
    job = yard.automation.run_now("bad")
    [job] = Scheduler.for_yard(yard, owner="t").tick()
    found = decisions(job, yard.validation.report(job.report_id))  # type: ignore[arg-type]
    assert [(d.kind, d.outcome) for d in found] == [("validate", "failed"), ("notify", "sent")]
    assert "refused by the gate on metric:accuracy, champion:accuracy" in found[0].summary
    assert found[1].summary == f"job_refused to {receiver.url}: HTTP 204 after 1 attempt(s)"
    [summary] = policy_summaries(yard.automation)
    assert summary.policy.name == "bad" and summary.last_job is not None
    assert summary.last_job.id == job.id


def _job(**fields: object) -> Job:
    base: dict[str, object] = {"id": "j1", "policy": "p", "key": "k", "trigger": "manual",
                               "due_at": T0, "status": "succeeded", "stage": "done",
                               "created_at": T0, "model_version": "loans/8"}
    return Job.model_validate({**base, **fields})


def test_canary_promotion_and_a_watch_rollback_read_as_decisions() -> None:
    at = T0 + timedelta(hours=2)
    promoted = _job(deploy={
        "mode": "canary", "endpoint": "loans", "canary": "job-j1", "alias": "production",
        "from": 7, "to": 8, "canary_status": "promoted", "at": at.isoformat(),
        "steps": [{"action": "start", "weight": 10.0, "reason": None, "at": T0.isoformat()},
                  {"action": "promote", "weight": 100.0, "reason": "held 50%",
                   "at": at.isoformat()}]},
        rollback={"metric": "psi", "feature": "amount", "value": 0.41234, "op": ">",
                  "threshold": 0.2, "rows": 812, "route": "main", "alias": "production",
                  "from": "loans/8", "to": 7, "at": (at + timedelta(hours=1)).isoformat(),
                  "reason": "automatic rollback"}, status="rolled_back")
    canary, promote, rollback = decisions(promoted)
    assert canary.summary == "canary job-j1 of loans/8 on loans"
    assert [(s["action"], s["weight"], s["at"]) for s in canary.steps] == [
        ("start", 10.0, T0), ("promote", 100.0, at)]
    assert (promote.outcome, promote.at) == ("promoted", at)
    assert promote.summary == "canary promoted; production from 7 to 8"
    assert rollback.summary == ("psi of amount = 0.4123 > 0.2 over 812 rows; production back "
                                "from 8 to 7")
    assert rollback.at == at + timedelta(hours=1)
    aborted = _job(deploy={"mode": "canary", "endpoint": "loans", "canary": "c", "alias": "prod",
                           "canary_status": "rolled_back",
                           "steps": [{"action": "rollback", "weight": 0.0,
                                      "reason": "error rate 0.2", "at": at.isoformat()}]})
    assert decisions(aborted)[1].summary == "canary rolled_back: error rate 0.2; prod not moved"


def test_stage_times_are_in_the_order_the_stages_began() -> None:
    job = _job(status="waiting", stage="canary", state={"stages": {
        "validate": {"start": (T0 + timedelta(seconds=30)).isoformat(),
                     "end": (T0 + timedelta(seconds=42)).isoformat()},
        "train": {"start": T0.isoformat(), "end": (T0 + timedelta(seconds=30)).isoformat()},
        "canary": {"start": (T0 + timedelta(seconds=50)).isoformat()}}})
    assert [(s.stage, s.seconds) for s in stage_times(job)] == [
        ("train", 30.0), ("validate", 12.0), ("canary", None)]
    assert stage_times(_job()) == []


def test_the_job_history_pages_newest_first(cancer_yard: my.Yard,
                                            project: tuple[Path, str]) -> None:
    yard = cancer_yard
    yard.automation.policy("manual", _policy(project, deploy={"mode": "none"}))
    made = []
    for _ in range(5):
        made.append(yard.automation.run_now("manual").id)
        yard.clock.advance(1)
    newest_first = made[::-1]
    assert [j.id for j in yard.automation.jobs(limit=2)] == newest_first[:2]
    assert [j.id for j in yard.automation.jobs(limit=2, offset=2)] == newest_first[2:4]
    assert [j.id for j in yard.automation.jobs(policy="manual", limit=10, offset=4)] \
        == newest_first[4:]
    with pytest.raises(InvalidParameter, match="offset must be 0 or more. Got -1 instead"):
        yard.automation.jobs(offset=-1)
