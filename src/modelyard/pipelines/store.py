"""Pipeline runs and step runs over the database (``backend.pipelines``).

Each method marked with :func:`~modelyard.transport.endpoint` is also a REST route of
``modelyard server`` (under ``/api/v1/pipelines``) and a method of the remote client, so a
pipeline runs the same against a local yard and a shared server: the steps execute where the
pipeline is started, their records and outputs go to the yard.

The store keeps, per step run, the cache key and the components it was made of; a hit is
found by key (:meth:`PipelineStore.find_cached`), and a miss is explained by comparing the
components with the last completed run of the same step (:meth:`PipelineStore.previous_step`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import InvalidParameter, NotFound
from ..ids import new_id
from ..store import audit
from ..store.base import DomainStore
from ..store.names import check_name
from ..store.schema.pipelines import PipelineLinkRow, PipelineRunRow, PipelineStepRunRow
from ..transport import endpoint
from .entities import (
    DONE,
    RUN_STATUSES,
    STEP_STATUSES,
    GraphStep,
    OutputRef,
    PipelineRun,
    StepLink,
    StepRun,
)

__all__ = ["PipelineStore", "check_pipeline_name"]

_RUNS = PipelineRunRow.__table__
_STEPS = PipelineStepRunRow.__table__
_LINKS = PipelineLinkRow.__table__
_TERMINAL = ("succeeded", "cached", "failed", "skipped")
_MAX_LIST = 1000


def check_pipeline_name(name: object, *, field: str = "pipeline") -> str:
    """A pipeline's name follows the one name rule of every store (``store/names.py``)."""
    return check_name(name, field=field, what="pipeline name")


def _step(r: Any) -> StepRun:
    return StepRun(run_id=r.run_id, pipeline=r.pipeline, step=r.step, function=r.function,
                   status=r.status, cache_key=r.cache_key, components=r.components or {},
                   cached_from=r.cached_from, reasons=list(r.reasons or []),
                   outputs={k: OutputRef.model_validate(v) for k, v in (r.outputs or {}).items()},
                   attempt=r.attempt, started_at=r.started_at, finished_at=r.finished_at,
                   duration_s=r.duration_s, error=r.error)


def _run(r: Any, steps: list[StepRun]) -> PipelineRun:
    order = {g["name"]: i for i, g in enumerate(r.graph or [])}
    steps = sorted(steps, key=lambda s: order.get(s.step, len(order)))
    return PipelineRun(id=r.id, pipeline=r.pipeline, entry_point=r.entry_point,
                       code_path=r.code_path, params=r.params or {},
                       graph=[GraphStep.model_validate(g) for g in r.graph or []],
                       status=r.status, no_cache=r.no_cache, executor=r.executor,
                       attempt=r.attempt, error=r.error, created_at=r.created_at,
                       finished_at=r.finished_at, created_by=r.created_by, steps=steps)


class PipelineStore(DomainStore):
    """Pipeline runs, their step runs and lineage links in one database; built as
    ``PipelineStore(db, artifacts, settings, clock)``, the constructor only stores them."""

    # ---- runs ---------------------------------------------------------------------------------
    @endpoint("POST", "/pipelines/runs", permission="write", status_code=201)
    def create_run(self, pipeline: str, graph: list[GraphStep], params: dict[str, Any],
                   entry_point: str | None = None, code_path: str | None = None,
                   no_cache: bool = False, executor: str | None = None) -> PipelineRun:
        """Start a run of ``pipeline`` with its graph (every step pending)."""
        check_pipeline_name(pipeline)
        names = [g.name for g in graph]
        if not names or len(set(names)) != len(names):
            raise InvalidParameter(f"graph must name each step once. Got {names!r} instead.",
                                   field="graph")
        run_id = new_id()
        now = self.clock.now()
        with self.db.write() as conn:
            conn.execute(_RUNS.insert().values(
                id=run_id, pipeline=pipeline, entry_point=entry_point, code_path=code_path,
                params=params, graph=[g.model_dump(mode="json") for g in graph],
                status="running", no_cache=no_cache, executor=executor, attempt=1,
                created_at=now, created_by=self.actor))
            conn.execute(_STEPS.insert(), [
                {"run_id": run_id, "pipeline": pipeline, "step": g.name, "function": g.function,
                 "status": "pending", "components": {}, "reasons": [], "outputs": {},
                 "attempt": 0} for g in graph])
            audit.append(conn, action="pipeline.run", target=f"pipeline_run:{run_id}",
                         after={"pipeline": pipeline, "params": params,
                                "steps": names, "no_cache": no_cache})
        return self.get_run(run_id)

    @endpoint("GET", "/pipelines/runs/{run_id}", permission="read")
    def get_run(self, run_id: str) -> PipelineRun:
        """A run with every step's status, cache key, hit or miss reasons and outputs."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_RUNS).where(_RUNS.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"No pipeline run with id {run_id!r}.", field="run_id")
            steps = conn.execute(sa.select(_STEPS).where(_STEPS.c.run_id == run_id)).all()
        return _run(row, [_step(s) for s in steps])

    @endpoint("GET", "/pipelines/runs", permission="read")
    def list_runs(self, pipeline: str | None = None, status: str | None = None,
                  limit: int = 50, offset: int = 0) -> list[PipelineRun]:
        """Runs, newest first (``pipeline``, ``status`` filter them)."""
        if status is not None and status not in RUN_STATUSES:
            raise InvalidParameter(f"status must be one of {', '.join(RUN_STATUSES)}. Got "
                                   f"{status!r} instead.", field="status")
        if not 1 <= limit <= _MAX_LIST or offset < 0:
            raise InvalidParameter(f"limit must be 1-{_MAX_LIST} and offset >= 0. Got limit "
                                   f"{limit}, offset {offset} instead.", field="limit")
        stmt = sa.select(_RUNS).order_by(_RUNS.c.created_at.desc(), _RUNS.c.id.desc())
        if pipeline is not None:
            stmt = stmt.where(_RUNS.c.pipeline == pipeline)
        if status is not None:
            stmt = stmt.where(_RUNS.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(stmt.limit(limit).offset(offset)).all()
            ids = [r.id for r in rows]
            steps = conn.execute(sa.select(_STEPS).where(_STEPS.c.run_id.in_(ids))).all() \
                if ids else []
        by_run: dict[str, list[StepRun]] = {}
        for s in steps:
            by_run.setdefault(s.run_id, []).append(_step(s))
        return [_run(r, by_run.get(r.id, [])) for r in rows]

    @endpoint("GET", "/pipelines/names", permission="read")
    def list_pipelines(self) -> list[str]:
        """The names of the pipelines that have runs."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_RUNS.c.pipeline).distinct()
                                .order_by(_RUNS.c.pipeline)).all()
        return [r.pipeline for r in rows]

    @endpoint("POST", "/pipelines/runs/{run_id}/finish", permission="write")
    def finish_run(self, run_id: str, status: str, error: str | None = None) -> PipelineRun:
        """End a run: ``succeeded`` or ``failed`` (steps still pending are marked skipped)."""
        if status not in ("succeeded", "failed"):
            raise InvalidParameter(f"status must be 'succeeded' or 'failed'. Got {status!r} "
                                   "instead.", field="status")
        now = self.clock.now()
        with self.db.write() as conn:
            self._run_row(conn, run_id)
            conn.execute(_STEPS.update().where(_STEPS.c.run_id == run_id,
                                               _STEPS.c.status.in_(("pending", "running")))
                         .values(status="skipped", finished_at=now))
            conn.execute(_RUNS.update().where(_RUNS.c.id == run_id)
                         .values(status=status, error=error, finished_at=now))
            audit.append(conn, action="pipeline.finish", target=f"pipeline_run:{run_id}",
                         after={"status": status})
        return self.get_run(run_id)

    @endpoint("POST", "/pipelines/runs/{run_id}/restart", permission="write")
    def restart_run(self, run_id: str) -> PipelineRun:
        """Make a finished run ready to resume: steps that did not complete are pending
        again (completed ones keep their outputs); the run is running, its attempt + 1."""
        with self.db.write() as conn:
            row = self._run_row(conn, run_id)
            if row.status == "succeeded":
                raise InvalidParameter(f"pipeline run {run_id} succeeded; there is nothing to "
                                       "resume.", field="run_id")
            conn.execute(_STEPS.update().where(_STEPS.c.run_id == run_id,
                                               _STEPS.c.status.notin_(DONE))
                         .values(status="pending", error=None, finished_at=None,
                                 started_at=None, duration_s=None))
            conn.execute(_RUNS.update().where(_RUNS.c.id == run_id)
                         .values(status="running", error=None, finished_at=None,
                                 attempt=row.attempt + 1))
            audit.append(conn, action="pipeline.resume", target=f"pipeline_run:{run_id}",
                         before={"status": row.status}, after={"attempt": row.attempt + 1})
        return self.get_run(run_id)

    # ---- steps --------------------------------------------------------------------------------
    @endpoint("POST", "/pipelines/runs/{run_id}/steps/{step}", permission="write")
    def record_step(self, run_id: str, step: str, status: str, cache_key: str | None = None,
                    components: dict[str, Any] | None = None, reasons: list[str] | None = None,
                    cached_from: str | None = None,
                    outputs: dict[str, OutputRef] | None = None, error: str | None = None,
                    links: list[dict[str, str]] | None = None) -> StepRun:
        """Record a step's new status (``running`` sets its start, a final status its end and
        duration) with whatever is known now: key, components, miss reasons, outputs, error,
        and the dataset/model versions it read or made (``links``: direction, kind, ref,
        name)."""
        if status not in STEP_STATUSES:
            raise InvalidParameter(f"status must be one of {', '.join(STEP_STATUSES)}. Got "
                                   f"{status!r} instead.", field="status")
        now = self.clock.now()
        values: dict[str, Any] = {"status": status}
        for key, value in (("cache_key", cache_key), ("components", components),
                           ("reasons", reasons), ("cached_from", cached_from),
                           ("error", error)):
            if value is not None:
                values[key] = value
        if outputs is not None:
            values["outputs"] = {k: v.model_dump(mode="json") for k, v in outputs.items()}
        with self.db.write() as conn:
            self._run_row(conn, run_id)
            row = conn.execute(sa.select(_STEPS).where(_STEPS.c.run_id == run_id,
                                                       _STEPS.c.step == step)).first()
            if row is None:
                raise NotFound(f"Pipeline run {run_id} has no step {step!r}.", field="step")
            if status == "running":
                values.update(started_at=now, attempt=row.attempt + 1, error=None)
            elif status in _TERMINAL:
                started = row.started_at if row.status == "running" else None
                values.update(finished_at=now, started_at=started or now,
                              duration_s=(now - started).total_seconds() if started else 0.0)
            conn.execute(_STEPS.update().where(_STEPS.c.id == row.id).values(**values))
            for link in links or []:
                self._check_link(link)
                conn.execute(_LINKS.insert().values(
                    run_id=run_id, step=step, direction=link["direction"], kind=link["kind"],
                    ref=link["ref"], name=link.get("name", "")))
            updated = conn.execute(sa.select(_STEPS).where(_STEPS.c.id == row.id)).one()
        return _step(updated)

    @staticmethod
    def _check_link(link: dict[str, str]) -> None:
        if link.get("direction") not in ("input", "output") or \
                link.get("kind") not in ("dataset", "model") or not link.get("ref"):
            raise InvalidParameter(
                "a link must have direction 'input'|'output', kind 'dataset'|'model' and a "
                f"ref. Got {link!r} instead.", field="links")

    @endpoint("GET", "/pipelines/cache/{cache_key}", permission="read")
    def find_cached(self, cache_key: str) -> StepRun | None:
        """The newest completed step run with this cache key (its outputs can be reused)."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_STEPS).where(_STEPS.c.cache_key == cache_key,
                                        _STEPS.c.status.in_(DONE))
                .order_by(_STEPS.c.id.desc()).limit(1)).first()
        return None if row is None else _step(row)

    @endpoint("GET", "/pipelines/previous/{pipeline}/{step}", permission="read")
    def previous_step(self, pipeline: str, step: str,
                      function: str | None = None) -> StepRun | None:
        """The newest completed run of step ``step`` of ``pipeline`` (else of the same
        ``function`` in any pipeline): what a miss is explained against."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_STEPS).where(_STEPS.c.pipeline == pipeline, _STEPS.c.step == step,
                                        _STEPS.c.status.in_(DONE))
                .order_by(_STEPS.c.id.desc()).limit(1)).first()
            if row is None and function is not None:
                row = conn.execute(
                    sa.select(_STEPS).where(_STEPS.c.function == function,
                                            _STEPS.c.status.in_(DONE))
                    .order_by(_STEPS.c.id.desc()).limit(1)).first()
        return None if row is None else _step(row)

    # ---- lineage ------------------------------------------------------------------------------
    @endpoint("GET", "/pipelines/links", permission="read")
    def links(self, kind: str | None = None, ref: str | None = None,
              run_id: str | None = None) -> list[StepLink]:
        """The dataset and model versions steps read or made: those of ``kind``/``ref``
        ("dataset", "loans/2"), or every link of run ``run_id``."""
        if run_id is None and (kind is None or ref is None):
            raise InvalidParameter("links needs kind and ref, or run_id.", field="ref")
        stmt = sa.select(_LINKS, _RUNS.c.pipeline, _RUNS.c.created_at).join(
            _RUNS, _RUNS.c.id == _LINKS.c.run_id)
        if run_id is not None:
            stmt = stmt.where(_LINKS.c.run_id == run_id)
        if kind is not None and ref is not None:
            stmt = stmt.where(_LINKS.c.kind == kind, _LINKS.c.ref == ref)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(_LINKS.c.id).limit(_MAX_LIST)).all()
        return [StepLink(run_id=r.run_id, pipeline=r.pipeline, step=r.step,
                         direction=r.direction, kind=r.kind, ref=r.ref, name=r.name,
                         created_at=r.created_at) for r in rows]

    # ---- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _run_row(conn: Connection, run_id: str) -> Any:
        row = conn.execute(sa.select(_RUNS).where(_RUNS.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"No pipeline run with id {run_id!r}.", field="run_id")
        return row
