"""Retrain policies and the jobs they make: one shape in the SDK, the REST API and the CLI.

A policy (:class:`PolicySpec`) says what to train (``entry_point`` with ``params`` on the
``data`` window as of the trigger time), when (``triggers``), how to ship it (``deploy``: a
canary on an endpoint, the alias directly, or not at all) and what to watch afterwards
(``watch``: monitored figures that roll the alias back when breached). Everything that can be
checked without running the training is checked when the policy is saved: cron syntax, time
zones, durations, and (by the SDK) that the entry point imports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..monitoring.windows import parse_duration
from ..store.names import check_name

__all__ = [
    "TERMINAL",
    "AlertTrigger",
    "CommitTrigger",
    "CronTrigger",
    "DataInput",
    "DataTrigger",
    "Deploy",
    "EveryTrigger",
    "Job",
    "JobStatus",
    "Policy",
    "PolicySpec",
    "Threshold",
    "Trigger",
    "Watch",
    "check_policy_name",
]

JobStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "refused",
                    "rolled_back", "canceled"]
TERMINAL: tuple[str, ...] = ("succeeded", "failed", "refused", "rolled_back", "canceled")


def _duration(value: str, field: str) -> str:
    parse_duration(value, field=field)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataInput(_Strict):
    """One training input, resolved at the trigger time ``t``: the event-time window
    ``[t - last, t)`` as known at ``t`` (dataset time travel), or a fixed ``version``, or
    (neither) the whole dataset as known at ``t``."""

    dataset: str
    last: str | None = None
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> DataInput:
        if self.last is not None:
            _duration(self.last, "data.last")
            if self.version is not None:
                raise ValueError("a data input takes 'last' or 'version', not both.")
        return self


class CronTrigger(_Strict):
    """``cron`` (5 fields, or 6 with seconds last) in ``timezone`` (an IANA name)."""

    type: Literal["cron"] = "cron"
    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"cron must be a cron expression such as '0 3 * * *'. Got {v!r} "
                             "instead.")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone must be an IANA time zone such as 'Europe/Paris'. "
                             f"Got {v!r} instead.") from exc
        return v


class EveryTrigger(_Strict):
    """Every ``every`` (a duration: ``"15m"``, ``"1d"``), from when the policy was saved."""

    type: Literal["every"] = "every"
    every: str

    @field_validator("every")
    @classmethod
    def _every(cls, v: str) -> str:
        if parse_duration(v, field="every").total_seconds() <= 0:
            raise ValueError(f"every must be a positive duration. Got {v!r} instead.")
        return v


class AlertTrigger(_Strict):
    """An open monitoring alert on ``endpoint`` (default: the deploy endpoint), of ``rule``
    and/or on ``metric`` (``drift_share``, ``psi`` of a ``feature``, ``accuracy``,
    ``estimated_accuracy`` …). Each alert fires once; none fires within ``cooldown`` of the
    last job an alert started."""

    type: Literal["alert"] = "alert"
    endpoint: str | None = None
    rule: str | None = None
    metric: str | None = None
    feature: str | None = None
    cooldown: str = "1h"

    @model_validator(mode="after")
    def _check(self) -> AlertTrigger:
        _duration(self.cooldown, "cooldown")
        if self.rule is None and self.metric is None:
            raise ValueError("an alert trigger names a rule or a metric.")
        return self


class DataTrigger(_Strict):
    """At least ``min_new_rows`` rows added to ``dataset`` since the last training."""

    type: Literal["data"] = "data"
    dataset: str
    min_new_rows: int = Field(ge=1)


class CommitTrigger(_Strict):
    """A new commit of the git repository holding the entry point's code."""

    type: Literal["commit"] = "commit"


Trigger = Annotated[CronTrigger | EveryTrigger | AlertTrigger | DataTrigger | CommitTrigger,
                    Field(discriminator="type")]


class Deploy(_Strict):
    """How a version that passed its suite is shipped: ``canary`` on ``endpoint`` (the
    serving canary: ``steps`` percentages held ``interval_s`` each, rolled back on errors or
    latency, ``alias`` moved on promotion), ``alias`` (move ``alias`` at once), or ``none``
    (register and validate only). ``timeout``: how long a canary may take."""

    mode: Literal["canary", "alias", "none"] = "alias"
    alias: str = "production"
    endpoint: str | None = None
    steps: list[float] = Field(default_factory=lambda: [10.0, 50.0, 100.0])
    interval_s: float = Field(default=600.0, gt=0)
    min_requests: int = Field(default=50, ge=1)
    max_error_rate: float = Field(default=0.05, ge=0)
    max_latency_ratio: float = Field(default=2.0, gt=0)
    latency_slack_ms: float = Field(default=5.0, ge=0)
    timeout: str = "1d"

    @model_validator(mode="after")
    def _check(self) -> Deploy:
        _duration(self.timeout, "deploy.timeout")
        if self.mode == "canary" and not self.endpoint:
            raise ValueError("a canary deploy needs the endpoint it runs on.")
        if not self.steps or any(not 0 < s <= 100 for s in self.steps) \
                or self.steps != sorted(self.steps):
            raise ValueError(f"steps must be increasing percentages in (0, 100]. Got "
                             f"{self.steps!r} instead.")
        return self


