"""The scheduler: plan due jobs from the policies' triggers, claim them with leases, run them.

    scheduler = Scheduler.for_yard(yard, owner="host-1")
    scheduler.tick()               # one pass: plan, claim, run what is due
    scheduler.run_forever(stop)    # what ``modelyard scheduler`` does

Any number of schedulers may run against one database; each due job still runs once (see
:mod:`modelyard.automation.store`). A tick:

1. **plan** — for each enabled policy, the due times of its ``cron``/``every`` triggers since
   its cursor (missed ones per its ``catch_up`` rule), its open monitoring alerts, the rows
   added to its dataset, its code's new commit: one job per idempotency key, inserted with the
   cursors' new values in one transaction;
2. **claim** — up to ``workers`` due jobs, with a lease renewed by a heartbeat while they run;
3. **run** — each claimed job advances as far as it can (:class:`~.loop.JobRunner`).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock, parse_time
from ..errors import NotFound
from ..ids import new_id
from ..monitoring.windows import parse_duration
from ..tracking.environment import read_git_info
from .entities import (
    AlertTrigger,
    CommitTrigger,
    CronTrigger,
    DataTrigger,
    EveryTrigger,
    Job,
    Policy,
)
from .loop import Collaborators, JobRunner
from .triggers import due_times, plan_due

__all__ = ["Scheduler", "collaborators_of", "default_owner"]

log = logging.getLogger("modelyard.scheduler")


def default_owner() -> str:
    """``host:pid:random``: unique per scheduler process."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"


def collaborators_of(yard: Any) -> Collaborators:
    """The collaborators a job needs, taken from one yard (the composition happens here)."""
    from ..serving.repository import ServingRepository
    from .retrain import run_training

    backend = yard.backend
    serving = None if backend.is_remote else ServingRepository(backend.db, yard.clock)
    return Collaborators(train=functools.partial(run_training, yard), models=yard.models,
                         datasets=yard.datasets, validation=yard.validation,
                         monitoring=yard.monitoring, serving=serving, clock=yard.clock)


