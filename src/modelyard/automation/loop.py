"""The closed loop one job runs: train → register → validate → deploy (a canary on the serving
endpoint, or the alias) → watch → roll back if the watch breaches.

A job moves through stages and every stage's outcome is written to the job before the next
begins, so a scheduler that takes over an expired lease resumes where the last one stopped.
Stages that wait (a canary stepping up, the watch period) do not hold a worker: the job is set
``waiting`` with the time to look again, and any scheduler picks it up then.

Invariants: a version whose training or validation failed never touches the deploy alias (the
gate would refuse it anyway); every outcome that needs a human (failed, refused, rolled back)
is sent to the policy's webhooks and recorded on the job.
"""

from __future__ import annotations

import io
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..clock import Clock
from ..errors import InvalidParameter, ModelyardError, NotFound
from ..monitoring.alerts import OPS
from ..monitoring.evaluation import metric_points
from ..monitoring.windows import parse_duration
from ..serving.endpoints import CanaryConfig
from ..tracking.environment import import_entry_point
from .entities import Job, Policy, PolicySpec

__all__ = ["Collaborators", "JobRunner", "Refused", "post_webhooks"]


class Refused(Exception):
    """The gate said no: the job ends ``refused`` (not retried)."""


class _Wait(Exception):
    """Look at this job again in ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


@dataclass
class Collaborators:
    """What a job works with, passed in (built by the scheduler from one yard).

    ``train``: :func:`~modelyard.automation.retrain.run_training` bound to the yard;
    ``models``, ``datasets``, ``validation``, ``monitoring``: the yard's domains;
    ``serving``: the serving repository (endpoints and canaries in the database), None on a
    yard without one; ``clock``: the time.
    """

    train: Callable[..., Any]
    models: Any
    datasets: Any
    validation: Any
    monitoring: Any
    serving: Any
    clock: Clock
    webhook_attempts: int = 3


class _Routed(io.TextIOBase):
    """``sys.stdout``/``stderr`` stand-in that sends each thread's writes to the buffer that
    thread registered (the job it runs), and the rest to the original stream."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.buffers: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        buffer = self.buffers.get(threading.get_ident())
        return (buffer or self.original).write(text)

    def flush(self) -> None:
        self.original.flush()


_ROUTE_LOCK = threading.Lock()


@contextmanager
def _captured() -> Iterator[io.StringIO]:
    """What the current thread prints while inside (the training function's output)."""
    with _ROUTE_LOCK:
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(sys, name), _Routed):
                setattr(sys, name, _Routed(getattr(sys, name)))
    buffer = io.StringIO()
    streams = [sys.stdout, sys.stderr]
    for s in streams:
        s.buffers[threading.get_ident()] = buffer  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        for s in streams:
            s.buffers.pop(threading.get_ident(), None)  # type: ignore[attr-defined]


def post_webhooks(urls: list[str], body: dict[str, Any], *, attempts: int = 3,
                  backoff: float = 0.2, key: str | None = None,
                  timeout: float = 5.0) -> dict[str, dict[str, Any]]:
    """POST ``body`` to each URL (connection errors, 408, 429 and 5xx tried again after
    ``backoff * 2**i`` s); per URL ``ok``, ``attempts``, ``status``, ``error``. Never raises:
    the outcome is stored on the job, which is the record of the notification."""
    headers = {"Idempotency-Key": key} if key else {}
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=timeout) as client:
        for url in urls:
            result: dict[str, Any] = {"ok": False, "attempts": 0, "status": None, "error": None}
            for i in range(max(attempts, 1)):
                result["attempts"] = i + 1
                try:
                    resp = client.post(url, json=body, headers=headers)
                    result["status"] = resp.status_code
                    result["ok"] = resp.status_code < 300
                    result["error"] = None if result["ok"] else f"HTTP {resp.status_code}"
                    if result["ok"] or (resp.status_code < 500
                                        and resp.status_code not in (408, 429)):
                        break
                except httpx.HTTPError as exc:
                    result["error"] = f"{type(exc).__name__}: {exc}"
                if i + 1 < attempts:
                    time.sleep(backoff * 2**i)
            out[url] = result
    return out