class Threshold(_Strict):
    """A monitored figure of the new version that must not hold: ``accuracy < 0.8``,
    ``drift_share >= 0.5``, ``psi`` of ``feature`` ``> 0.2``, ``latency_p99_ms > 50``."""

    metric: str
    op: Literal["<", "<=", ">", ">="]
    threshold: float
    feature: str | None = None


class Watch(_Strict):
    """After deployment, for ``period``: evaluate the endpoint's monitoring over the new
    version's predictions every ``every``; any breached ``thresholds`` (with at least
    ``min_rows`` rows, or labelled rows for performance) rolls the alias back."""

    period: str = "1d"
    every: str = "5m"
    endpoint: str | None = None
    thresholds: list[Threshold] = Field(default_factory=list)
    min_rows: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Watch:
        _duration(self.period, "watch.period")
        _duration(self.every, "watch.every")
        return self


class PolicySpec(_Strict):
    """What a retrain policy does (module docstring). ``action: monitor`` runs the endpoint's
    monitor (drift, performance, alerts) on the triggers instead of training. ``executor``
    (``"dask://host:8786"``, ``"dask"``, ``"local:4"``) is handed to an entry point that takes
    ``executor`` (see :mod:`modelyard.automation.retrain`)."""

    model: str
    action: Literal["retrain", "monitor"] = "retrain"
    entry_point: str | None = None
    code_path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, DataInput] = Field(default_factory=dict)
    experiment: str | None = None
    endpoint: str | None = None
    triggers: list[Trigger] = Field(default_factory=list)
    deploy: Deploy = Field(default_factory=lambda: Deploy(mode="none"))
    watch: Watch | None = None
    catch_up: Literal["skip", "once"] = "skip"
    grace: str = "5m"
    retries: int = Field(default=2, ge=0, le=20)
    backoff: str = "30s"
    lease: str = "2m"
    poll: str = "10s"
    webhooks: list[str] = Field(default_factory=list)
    executor: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PolicySpec:
        for value, field in ((self.grace, "grace"), (self.backoff, "backoff"),
                             (self.lease, "lease"), (self.poll, "poll")):
            _duration(value, field)
        if self.action == "retrain":
            if not self.entry_point or ":" not in self.entry_point:
                raise ValueError("a retrain policy needs entry_point 'package.module:function'.")
            if not self.data:
                raise ValueError("a retrain policy needs data: a role -> {dataset, last}.")
        elif not (self.endpoint or self.deploy.endpoint):
            raise ValueError("a monitor policy needs the endpoint to monitor.")
        if self.executor is not None:
            from .executors import parse_executor

            parse_executor(self.executor)
        for url in self.webhooks:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhooks must be http(s) URLs. Got {url!r} instead.")
        if self.watch is not None and self.watch.thresholds:
            if self.deploy.mode == "none":
                raise ValueError("watch thresholds need a deploy (canary or alias) to roll "
                                 "back.")
            if self.monitored_endpoint is None:
                raise ValueError("watch thresholds need the endpoint to watch (endpoint, "
                                 "deploy.endpoint or watch.endpoint).")
        return self

    @property
    def monitored_endpoint(self) -> str | None:
        return (self.watch.endpoint if self.watch and self.watch.endpoint else None) \
            or self.deploy.endpoint or self.endpoint


def check_policy_name(name: str) -> str:
    return check_name(name, field="name", what="A policy name")  # the one rule of every store


class Policy(BaseModel):
    """A stored policy: its spec, whether it runs, and its triggers' cursors (``state``)."""

    name: str
    spec: PolicySpec
    enabled: bool = True
    state: dict[str, Any] = Field(default_factory=dict)
    revision: int = 1
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None

    @property
    def model(self) -> str:
        return self.spec.model


class Job(BaseModel):
    """One firing of a policy: why (``trigger``, ``reason``: the cron time, the alert id …),
    for which due time, its status and stage, and what it produced and decided.

    ``status``: queued → running ⇄ waiting → succeeded | failed | refused (the gate said no)
    | rolled_back | canceled. ``stage``: train, validate, deploy, canary, watch, done.
    """

    id: str
    policy: str
    key: str
    trigger: str
    reason: dict[str, Any] = Field(default_factory=dict)
    due_at: datetime
    status: JobStatus
    stage: str
    attempt: int = 0
    max_attempts: int = 1
    next_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    model_version: str | None = None
    report_id: str | None = None
    deploy: dict[str, Any] = Field(default_factory=dict)
    rollback: dict[str, Any] = Field(default_factory=dict)
    state: dict[str, Any] = Field(default_factory=dict)
    notified: dict[str, Any] = Field(default_factory=dict)
    logs: str = ""
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL
