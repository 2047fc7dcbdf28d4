"""Trace: everything behind one logged prediction, in one answer.

    trace = yard.trace(prediction_id)       # Trace (on a remote yard the server builds it)
    print(trace.to_text())

From the prediction (its logged input and output, time, endpoint, route and the route's role:
champion, challenger, shadow or canary) to the exact model version that answered (its digest),
the run that trained it (params, metrics, code commit and dirty flag, environment, entry point),
the dataset versions the run read (digests, windows, ``as_of``), the validation reports of that
version, the alias moves that put it where it served (who, when, why), the journal entries in
force at the prediction's time, and an explanation of that very prediction computed with that
exact version (:mod:`modelyard.explain`; when it cannot be given, the reason is in
``explanation_error``).

:class:`Tracer` takes the domain objects it reads (small collaborators, not a yard), so it runs
where the data is: in the caller's process on a local yard, in ``modelyard server`` otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from ..errors import IntegrityError, InvalidParameter, NotFound, NotReproducible
from ..explain.entities import Explanation
from ..predictions.entities import PredictionRecord
from ..registry.entities import AliasEvent, JournalEntry, ModelVersion
from ..store.schema.serving import CanaryRow, ServingEndpointRow
from ..tracking.entities import Run
from ..validation.entities import ValidationReport
from .audit import AuditRecord

__all__ = ["Role", "Trace", "TraceAlias", "TraceDataset", "Tracer", "route_role"]

Role = Literal["champion", "challenger", "shadow", "canary"]
AUDIT_LIMIT = 10_000  # records per target (the audit store's page limit)


class TraceDataset(BaseModel):
    """A dataset version the run read, as it read it (role, ``as_of``, window)."""

    dataset: str
    version: int
    digest: str
    role: str
    as_of: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    n_rows: int | None = None
    time_column: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    parents: list[str] = Field(default_factory=list)
    missing: bool = False


class TraceAlias(BaseModel):
    """An alias of the model at the prediction's time: the version it pointed at then, and
    the move that put it there (who, when, why)."""

    alias: str
    version: int | None
    moved_at: datetime | None = None
    moved_by: str | None = None
    reason: str | None = None


class Trace(BaseModel):
    """One prediction and everything behind it (see the module docstring).

    ``aliases`` are the model's aliases as they were at ``prediction.time``;
    ``alias_history`` every move that set an alias to, or away from, this version (after the
    prediction too: a later rollback is part of the story). ``journal``: the entries written
    by the prediction's time on the model or this version. ``audit``: the audit log's
    records about this version and its aliases, when the server keeps one.
    """

    prediction: PredictionRecord
    role: Role
    model: ModelVersion
    run: Run | None = None
    datasets: list[TraceDataset] = Field(default_factory=list)
    validation: list[ValidationReport] = Field(default_factory=list)
    aliases: list[TraceAlias] = Field(default_factory=list)
    alias_history: list[AliasEvent] = Field(default_factory=list)
    journal: list[JournalEntry] = Field(default_factory=list)
    audit: list[AuditRecord] = Field(default_factory=list)
    explanation: Explanation | None = None
    explanation_error: str | None = None
    generated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_text(self) -> str:
        """The trace as plain text (what ``modelyard trace --plain`` prints)."""
        from .trace_text import trace_text

        return trace_text(self)


def run_datasets(datasets: Any, run: Run | None) -> list[TraceDataset]:
    """The dataset versions ``run`` read, as it read them, with what is stored about each
    (``missing`` when a version is no longer stored)."""
    out: list[TraceDataset] = []
    for item in run.inputs if run is not None else []:
        base = TraceDataset(dataset=item.dataset, version=item.version, digest=item.digest,
                            role=item.role, as_of=item.as_of, window_start=item.window_start,
                            window_end=item.window_end)
        try:
            dv = datasets.get(item.dataset, version=item.version)
        except NotFound:
            out.append(base.model_copy(update={"missing": True}))
            continue
        out.append(base.model_copy(update={
            "n_rows": dv.n_rows, "time_column": dv.time_column, "created_at": dv.created_at,
            "created_by": dv.created_by, "parents": list(dv.parents)}))
    return out


def route_role(db: Any, record: PredictionRecord) -> Role:
    """The role of the route that made ``record``: ``shadow`` (the caller never saw it),
    ``canary`` (a canary rollout's route then), ``champion`` (the endpoint's first route) or
    ``challenger`` (another weighted route)."""
    if record.shadow:
        return "shadow"
    canaries = CanaryRow.__table__
    endpoints = ServingEndpointRow.__table__
    with db.read() as conn:
        canary = conn.execute(sa.select(canaries.c.id).where(
            canaries.c.endpoint == record.endpoint, canaries.c.route == record.route,
            canaries.c.started_at <= record.time,
            sa.or_(canaries.c.status == "running", canaries.c.updated_at >= record.time),
        ).limit(1)).first()
        spec = conn.execute(sa.select(endpoints.c.spec).where(
            endpoints.c.name == record.endpoint)).scalar()
    if canary is not None:
        return "canary"
    routes = [r.get("name", "main") for r in (spec or {}).get("routes", [])
              if isinstance(r, dict)]
    if routes and record.route != routes[0]:
        return "challenger"
    return "champion"


def _aliases_then(history: list[AliasEvent], when: datetime) -> list[TraceAlias]:
    state: dict[str, AliasEvent] = {}
    for event in history:
        if event.moved_at <= when:
            state[event.alias] = event
    return [TraceAlias(alias=a, version=e.new_version, moved_at=e.moved_at, moved_by=e.moved_by,
                       reason=e.reason)
            for a, e in sorted(state.items()) if e.new_version is not None]


class Tracer:
    """Builds :class:`Trace` objects from the yard's domains (see the module docstring).

    ``audit`` is the audit store (``backend.audit``) or None where there is none."""

    def __init__(self, predictions: Any, models: Any, runs: Any, datasets: Any,
                 validation: Any, explanations: Any, db: Any, clock: Any,
                 audit: Any = None) -> None:
        self.predictions = predictions
        self.models = models
        self.runs = runs
        self.datasets = datasets
        self.validation = validation
        self.explanations = explanations
        self.db = db
        self.clock = clock
        self.audit = audit

    def trace(self, prediction_id: str, *, explain: bool = True) -> Trace:
        record = self.predictions.get(prediction_id)
        version = self.models.get(f"{record.model_name}/{record.model_version}")
        run = self._run(version)
        history = self.models.alias_history(version.name)
        mine = [e for e in history if version.version in (e.new_version, e.old_version)]
        journal = [j for j in self.models.journal_entries(version.name)
                   if j.created_at <= record.time
                   and (j.version is None or j.version == version.version)]
        explanation, error = None, None
        if explain:
            try:
                explanation = self.explanations.explain(record.id)
            except (NotReproducible, InvalidParameter, IntegrityError, ImportError,
                    NotFound) as exc:
                error = getattr(exc, "message", None) or str(exc)
        return Trace(
            prediction=record, role=route_role(self.db, record), model=version, run=run,
            datasets=self._datasets(run), validation=self._reports(version),
            aliases=_aliases_then(history, record.time), alias_history=mine, journal=journal,
            audit=self._audit(version, {e.alias for e in mine}), explanation=explanation,
            explanation_error=error,
            generated_at=self.clock.now())

    def _run(self, version: ModelVersion) -> Run | None:
        if not version.run_id:
            return None
        try:
            return self.runs.get(version.run_id)  # type: ignore[no-any-return]
        except NotFound:
            return None

    def _datasets(self, run: Run | None) -> list[TraceDataset]:
        return run_datasets(self.datasets, run)

    def _reports(self, version: ModelVersion) -> list[ValidationReport]:
        if self.validation is None:
            return []
        return self.validation.reports(version.name, version.version)  # type: ignore[no-any-return]

    def _audit(self, version: ModelVersion, aliases: set[str]) -> list[AuditRecord]:
        """The audit records of the model, this version and the aliases it held."""
        if self.audit is None:
            return []
        targets = [f"model:{version.name}", f"model:{version.name}/{version.version}",
                   *(f"alias:{version.name}@{a}" for a in sorted(aliases))]
        return audit_records(self.audit, targets)


def audit_records(audit: Any, targets: list[str]) -> list[AuditRecord]:
    """The audit log's records about ``targets``, in the log's order."""
    records: dict[int, AuditRecord] = {}
    for target in targets:
        for record in audit.records(target=target, limit=AUDIT_LIMIT):
            records[record.seq] = record
    return [records[seq] for seq in sorted(records)]