def _seconds(value: str, field: str) -> float:
    return parse_duration(value, field=field).total_seconds()


class JobRunner:
    """Runs claimed jobs for one scheduler (``owner``) over ``store`` (the jobs' table)."""

    def __init__(self, store: Any, collaborators: Collaborators, owner: str) -> None:
        self.store = store
        self.c = collaborators
        self.owner = owner

    # ---- bookkeeping --------------------------------------------------------------------------
    def _line(self, text: str) -> str:
        return f"{self.c.clock.now().isoformat(timespec='seconds')} {text}\n"

    def _save(self, job: Job, log: str | None = None, **values: Any) -> None:
        if not self.store.update_job(job.id, self.owner, log=self._line(log) if log else None,
                                     **values):
            raise _LeaseLost(job.id)
        for key, value in values.items():
            if hasattr(job, key):
                setattr(job, key, value)

    def _notify(self, job: Job, spec: PolicySpec, event: str, text: str) -> dict[str, Any]:
        if not spec.webhooks:
            return {}
        body = {"event": f"job_{event}", "text": text,
                "job": job.model_dump(mode="json", exclude={"logs"})}
        return {event: post_webhooks(spec.webhooks, body, attempts=self.c.webhook_attempts,
                                     key=f"{job.id}:{event}")}

    # ---- running ------------------------------------------------------------------------------
    def run(self, job: Job) -> Job:
        """Advance ``job`` as far as it goes now; returns it as left."""
        try:
            policy = self.store.get_policy(job.policy)
        except NotFound:
            self._finish(job, None, "canceled", "its policy was deleted")
            return job
        spec = policy.spec
        try:
            if job.stage in ("train", "monitor"):
                self._save(job, log=f"attempt {job.attempt} of {job.max_attempts}, taken by "
                           f"{self.owner}")
            while True:
                stage = getattr(self, f"_stage_{job.stage}", None)
                if stage is None:
                    raise InvalidParameter(f"unknown stage {job.stage!r}", field="stage")
                nxt = stage(job, policy)
                if nxt is None:
                    return job
                self._save(job, stage=nxt, state=self._timed(job, nxt))
        except _LeaseLost:
            return job
        except _Wait as wait:
            self._save(job, status="waiting",
                       next_at=self.c.clock.now() + timedelta(seconds=wait.seconds))
        except Refused as exc:
            self._finish(job, spec, "refused", str(exc))
        except Exception as exc:  # noqa: BLE001 - recorded on the job, retried or failed
            self._failed(job, spec, exc)
        return job

    def _finish(self, job: Job, spec: PolicySpec | None, status: str, text: str,
                **values: Any) -> None:
        notified = dict(job.notified)
        if spec is not None and status in ("failed", "refused", "rolled_back"):
            notified.update(self._notify(job.model_copy(update={"status": status}), spec,
                                         status, f"policy {job.policy}: {text}"))
        values.setdefault("state", self._timed(job, None))
        self._save(job, log=f"{status}: {text}", status=status, stage="done",
                   finished_at=self.c.clock.now(), next_at=None, notified=notified, **values)

    def _timed(self, job: Job, nxt: str | None) -> dict[str, Any]:
        """``job.state`` with ``stages``: when each stage began and ended (waits included),
        the job's breakdown of wall time by stage."""
        now = self.c.clock.now().isoformat()
        stages = {k: dict(v) for k, v in job.state.get("stages", {}).items()}
        current = stages.setdefault(job.stage, {})
        current.setdefault("start", (job.started_at or self.c.clock.now()).isoformat())
        current["end"] = now
        if nxt is not None:
            stages[nxt] = {"start": now}
        return {**job.state, "stages": stages}

    def _failed(self, job: Job, spec: PolicySpec, exc: BaseException) -> None:
        trace = "".join(traceback.format_exception(exc))
        ours = isinstance(exc, ModelyardError)  # bad configuration or data: not transient
        if not ours and job.attempt < job.max_attempts:
            delay = _seconds(spec.backoff, "backoff") * 2 ** max(job.attempt - 1, 0)
            self._save(job, log=f"attempt {job.attempt} of {job.max_attempts} failed "
                       f"({type(exc).__name__}: {exc}); retrying in {delay:g} s",
                       status="queued", error=trace, lease_owner=None, lease_expires_at=None,
                       next_at=self.c.clock.now() + timedelta(seconds=delay))
            return
        self._finish(job, spec, "failed", f"{job.stage} failed: {type(exc).__name__}: {exc}",
                     error=trace)

    # ---- stages -------------------------------------------------------------------------------
    def _stage_train(self, job: Job, policy: Policy) -> str | None:
        spec = policy.spec
        if spec.action == "monitor":
            return "monitor"
        if job.model_version is not None:  # trained before a takeover
            return "validate"
        assert spec.entry_point is not None
        data = {}
        for role, item in spec.data.items():
            view = self._view(item, job.due_at)
            rows = view.count()
            if rows == 0:
                raise InvalidParameter(
                    f"the data window {role!r} ({item.dataset}, "
                    f"{'last ' + item.last if item.last else 'as known'} at "
                    f"{job.due_at.isoformat()}) has no rows: nothing to train on.",
                    field="data")
            data[role] = view
            self._save(job, log=f"data {role}: {item.dataset}/{view.version}, {rows} rows")
        import_entry_point(spec.entry_point, spec.code_path, reload=True)  # the code as it is now
        with _captured() as output:
            try:
                mv = self.c.train(
                    spec.entry_point, model_name=spec.model, data=data, params=spec.params,
                    experiment=spec.experiment,
                    tags={"modelyard.job": job.id, "modelyard.policy": job.policy},
                    code_path=spec.code_path, executor=spec.executor)
            finally:
                printed = output.getvalue()
                if printed:
                    self.store.update_job(job.id, self.owner, log=printed[-65536:])
        self._save(job, log=f"trained and registered {mv.ref} (run {mv.run_id})",
                   model_version=mv.ref)
        return "validate"

    def _view(self, item: Any, at: datetime) -> Any:
        if item.version is not None:
            return self.c.datasets.view(item.dataset, version=item.version)
        if item.last is not None:
            start = at - parse_duration(item.last, field="data.last")
            return self.c.datasets.window(item.dataset, start, at, as_of=at)
        return self.c.datasets.view(item.dataset, as_of=at)

    def _stage_monitor(self, job: Job, policy: Policy) -> str | None:
        endpoint = policy.spec.monitored_endpoint
        result = self.c.monitoring.run(endpoint)
        events = ", ".join(f"{e.event} {e.alert.rule}" for e in result.events) or "no alerts"
        self._finish(job, policy.spec, "succeeded",
                     f"monitored {endpoint}: {result.run.n_rows} rows, {result.run.status}; "
                     f"{events}")
        return None

    def _stage_validate(self, job: Job, policy: Policy) -> str | None:
        spec = policy.spec
        assert job.model_version is not None
        try:
            self.c.validation.suite(spec.model)
        except NotFound:
            if spec.deploy.mode == "none":
                self._save(job, log="no validation suite: registered only")
                return "deploy"
            raise Refused(f"{spec.model} has no validation suite; a version is deployed only "
                          "after it passes one (yard.validation.set_suite).") from None
        report = self.c.validation.run(job.model_version, against=spec.deploy.alias,
                                       as_of=job.due_at)
        lines = "; ".join(f"{c.name} {c.status}" for c in report.checks)
        self._save(job, log=f"validation {report.status} ({report.id}): {lines}",
                   report_id=report.id)
        if report.status != "passed":
            failed = ", ".join(c.name for c in report.failures)
            raise Refused(f"{job.model_version} failed validation ({failed}; report "
                          f"{report.id}); {spec.model}@{spec.deploy.alias} not moved")
        return "deploy"

    def _current(self, model: str, alias: str) -> int | None:
        try:
            return int(self.c.models.get(f"{model}@{alias}").version)
        except NotFound:
            return None

    def _stage_deploy(self, job: Job, policy: Policy) -> str | None:
        spec, deploy = policy.spec, policy.spec.deploy
        assert job.model_version is not None
        version = int(job.model_version.rsplit("/", 1)[1])
        previous = self._current(spec.model, deploy.alias)
        if deploy.mode == "none":
            self._finish(job, spec, "succeeded", f"registered {job.model_version}; no deploy",
                         deploy={"mode": "none"})
            return None
        state = {**job.state, "previous": previous}
        if deploy.mode == "alias":
            self.c.models.set_alias(spec.model, deploy.alias, version,
                                    reason=f"retrain job {job.id} ({job.trigger})")
            now = self.c.clock.now()
            self._save(job, log=f"moved {spec.model}@{deploy.alias}: {previous} -> {version}",
                       state={**state, "deployed_at": now.isoformat()},
                       deploy={"mode": "alias", "alias": deploy.alias, "from": previous,
                               "to": version, "at": now.isoformat()})
            return "watch"
        if self.c.serving is None:
            raise InvalidParameter("a canary deploy needs a local yard (the serving tables).",
                                   field="deploy")
        assert deploy.endpoint is not None
        self.c.serving.get_endpoint(deploy.endpoint)  # NotFound names it
        canary = CanaryConfig(
            model=job.model_version, steps=deploy.steps, interval_s=deploy.interval_s,
            max_error_rate=deploy.max_error_rate, max_latency_ratio=deploy.max_latency_ratio,
            latency_slack_ms=deploy.latency_slack_ms, min_requests=deploy.min_requests,
            promote_alias=deploy.alias)
        started = self.c.serving.start_canary(
            deploy.endpoint, canary.route, canary.model, canary.model_dump(mode="json"),
            canary.steps[0], canary_id=f"job-{job.id}")
        self._save(job, log=f"canary {started.id} of {job.model_version} on {deploy.endpoint} "
                   f"at {canary.steps[0]:g}%",
                   state={**state, "canary": started.id,
                          "canary_started_at": self.c.clock.now().isoformat()},
                   deploy={"mode": "canary", "endpoint": deploy.endpoint, "canary": started.id,
                           "alias": deploy.alias, "from": previous, "to": version})
        return "canary"

    def _stage_canary(self, job: Job, policy: Policy) -> str | None:
        spec, deploy = policy.spec, policy.spec.deploy
        canary = self.c.serving.get_canary(job.state["canary"])
        steps = [{"action": s.action, "weight": s.weight, "reason": s.reason,
                  "at": s.at.isoformat()} for s in canary.steps]
        now = self.c.clock.now()
        if canary.status == "running":
            started = datetime.fromisoformat(job.state["canary_started_at"])
            if now - started > parse_duration(deploy.timeout, field="deploy.timeout"):
                self.c.serving.advance(canary.id, canary.step, canary.step, 0.0, "abort",
                                       f"job {job.id}: not finished within {deploy.timeout}",
                                       {})
                raise InvalidParameter(f"the canary {canary.id} did not finish within "
                                       f"{deploy.timeout}; aborted, alias not moved.",
                                       field="deploy.timeout")
            raise _Wait(min(_seconds(spec.poll, "poll"), deploy.interval_s))
        decision = {**job.deploy, "canary_status": canary.status, "steps": steps}
        if canary.status != "promoted":
            reason = canary.steps[-1].reason if canary.steps else canary.status
            self._finish(job, spec, "rolled_back",
                         f"canary of {job.model_version} {canary.status}: {reason}; "
                         f"{spec.model}@{deploy.alias} not moved", deploy=decision)
            return None
        version = int(job.model_version.rsplit("/", 1)[1])  # type: ignore[union-attr]
        if self._current(spec.model, deploy.alias) != version:  # the server could not move it
            self.c.models.set_alias(spec.model, deploy.alias, version,
                                    reason=f"canary promoted (job {job.id})")
        self._save(job, log=f"canary promoted; {spec.model}@{deploy.alias} -> {version}",
                   deploy={**decision, "at": now.isoformat()},
                   state={**job.state, "deployed_at": now.isoformat()})
        return "watch"

    def _stage_watch(self, job: Job, policy: Policy) -> str | None:
        spec = policy.spec
        watch = spec.watch
        if watch is None or not watch.thresholds:
            self._finish(job, spec, "succeeded", f"deployed {job.model_version}")
            return None
        deployed = datetime.fromisoformat(job.state["deployed_at"])
        now = self.c.clock.now()
        until = deployed + parse_duration(watch.period, field="watch.period")
        breach = self._breach(job, spec, deployed, min(now, until))
        if breach is not None:
            self._rollback(job, spec, breach)
            return None
        if now >= until:
            self._finish(job, spec, "succeeded",
                         f"deployed {job.model_version}; no breach in {watch.period}")
            return None
        raise _Wait(min(_seconds(watch.every, "watch.every"),
                        max((until - now).total_seconds(), 0.001)))

    def _breach(self, job: Job, spec: PolicySpec, start: datetime,
                end: datetime) -> dict[str, Any] | None:
        watch = spec.watch
        assert watch is not None and job.model_version is not None
        endpoint = spec.monitored_endpoint
        if endpoint is None:
            raise InvalidParameter("watch thresholds need an endpoint (watch.endpoint or "
                                   "deploy.endpoint).", field="watch.endpoint")
        version = job.model_version.rsplit("/", 1)[1]
        result = self.c.monitoring.run(endpoint, start=start, end=end, model_version=int(version),
                                       save=True, alerts=False)
        groups = [g for g in result.groups if g.model_version == version and not g.shadow]
        points = metric_points(endpoint, start, end, groups)
        seen = []
        for g in groups:
            for t in watch.thresholds:
                enough = g.n_labeled if t.metric in g.performance else g.n_rows
                value = next((p.value for p in points if p.name == t.metric
                              and p.feature == t.feature and p.route == g.route), None)
                seen.append(f"{t.metric}={'n/a' if value is None else f'{value:.4g}'} "
                            f"({enough} rows)")
                if value is None or enough < watch.min_rows:
                    continue
                if OPS[t.op](value, t.threshold):
                    return {"metric": t.metric, "feature": t.feature, "value": value,
                            "op": t.op, "threshold": t.threshold, "rows": enough,
                            "route": g.route, "window_start": start.isoformat(),
                            "window_end": end.isoformat(), "monitor_run": result.run.id}
        self._save(job, log=f"watch {start.isoformat(timespec='seconds')}.."
                   f"{end.isoformat(timespec='seconds')}: {', '.join(seen) or 'no predictions'}")
        return None

    def _rollback(self, job: Job, spec: PolicySpec, breach: dict[str, Any]) -> None:
        alias = spec.deploy.alias
        previous = job.state.get("previous")
        what = (f"{breach['metric']}" + (f" of {breach['feature']}" if breach["feature"] else "")
                + f" = {breach['value']:.4g} {breach['op']} {breach['threshold']:g} over "
                f"{breach['rows']} rows")
        reason = f"automatic rollback by job {job.id}: {what}"
        if previous is None:
            self.c.models.delete_alias(spec.model, alias, reason=reason, override=True)
        else:
            self.c.models.set_alias(spec.model, alias, int(previous), reason=reason,
                                    override=True)
        rollback = {**breach, "alias": alias, "from": job.model_version, "to": previous,
                    "at": self.c.clock.now().isoformat(), "reason": reason}
        self._finish(job, spec, "rolled_back",
                     f"{job.model_version} breached the watch ({what}); {spec.model}@{alias} "
                     f"back to {previous}", rollback=rollback)


class _LeaseLost(Exception):
    """Another scheduler holds the job now: stop working on it."""
