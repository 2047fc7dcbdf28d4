"""What a policy and its jobs did, in the shape people read: each trigger with its cursor and
next due time, each stage of a job with when it began and ended, and every decision a job made
(the validation verdict, the alias moved or the canary's steps, the watch's rollback, the
webhooks told) in order.

    trigger_states(policy, now)       # [TriggerState]: "cron 0 3 * * * (Europe/Paris)", cursor, next
    stage_times(job)                  # [StageTime]: train 12.1 s, validate 3.4 s, canary 2 h …
    decisions(job)                    # [Decision]: validate failed, deploy moved …, rollback …
    policy_summaries(automation)      # [PolicySummary]: every policy with its newest job

Plain functions of the stored :class:`~.entities.Policy` and :class:`~.entities.Job` (what
``yard.automation`` returns); the dashboard and tests call them directly.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from ..clock import parse_time, to_utc
from ..errors import InvalidParameter
from ..monitoring.windows import parse_duration
from .entities import (
    AlertTrigger,
    CommitTrigger,
    CronTrigger,
    DataTrigger,
    EveryTrigger,
    Job,
    Policy,
    Trigger,
)

if TYPE_CHECKING:
    from ..validation.entities import ValidationReport

__all__ = [
    "Decision",
    "JobHistory",
    "PolicySummary",
    "StageTime",
    "TriggerState",
    "decisions",
    "describe_trigger",
    "policy_summaries",
    "stage_times",
    "trigger_states",
]


# the loop's stages in the order a job goes through them (ties of a clock that did not move)
_ORDER = {stage: i for i, stage in enumerate(
    ("train", "monitor", "validate", "deploy", "canary", "watch", "done"))}


class JobHistory(Protocol):
    """What :func:`policy_summaries` reads: ``yard.automation``."""

    def policies(self, *, model: str | None = None) -> list[Policy]: ...

    def jobs(self, *, policy: str | None = None, status: str | None = None,
             model: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]: ...


class TriggerState(BaseModel):
    """One trigger of a policy: what it is, how far it has been planned (``cursor``: the last
    due time planned, the rows or commit already seen), when it is due next (time triggers),
    and the last due time skipped because a job of the policy was in progress."""

    index: int
    type: str
    description: str
    cursor: str | None = None
    next_due: datetime | None = None
    skipped: str | None = None


class StageTime(BaseModel):
    """When one stage of a job began and ended (waits included); ``end`` is None while it
    runs."""

    stage: str
    start: datetime
    end: datetime | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


class Decision(BaseModel):
    """One thing a job decided or did: ``kind`` (``validate``, ``deploy``, ``canary``,
    ``promote``, ``rollback``, ``notify``), ``outcome`` (a word: ``passed``, ``moved``,
    ``rolled_back``, ``sent`` …), a one-line ``summary``, when, and what it refers to."""

    kind: str
    outcome: str
    summary: str
    at: datetime | None = None
    report_id: str | None = None
    model_version: str | None = None
    endpoint: str | None = None
    canary: str | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class PolicySummary(BaseModel):
    """A policy with its newest job (None before its first)."""

    policy: Policy
    last_job: Job | None = None


def describe_trigger(trigger: Trigger) -> str:
    """A trigger in one line: ``cron 0 3 * * * (Europe/Paris)``, ``every 1h``, ``alert
    drift_share on loans (cool-down 1h)``, ``1000 new rows of loans``, ``new commit``."""
    if isinstance(trigger, CronTrigger):
        return f"cron {trigger.cron} ({trigger.timezone})"
    if isinstance(trigger, EveryTrigger):
        return f"every {trigger.every}"
    if isinstance(trigger, AlertTrigger):
        what = " ".join(p for p in (
            f"rule {trigger.rule}" if trigger.rule else "",
            trigger.metric or "", f"[{trigger.feature}]" if trigger.feature else "") if p)
        where = f" on {trigger.endpoint}" if trigger.endpoint else ""
        return f"alert {what}{where} (cool-down {trigger.cooldown})"
    if isinstance(trigger, DataTrigger):
        return f"{trigger.min_new_rows} new rows of {trigger.dataset}"
    assert isinstance(trigger, CommitTrigger)
    return "new commit of the entry point's code"


def _next_due(trigger: CronTrigger | EveryTrigger, cursor: datetime, now: datetime) -> datetime:
    """The first due time after ``now`` (and after ``cursor``)."""
    after = max(to_utc(cursor), to_utc(now))
    if isinstance(trigger, EveryTrigger):
        step = parse_duration(trigger.every, field="every").total_seconds()
        k = math.floor((after - to_utc(cursor)).total_seconds() / step) + 1
        return to_utc(cursor) + timedelta(seconds=k * step)
    from croniter import croniter

    local = after.astimezone(ZoneInfo(trigger.timezone))
    return to_utc(croniter(trigger.cron, local).get_next(datetime))


def _cursor_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # a data trigger's rows (and version) seen
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def trigger_states(policy: Policy, now: datetime) -> list[TriggerState]:
    """Every trigger of ``policy`` with its cursor from the policy's state and, for cron and
    interval triggers, the next due time after ``now`` (see :class:`TriggerState`)."""
    out = []
    state = policy.state
    for i, trigger in enumerate(policy.spec.triggers):
        slot = f"t{i}:{trigger.type}"
        cursor = state.get(slot, state.get(f"baseline:{slot}"))
        item = TriggerState(index=i, type=trigger.type, description=describe_trigger(trigger),
                            cursor=_cursor_text(cursor), skipped=state.get(f"skipped:{slot}"))
        if isinstance(trigger, CronTrigger | EveryTrigger):
            start = state.get(slot) or state.get("created") or policy.created_at
            try:
                item.next_due = _next_due(trigger, parse_time(start, field=slot), now)
            except (InvalidParameter, ValueError, KeyError):
                item.next_due = None  # a cursor this version cannot read: shown as it is
        out.append(item)
    return out


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value, field="at")
    except InvalidParameter:
        return None


def stage_times(job: Job) -> list[StageTime]:
    """The stages of ``job`` in the order they began, from ``job.state["stages"]`` (what the
    scheduler recorded: each stage's start and end, waits included)."""
    out = []
    for stage, times in (job.state.get("stages") or {}).items():
        start = _time(times.get("start"))
        if start is not None:
            out.append(StageTime(stage=stage, start=start, end=_time(times.get("end"))))
    return sorted(out, key=lambda s: (s.start, _ORDER.get(s.stage, len(_ORDER))))


def _canary_steps(deploy: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"action": s.get("action"), "weight": s.get("weight"), "reason": s.get("reason"),
             "at": _time(s.get("at"))} for s in deploy.get("steps") or []]