class Scheduler:
    """Plans and runs the jobs of every enabled policy (see the module docstring).

    ``store``: the automation store (local database); ``collaborators``: what jobs use;
    ``owner``: this scheduler's name in leases; ``workers``: jobs run at once;
    ``lease``: how long a claim lasts without a heartbeat.
    """

    def __init__(self, store: Any, collaborators: Collaborators, *, owner: str | None = None,
                 workers: int = 1, lease: timedelta = timedelta(minutes=2)) -> None:
        self.store = store
        self.collaborators = collaborators
        self.owner = owner or default_owner()
        self.workers = workers
        self.lease = lease
        self.runner = JobRunner(store, collaborators, self.owner)
        self._running: set[str] = set()
        self._checked: dict[tuple[str, int], datetime] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_yard(cls, yard: Any, **options: Any) -> Scheduler:
        if yard.backend.is_remote:
            from ..errors import InvalidParameter

            raise InvalidParameter("the scheduler works on the database itself: give it --home "
                                   "or --db, not --remote.", field="remote")
        return cls(yard.backend.automation, collaborators_of(yard), **options)

    @property
    def clock(self) -> Clock:
        return self.collaborators.clock

    # ---- one pass -----------------------------------------------------------------------------
    def tick(self, *, plan: bool = True) -> list[Job]:
        """Plan (unless ``plan=False``), then claim and run what is due; returns the jobs it
        ran (as left)."""
        if plan:
            self.plan()
        jobs = self.store.claim(self.owner, self.lease, limit=self.workers)
        if not jobs:
            return []
        with self._lock:
            self._running.update(j.id for j in jobs)
        try:
            if len(jobs) == 1:
                return [self.runner.run(jobs[0])]
            with ThreadPoolExecutor(max_workers=self.workers,
                                    thread_name_prefix="modelyard-job") as pool:
                return list(pool.map(self.runner.run, jobs))
        finally:
            with self._lock:
                self._running.difference_update(j.id for j in jobs)

    def heartbeat(self) -> None:
        """Renew the leases of the jobs this scheduler is running."""
        with self._lock:
            ids = sorted(self._running)
        if ids:
            self.store.renew(self.owner, ids, self.lease)

    def run_forever(self, stop: threading.Event, *, interval: float = 5.0,
                    on_tick: Callable[[list[Job]], None] | None = None) -> None:
        """Tick every ``interval`` seconds (at once again when a tick ran jobs) until ``stop``
        is set; a heartbeat thread renews leases meanwhile."""
        beat = threading.Thread(target=self._beat, args=(stop,), name="modelyard-lease",
                                daemon=True)
        beat.start()
        planned = float("-inf")
        while not stop.is_set():
            ran: list[Job] = []
            plan = time.monotonic() - planned >= interval  # plan once an interval; claim
            if plan:                                         # as long as jobs are due
                planned = time.monotonic()
            try:
                ran = self.tick(plan=plan)
            except Exception:  # a scheduler keeps going; the next tick retries
                log.exception("scheduler tick failed")
            if on_tick is not None:
                on_tick(ran)
            if not ran:
                stop.wait(interval)
        beat.join(timeout=5)

    def _beat(self, stop: threading.Event) -> None:
        period = max(self.lease.total_seconds() / 3, 0.05)
        while not stop.wait(period):
            try:
                self.heartbeat()
            except Exception:
                log.exception("lease heartbeat failed")

    # ---- planning -------------------------------------------------------------------------------
    def plan(self) -> list[str]:
        """Insert the due jobs of every enabled policy (one transaction for all); returns the
        ids made now."""
        active: set[str] | None = None

        def is_busy(name: str) -> bool:  # asked of the database once, when something is due
            nonlocal active
            if active is None:
                active = self.store.active_policies()
            return name in active

        planned = []
        for policy in self.store.list_policies(enabled=True):
            try:
                found = self._plan_policy(policy, is_busy)
            except Exception:  # one bad policy must not stop the others
                log.exception("planning policy %s failed", policy.name)
                continue
            if found is not None:
                planned.append(found)
        return self.store.plan_many(planned) if planned else []  # type: ignore[no-any-return]

    def _plan_policy(self, policy: Policy, busy: Callable[[str], bool]
                     ) -> tuple[str, list[dict[str, Any]], dict[str, Any], int] | None:
        now = self.clock.now()
        spec = policy.spec
        grace = parse_duration(spec.grace, field="grace")
        jobs: list[dict[str, Any]] = []
        state: dict[str, Any] = {}

        def is_busy() -> bool:
            return busy(policy.name)

        poll = parse_duration(spec.poll, field="poll")
        for i, trigger in enumerate(spec.triggers):
            slot = f"t{i}:{trigger.type}"
            if isinstance(trigger, CronTrigger | EveryTrigger):
                cursor = parse_time(policy.state.get(slot) or policy.state.get("created")
                                    or policy.created_at)
                due = due_times(trigger, cursor, now, grace)
                what = trigger.cron if isinstance(trigger, CronTrigger) else trigger.every
                for at in plan_due(due, spec.catch_up):
                    if is_busy():  # one job per policy at a time: this due time is skipped
                        state[f"skipped:{slot}"] = at.isoformat()
                        continue
                    late = (now - at) > grace
                    jobs.append({"key": f"{trigger.type}:{what}:{at.isoformat()}",
                                 "trigger": trigger.type, "due_at": at,
                                 "reason": {trigger.type: what, "due": at.isoformat(),
                                            **({"caught_up": True} if late else {})}})
                if due.cursor > cursor:
                    state[slot] = due.cursor.isoformat()
                continue
            last = self._checked.get((policy.name, i))
            if last is not None and now - last < poll:  # events are looked at every `poll`
                continue
            self._checked[(policy.name, i)] = now
            if is_busy():  # events are judged again once the job in progress is done
                continue
            if isinstance(trigger, AlertTrigger):
                jobs.extend(self._alert_jobs(policy, trigger, now))
            elif isinstance(trigger, DataTrigger):
                found = self._data_job(policy, slot, trigger, now)
                if found is not None:
                    jobs.append(found[0])
                    state[slot] = found[1]
            elif isinstance(trigger, CommitTrigger):
                found = self._commit_job(policy, slot, now)
                if found is not None:
                    jobs.append(found[0])
                    state[slot] = found[1]
        if not jobs and not state:
            return None
        return policy.name, jobs, state, spec.retries + 1

    def _alert_jobs(self, policy: Policy, trigger: AlertTrigger,
                    now: datetime) -> list[dict[str, Any]]:
        endpoint = trigger.endpoint or policy.spec.monitored_endpoint
        last = self.store.last_job(policy.name, "alert")
        cooldown = parse_duration(trigger.cooldown, field="cooldown")
        if last is not None and now - last.created_at < cooldown:
            return []
        out = []
        for alert in self.collaborators.monitoring.alerts(state="open", endpoint=endpoint,
                                                          limit=1000):
            if trigger.rule is not None and alert.rule != trigger.rule:
                continue
            if trigger.metric is not None and alert.metric != trigger.metric:
                continue
            if trigger.feature is not None and alert.feature != trigger.feature:
                continue
            out.append({"key": f"alert:{alert.id}", "trigger": "alert", "due_at": now,
                        "reason": {"alert": alert.id, "rule": alert.rule,
                                   "metric": alert.metric, "feature": alert.feature,
                                   "value": alert.value, "message": alert.message}})
            break  # one retrain answers every alert open now
        return out

    def _data_job(self, policy: Policy, slot: str, trigger: DataTrigger,
                  now: datetime) -> tuple[dict[str, Any], dict[str, Any]] | None:
        try:
            latest = self.collaborators.datasets.get(trigger.dataset)
        except NotFound:
            return None
        seen = policy.state.get(slot) or policy.state.get(f"baseline:{slot}") or {"rows": 0}
        new = latest.n_rows - int(seen.get("rows", 0))
        if new < trigger.min_new_rows:
            return None
        job = {"key": f"data:{trigger.dataset}/{latest.version}", "trigger": "data",
               "due_at": now, "reason": {"dataset": trigger.dataset,
                                         "version": latest.version, "new_rows": new}}
        return job, {"rows": latest.n_rows, "version": latest.version}

    def _commit_job(self, policy: Policy, slot: str,
                    now: datetime) -> tuple[dict[str, Any], str] | None:
        folder = policy.spec.code_path
        if folder is None:
            return None
        commit, _, repo = read_git_info(folder)
        seen = policy.state.get(slot) or policy.state.get(f"baseline:{slot}")
        if commit is None or commit == seen:
            return None
        job = {"key": f"commit:{commit}", "trigger": "commit", "due_at": now,
               "reason": {"commit": commit, "repository": repo, "previous": seen}}
        return job, commit
