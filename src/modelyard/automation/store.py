"""Policies and jobs over the database: the REST routes (``@endpoint``) and the queue the
schedulers share.

Exactly once, with several schedulers on one database:

* **Planning** inserts a job per (policy, idempotency key) with ``INSERT … ON CONFLICT DO
  NOTHING`` on that unique pair (procrastinate's periodic defer; dagster's ``run_key``): two
  schedulers planning the same due time make one row, and a restarted one makes none again.
* **Claiming** selects due jobs ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) inside the claiming
  transaction, which on SQLite is ``BEGIN IMMEDIATE`` (one writer at a time: the equivalent),
  and gives each a lease (``lease_owner``, ``lease_expires_at``). The policy's row is locked
  too and the policy re-checked for an active job, so one policy runs one job at a time.
* **Leases expire**: a running job whose lease ran out (its scheduler died) is claimed again
  and resumed at its recorded stage. Every write of a running job is conditional on still
  holding its lease (``… WHERE lease_owner = me``), so a scheduler that lost it stops.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..errors import AlreadyExists, InvalidParameter, NotFound
from ..ids import new_id
from ..store import audit
from ..store.base import DomainStore
from ..store.schema.automation import JobRow, PolicyRow
from ..transport import endpoint
from .entities import TERMINAL, Job, Policy, PolicySpec, check_policy_name

__all__ = ["AutomationStore"]

_POLICIES = PolicyRow.__table__
_JOBS = JobRow.__table__
_ACTIVE = ("running", "waiting")
_LOG_LIMIT = 256 * 1024  # a job's log keeps its last 256 KiB


def _policy(r: Any) -> Policy:
    return Policy(name=r.name, spec=PolicySpec.model_validate(r.spec), enabled=r.enabled,
                  state=r.state or {}, revision=r.revision, created_at=r.created_at,
                  updated_at=r.updated_at, created_by=r.created_by)


def _job(r: Any) -> Job:
    return Job(**{c: getattr(r, c) for c in Job.model_fields})


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class AutomationStore(DomainStore):
    """Policies and their jobs in one database (``backend.automation``); the constructor only
    stores its arguments."""

    # ---- policies -------------------------------------------------------------------------------
    @endpoint("PUT", "/automation/policies/{name}", permission="admin")
    def save_policy(self, name: str, spec: PolicySpec, enabled: bool = True,
                    state: dict[str, Any] | None = None) -> Policy:
        """Create or replace the policy ``name``. A new policy starts with ``state`` (its
        triggers' cursors: what "new" means for data and commits); a replaced one keeps its
        cursors."""
        check_policy_name(name)
        now = self.clock.now()
        spec_json = spec.model_dump(mode="json")
        with self.db.write() as conn:
            row = conn.execute(sa.select(_POLICIES).where(_POLICIES.c.name == name)
                               .with_for_update()).first()
            if row is None:
                conn.execute(_POLICIES.insert().values(
                    name=name, model=spec.model, spec=spec_json, enabled=enabled,
                    state={"created": now.isoformat(), **(state or {})}, revision=1,
                    created_at=now, updated_at=now, created_by=self.actor))
            else:
                conn.execute(_POLICIES.update().where(_POLICIES.c.name == name).values(
                    model=spec.model, spec=spec_json, enabled=enabled,
                    revision=row.revision + 1, updated_at=now))
            audit.append(conn, action="policy.put", target=f"policy:{name}",
                         before=None if row is None else {"spec": row.spec,
                                                          "enabled": row.enabled},
                         after={"spec": spec_json, "enabled": enabled})
        return self.get_policy(name)

    @endpoint("GET", "/automation/policies/{name}", permission="read")
    def get_policy(self, name: str) -> Policy:
        """One policy with its cursors."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_POLICIES).where(_POLICIES.c.name == name)).first()
            if row is None:
                raise self._no_policy(conn, name)
        return _policy(row)

    @endpoint("GET", "/automation/policies", permission="read")
    def list_policies(self, model: str | None = None,
                      enabled: bool | None = None) -> list[Policy]:
        """Policies in name order (of one model, enabled or not)."""
        stmt = sa.select(_POLICIES).order_by(_POLICIES.c.name)
        if model is not None:
            stmt = stmt.where(_POLICIES.c.model == model)
        if enabled is not None:
            stmt = stmt.where(_POLICIES.c.enabled == enabled)
        with self.db.read() as conn:
            return [_policy(r) for r in conn.execute(stmt).all()]

    @endpoint("POST", "/automation/policies/{name}/enable", permission="admin")
    def enable_policy(self, name: str) -> Policy:
        """Let the schedulers run the policy again (missed runs follow its catch-up rule)."""
        return self._set_enabled(name, True)

    @endpoint("POST", "/automation/policies/{name}/disable", permission="admin")
    def disable_policy(self, name: str) -> Policy:
        """Stop planning new jobs for the policy (jobs already running finish)."""
        return self._set_enabled(name, False)

    def _set_enabled(self, name: str, enabled: bool) -> Policy:
        with self.db.write() as conn:
            n = conn.execute(_POLICIES.update().where(_POLICIES.c.name == name).values(
                enabled=enabled, updated_at=self.clock.now())).rowcount
            if not n:
                raise self._no_policy(conn, name)
            audit.append(conn, action="policy.enable" if enabled else "policy.disable",
                         target=f"policy:{name}")
        return self.get_policy(name)

    @endpoint("DELETE", "/automation/policies/{name}", status_code=204, permission="admin")
    def delete_policy(self, name: str) -> None:
        """Delete a policy; its job history is kept. Refused while one of its jobs runs."""
        with self.db.write() as conn:
            if conn.execute(sa.select(_POLICIES.c.name).where(_POLICIES.c.name == name)
                            .with_for_update()).first() is None:
                raise self._no_policy(conn, name)
            active = conn.execute(sa.select(_JOBS.c.id).where(
                _JOBS.c.policy == name, _JOBS.c.status.in_(_ACTIVE))).first()
            if active is not None:
                raise AlreadyExists(f"Policy {name!r} has a job in progress ({active.id}); "
                                    "wait for it or disable the policy first.", field="name")
            conn.execute(_POLICIES.delete().where(_POLICIES.c.name == name))
            audit.append(conn, action="policy.delete", target=f"policy:{name}")

    @endpoint("POST", "/automation/policies/{name}/run", status_code=201, permission="write")
    def run_policy(self, name: str, reason: str | None = None) -> Job:
        """Queue a job of the policy now (a manual trigger)."""
        policy = self.get_policy(name)
        now = self.clock.now()
        job_id = self.enqueue(name, f"manual:{new_id()}", "manual",
                              {"reason": reason} if reason else {}, now,
                              policy.spec.retries + 1)
        assert job_id is not None
        return self.get_job(job_id)

    # ---- jobs (read) ----------------------------------------------------------------------------
    @endpoint("GET", "/automation/jobs", permission="read")
    def list_jobs(self, policy: str | None = None, status: str | None = None,
                  model: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
        """Jobs, newest first (of one policy, status or model); ``offset`` pages on."""
        if offset < 0:
            raise InvalidParameter(f"offset must be 0 or more. Got {offset!r} instead.",
                                   field="offset")
        stmt = sa.select(_JOBS).order_by(_JOBS.c.created_at.desc(), _JOBS.c.id.desc()) \
            .limit(limit).offset(offset)
        if policy is not None:
            stmt = stmt.where(_JOBS.c.policy == policy)
        if status is not None:
            stmt = stmt.where(_JOBS.c.status == status)
        if model is not None:
            stmt = stmt.where(_JOBS.c.policy.in_(
                sa.select(_POLICIES.c.name).where(_POLICIES.c.model == model)))
        with self.db.read() as conn:
            return [_job(r) for r in conn.execute(stmt).all()]

    @endpoint("GET", "/automation/jobs/{job_id}", permission="read")
    def get_job(self, job_id: str) -> Job:
        """One job with its logs, decisions and error."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_JOBS).where(_JOBS.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"No job with id {job_id!r}.", field="job_id")
        return _job(row)

    # ---- the schedulers' queue (local only: no routes) ------------------------------------------
    def enqueue(self, policy: str, key: str, trigger: str, reason: dict[str, Any],
                due_at: datetime, max_attempts: int) -> str | None:
        """Insert the job of (policy, key) unless it exists; its id, or None if it did."""
        now = self.clock.now()
        job_id = new_id()
        with self.db.write() as conn:
            return self._enqueue(conn, job_id, policy, key, trigger, reason, due_at,
                                 max_attempts, now)

    def _enqueue(self, conn: Connection, job_id: str, policy: str, key: str, trigger: str,
                 reason: dict[str, Any], due_at: datetime, max_attempts: int,
                 now: datetime) -> str | None:
        stmt = _insert(conn)(_JOBS).values(
            id=job_id, policy=policy, key=key, trigger=trigger, reason=reason, due_at=due_at,
            status="queued", stage="train", attempt=0, max_attempts=max_attempts,
            next_at=max(now, due_at), created_at=now, deploy={}, rollback={},
            state={}, notified={}, logs="",
        ).on_conflict_do_nothing(index_elements=["policy", "key"]).returning(_JOBS.c.id)
        made: str | None = conn.execute(stmt).scalar()
        if made is not None:
            audit.append(conn, action="job.queue", target=f"policy:{policy}",
                         after={"job": made, "key": key, "trigger": trigger, "reason": reason})
        return made

    def plan_many(self, planned: list[tuple[str, list[dict[str, Any]], dict[str, Any], int]]
                  ) -> list[str]:
        """In one transaction, for each ``(policy, jobs, state, max_attempts)``: insert the
        ``jobs`` (``key``, ``trigger``, ``reason``, ``due_at``; existing keys are skipped) and
        merge ``state`` into the policy's cursors. Policies are locked in name order, so two
        schedulers planning at once cannot deadlock. Returns the ids inserted."""
        now = self.clock.now()
        made = []
        with self.db.write() as conn:
            for policy, jobs, state, max_attempts in sorted(planned, key=lambda p: p[0]):
                row = conn.execute(sa.select(_POLICIES.c.state)
                                   .where(_POLICIES.c.name == policy).with_for_update()).first()
                if row is None:  # deleted meanwhile
                    continue
                for job in jobs:
                    job_id = self._enqueue(conn, new_id(), policy, job["key"], job["trigger"],
                                           job.get("reason") or {}, job["due_at"],
                                           max_attempts, now)
                    if job_id is not None:
                        made.append(job_id)
                if state:
                    conn.execute(_POLICIES.update().where(_POLICIES.c.name == policy)
                                 .values(state={**(row.state or {}), **state}))
        return made

    def active_policies(self) -> set[str]:
        """The policies with a job queued or in progress."""
        with self.db.read() as conn:
            return set(conn.execute(sa.select(_JOBS.c.policy).where(
                _JOBS.c.status.in_(("queued", "running", "waiting"))).distinct()).scalars())

    def claim(self, owner: str, lease: timedelta, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due jobs for ``owner`` with a lease: queued or waiting jobs
        whose time came, and running jobs whose lease expired (see the module docstring)."""
        now = self.clock.now()
        due = sa.or_(
            sa.and_(_JOBS.c.status.in_(("queued", "waiting")), _JOBS.c.next_at <= now),
            sa.and_(_JOBS.c.status == "running", _JOBS.c.lease_expires_at < now),
        )
        with self.db.write() as conn:
            rows = conn.execute(
                sa.select(_JOBS.c.id, _JOBS.c.policy, _JOBS.c.status).where(due)
                .order_by(_JOBS.c.next_at, _JOBS.c.id).limit(limit * 4)
                .with_for_update(skip_locked=True, of=_JOBS)
            ).all()
            taken: list[str] = []
            policies: set[str] = set()
            for r in rows:
                if len(taken) >= limit or r.policy in policies:
                    continue
                locked = conn.execute(
                    sa.select(_POLICIES.c.name).where(_POLICIES.c.name == r.policy)
                    .with_for_update(skip_locked=True)).first()
                if locked is None and conn.dialect.name == "postgresql":
                    continue  # another scheduler is claiming for this policy right now
                if r.status == "queued" and self._busy(conn, r.policy, r.id, now):
                    continue
                started = conn.execute(_JOBS.update().where(_JOBS.c.id == r.id, due).values(
                    status="running", lease_owner=owner, lease_expires_at=now + lease,
                    attempt=_JOBS.c.attempt + (1 if r.status == "queued" else 0),
                    started_at=sa.func.coalesce(_JOBS.c.started_at, now),
                )).rowcount
                if started:
                    taken.append(r.id)
                    policies.add(r.policy)
            jobs = [_job(r) for r in conn.execute(
                sa.select(_JOBS).where(_JOBS.c.id.in_(taken)).order_by(_JOBS.c.next_at))]
        return jobs

    @staticmethod
    def _busy(conn: Connection, policy: str, job_id: str, now: datetime) -> bool:
        """Another job of the policy is in progress (waiting, or running on a live lease)."""
        return conn.execute(sa.select(_JOBS.c.id).where(
            _JOBS.c.policy == policy, _JOBS.c.id != job_id,
            sa.or_(_JOBS.c.status == "waiting",
                   sa.and_(_JOBS.c.status == "running", _JOBS.c.lease_expires_at >= now)),
        ).limit(1)).first() is not None

    def renew(self, owner: str, job_ids: list[str], lease: timedelta) -> list[str]:
        """Extend the leases ``owner`` still holds; returns the ids it holds."""
        if not job_ids:
            return []
        now = self.clock.now()
        with self.db.write() as conn:
            conn.execute(_JOBS.update().where(
                _JOBS.c.id.in_(job_ids), _JOBS.c.lease_owner == owner,
                _JOBS.c.status == "running").values(lease_expires_at=now + lease))
            held = conn.execute(sa.select(_JOBS.c.id).where(
                _JOBS.c.id.in_(job_ids), _JOBS.c.lease_owner == owner,
                _JOBS.c.status == "running")).scalars().all()
        return list(held)

    def update_job(self, job_id: str, owner: str, *, log: str | None = None,
                   **values: Any) -> bool:
        """Write fields of a job ``owner`` holds (and append ``log`` lines); False when the
        lease was lost (another scheduler took the job over)."""
        unknown = set(values) - set(_JOBS.c.keys())
        if unknown:
            raise InvalidParameter(f"unknown job fields {sorted(unknown)}.", field="values")
        if values.get("status") in TERMINAL or values.get("status") == "waiting":
            values.setdefault("lease_owner", None)
            values.setdefault("lease_expires_at", None)
        with self.db.write() as conn:
            row = conn.execute(sa.select(_JOBS.c.logs, _JOBS.c.lease_owner).where(
                _JOBS.c.id == job_id).with_for_update()).first()
            if row is None or row.lease_owner != owner:
                return False
            if log:
                logs = (row.logs or "") + log
                values["logs"] = logs[-_LOG_LIMIT:]
            conn.execute(_JOBS.update().where(_JOBS.c.id == job_id).values(**values))
        return True

    def last_job(self, policy: str, trigger: str | None = None) -> Job | None:
        """The newest job of ``policy`` (made by ``trigger``)."""
        stmt = sa.select(_JOBS).where(_JOBS.c.policy == policy)
        if trigger is not None:
            stmt = stmt.where(_JOBS.c.trigger == trigger)
        with self.db.read() as conn:
            row = conn.execute(stmt.order_by(_JOBS.c.created_at.desc(), _JOBS.c.id.desc())
                               .limit(1)).first()
        return None if row is None else _job(row)

    @staticmethod
    def _no_policy(conn: Connection, name: str) -> NotFound:
        names = conn.execute(sa.select(_POLICIES.c.name).order_by(_POLICIES.c.name)
                             .limit(20)).scalars().all()
        known = f"the policies are {', '.join(names)}" if names else "there are no policies"
        return NotFound(f"No policy named {name!r}; {known}.", field="name")