def _deploy_decisions(job: Job) -> list[Decision]:
    deploy = job.deploy
    mode = deploy.get("mode")
    if mode == "none":
        return [Decision(kind="deploy", outcome="none", model_version=job.model_version,
                         summary=f"registered {job.model_version}; the policy deploys nothing")]
    alias = deploy.get("alias")
    if mode == "alias":
        return [Decision(kind="deploy", outcome="moved", at=_time(deploy.get("at")),
                         model_version=job.model_version,
                         summary=f"moved {alias} from {deploy.get('from')} to {deploy.get('to')}",
                         details={"alias": alias, "from": deploy.get("from"),
                                  "to": deploy.get("to")})]
    if mode != "canary":
        return []
    endpoint = deploy.get("endpoint")
    out = [Decision(kind="canary", outcome="started", endpoint=endpoint,
                    canary=deploy.get("canary"), model_version=job.model_version,
                    summary=f"canary {deploy.get('canary')} of {job.model_version} on {endpoint}",
                    steps=_canary_steps(deploy))]
    status = deploy.get("canary_status")
    if status == "promoted":
        out.append(Decision(kind="promote", outcome="promoted", at=_time(deploy.get("at")),
                            endpoint=endpoint, model_version=job.model_version,
                            summary=f"canary promoted; {alias} from {deploy.get('from')} to "
                                    f"{deploy.get('to')}",
                            details={"alias": alias, "from": deploy.get("from"),
                                     "to": deploy.get("to")}))
    elif status is not None:
        last = out[0].steps[-1] if out[0].steps else {}
        out.append(Decision(kind="canary", outcome=str(status), at=last.get("at"),
                            endpoint=endpoint, model_version=job.model_version,
                            summary=f"canary {status}: {last.get('reason') or status}; "
                                    f"{alias} not moved"))
    return out


def _version(ref: Any) -> str:
    """``2`` for ``loans/2`` (or 2); ``none`` when the alias did not exist."""
    return "none" if ref is None else str(ref).rsplit("/", 1)[-1]


def _rollback_decision(job: Job) -> Decision | None:
    rb = job.rollback
    if not rb:
        return None
    what = str(rb.get("metric")) + (f" of {rb['feature']}" if rb.get("feature") else "")
    value = rb.get("value")
    shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
    return Decision(kind="rollback", outcome="rolled_back", at=_time(rb.get("at")),
                    model_version=job.model_version,
                    summary=f"{what} = {shown} {rb.get('op')} {rb.get('threshold')} over "
                            f"{rb.get('rows')} rows; {rb.get('alias')} back from "
                            f"{_version(rb.get('from'))} to {_version(rb.get('to'))}",
                    details={k: rb.get(k) for k in ("metric", "feature", "value", "op",
                                                    "threshold", "rows", "route", "alias",
                                                    "from", "to", "window_start", "window_end",
                                                    "monitor_run", "reason")})


def decisions(job: Job, report: ValidationReport | None = None) -> list[Decision]:
    """What ``job`` decided, in order: the validation verdict (``report``: ``job.report_id``'s
    report, when the caller read it), the deploy (alias moved, or the canary with its steps
    and outcome), the watch's rollback, and the webhooks notified."""
    out: list[Decision] = []
    if job.report_id is not None:
        status = report.status if report is not None else "recorded"
        verdict = {"passed": "passed the gate", "failed": "refused by the gate"}.get(
            status, "validated")
        if report is not None and report.failures:
            verdict += " on " + ", ".join(c.name + (f" [{c.slice}]" if c.slice else "")
                                          for c in report.failures)
        out.append(Decision(kind="validate", outcome=status, report_id=job.report_id,
                            at=report.created_at if report is not None else None,
                            model_version=job.model_version,
                            summary=f"{job.model_version} {verdict} (report {job.report_id})"))
    out += _deploy_decisions(job)
    rollback = _rollback_decision(job)
    if rollback is not None:
        out.append(rollback)
    for event, targets in job.notified.items():
        for url, result in (targets or {}).items():
            ok = bool(result.get("ok"))
            out.append(Decision(
                kind="notify", outcome="sent" if ok else "not delivered",
                summary=f"job_{event} to {url}: "
                        + (f"HTTP {result.get('status')}" if ok else str(result.get("error")))
                        + f" after {result.get('attempts')} attempt(s)",
                details={"event": event, "url": url, **result}))
    return out


def policy_summaries(automation: JobHistory, *, model: str | None = None) -> list[PolicySummary]:
    """Every policy (of ``model``) in name order, with its newest job."""
    out = []
    for policy in automation.policies(model=model):
        newest = automation.jobs(policy=policy.name, limit=1)
        out.append(PolicySummary(policy=policy, last_job=newest[0] if newest else None))
    return out
