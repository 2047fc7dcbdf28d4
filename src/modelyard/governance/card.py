"""Model cards, generated from stored facts only.

    card = yard.card("loans/3")                  # ModelCard (a remote yard's server builds it)
    card.to_html()                               # one offline HTML page (no script, no CDN)
    card.to_markdown()                           # Markdown
    card.to_huggingface()                        # a Hugging Face README.md (YAML front matter)

What a card holds, and where each fact comes from:

- purpose, owner, intended use, limitations, license: the model's editable card fields, kept
  as tags ``card.<field>`` of the registered model (``modelyard card edit``);
- training data: the dataset versions the run read (digest, window, ``as_of``), each with its
  stored profile summary and data dictionary;
- metrics: the run's final metrics (overall) and the checks of the validation reports (overall
  and by slice), with the reports themselves;
- global explanation: the importance computed when the version was registered;
- lineage: data versions -> run -> model version -> aliases;
- serving history: per endpoint and route, the first and last prediction of this version in the
  prediction log and how many there were; drift and performance history: the monitor figures of
  this version on those endpoints (the rendered card summarises each series: every overall
  figure, and per feature whether it drifted);
- journal, alias history, and the audit log's records about the model, when there is one.

Nothing is computed that was not stored, except the serving summary, read from the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, Field

from ..datasets.entities import ColumnInfo
from ..errors import NotFound
from ..explain.entities import GlobalImportance
from ..registry.entities import AliasEvent, JournalEntry, ModelVersion, RegisteredModel
from ..store.schema.serving import ServingEndpointRow
from ..tracking.entities import Run
from ..validation.entities import ValidationReport
from .audit import AuditRecord
from .lineage import Lineage, lineage
from .trace import TraceDataset, audit_records, run_datasets

__all__ = [
    "CARD_FIELDS",
    "CardColumn",
    "CardDataset",
    "CardMetric",
    "ModelCard",
    "MonitorPoint",
    "ServingSpan",
    "build_card",
    "card_tag",
]

#: the editable fields of a card, kept as tags ``card.<field>`` of the registered model
CARD_FIELDS: tuple[str, ...] = ("purpose", "owner", "intended_use", "limitations", "license")
_TOP = 5


def card_tag(field: str) -> str:
    """The model tag that holds a card field."""
    return f"card.{field}"


class CardColumn(BaseModel):
    """One column of a training dataset: its profile summary and dictionary entry."""

    name: str
    type: str
    count: int | None = None
    nulls: int | None = None
    mean: float | None = None
    std: float | None = None
    min: float | str | None = None
    max: float | str | None = None
    top: list[str] = Field(default_factory=list)
    description: str | None = None
    unit: str | None = None
    sensitivity: str | None = None


class CardDataset(TraceDataset):
    """A dataset version the run read (see :class:`~.trace.TraceDataset`) and its columns."""

    columns: list[CardColumn] = Field(default_factory=list)


class CardMetric(BaseModel):
    """A figure of the version: ``source`` is ``run`` or ``validation <report id>``;
    ``slice`` None means overall."""

    name: str
    value: float | None
    slice: str | None = None
    source: str
    status: str | None = None
    threshold: str | None = None


class ServingSpan(BaseModel):
    """Where and when the version answered (or shadowed), from the prediction log."""

    endpoint: str
    route: str
    shadow: bool
    first: datetime
    last: datetime
    predictions: int


class MonitorPoint(BaseModel):
    window_end: datetime
    endpoint: str
    route: str | None = None
    name: str
    feature: str | None = None
    value: float | None


class ModelCard(BaseModel):
    """The stored facts of one model version (see the module docstring)."""

    model: RegisteredModel
    version: ModelVersion
    fields: dict[str, str | None]
    run: Run | None = None
    training_data: list[CardDataset] = Field(default_factory=list)
    metrics: list[CardMetric] = Field(default_factory=list)
    validation: list[ValidationReport] = Field(default_factory=list)
    importance: GlobalImportance | None = None
    lineage: Lineage
    serving: list[ServingSpan] = Field(default_factory=list)
    monitoring: list[MonitorPoint] = Field(default_factory=list)
    journal: list[JournalEntry] = Field(default_factory=list)
    alias_history: list[AliasEvent] = Field(default_factory=list)
    audit: list[AuditRecord] = Field(default_factory=list)
    generated_at: datetime

    @property
    def ref(self) -> str:
        return self.version.ref

    def to_html(self) -> str:
        """One self-contained HTML page (no script, nothing loaded from elsewhere; every
        stored value escaped)."""
        from .card_render import render_html

        return render_html(self)

    def to_markdown(self) -> str:
        from .card_render import render_markdown

        return render_markdown(self)

    def to_huggingface(self) -> str:
        """A Hugging Face ``README.md``: YAML front matter (library, tags, license, metrics
        as a model-index) followed by the Markdown card."""
        from .card_render import render_huggingface

        return render_huggingface(self)


# ---- building --------------------------------------------------------------------------------
def _columns(yard: Any, name: str, version: int) -> list[CardColumn]:
    try:
        profile = yard.datasets.profile(name, version)
    except NotFound:
        profile = None
    try:
        dictionary = {c.column: c for c in yard.datasets.dictionary(name)}
    except NotFound:
        dictionary = {}
    out: list[CardColumn] = []
    for col in profile.columns.values() if profile is not None else []:
        entry: ColumnInfo | None = dictionary.get(col.name)
        out.append(CardColumn(
            name=col.name, type=col.type, count=col.count, nulls=col.nulls, mean=col.mean,
            std=col.std, min=col.min, max=col.max,
            top=[f"{c.value} ({c.count})" for c in col.top[:_TOP]],
            description=entry.description if entry else None,
            unit=entry.unit if entry else None,
            sensitivity=entry.sensitivity if entry else None))
    return out


def _training_data(yard: Any, run: Run | None) -> list[CardDataset]:
    return [CardDataset(**d.model_dump(), columns=[] if d.missing else
                        _columns(yard, d.dataset, d.version))
            for d in run_datasets(yard.datasets, run)]


def _metrics(run: Run | None, reports: list[ValidationReport]) -> list[CardMetric]:
    out = [CardMetric(name=k, value=v, source="run")
           for k, v in sorted((run.metrics if run is not None else {}).items())]
    for report in reports[:1]:  # the newest report: what the gate reads
        for check in report.checks:
            out.append(CardMetric(name=check.name, value=check.value, slice=check.slice,
                                  source=f"validation {report.id}", status=check.status,
                                  threshold=check.threshold))
    return out


def _endpoint_names(yard: Any) -> list[str]:
    from ..predictions import reader

    names = set(reader.endpoints(yard))
    with yard.backend.db.read() as conn:
        names.update(conn.execute(sa.select(ServingEndpointRow.__table__.c.name)).scalars())
    return sorted(names)


def _serving(yard: Any, version: ModelVersion) -> list[ServingSpan]:
    """Per endpoint and route: this version's first and last logged prediction and count."""
    from ..predictions import reader

    start, end = version.created_at, yard.clock.now()
    spans: list[ServingSpan] = []
    for endpoint in _endpoint_names(yard):
        frame = (reader.scan(yard, endpoint, start, end, model_version=version.version)
                 .filter(pl.col("model_name") == version.name)
                 .group_by("route", "shadow")
                 .agg(pl.col("time").min().alias("first"), pl.col("time").max().alias("last"),
                      pl.len().alias("predictions"))
                 .sort("first").collect())
        for row in frame.iter_rows(named=True):
            spans.append(ServingSpan(endpoint=endpoint, route=row["route"],
                                     shadow=bool(row["shadow"]), first=row["first"],
                                     last=row["last"], predictions=int(row["predictions"])))
    return spans


def _monitoring(yard: Any, version: ModelVersion, endpoints: set[str]) -> list[MonitorPoint]:
    points: list[MonitorPoint] = []
    for endpoint in sorted(endpoints):
        frame = yard.monitoring.results(endpoint, model_version=version.version)
        for row in frame.iter_rows(named=True):
            points.append(MonitorPoint(window_end=row["window_end"], endpoint=endpoint,
                                       route=row["route"], name=row["name"],
                                       feature=row["feature"], value=row["value"]))
    return points


def build_card(yard: Any, name: str, version: int, *, audit: Any = None) -> ModelCard:
    """The card of ``name/version`` from what ``yard`` (a local yard) has stored."""
    mv = yard.models.get(f"{name}/{version}")
    model = yard.models.get_model(name)
    run = None
    if mv.run_id:
        try:
            run = yard.runs.get(mv.run_id)
        except NotFound:
            run = None
    reports = yard.validation.reports(name, mv.version)
    try:
        importance = yard.backend.explain.importance(name, mv.version)
    except NotFound:
        importance = None
    serving = _serving(yard, mv)
    records = [] if audit is None else audit_records(audit, [f"model:{name}", f"model:{name}/*",
                                                             f"alias:{name}@*"])
    journal = [j for j in yard.models.journal_entries(name)
               if j.version is None or j.version == mv.version]
    return ModelCard(
        model=model, version=mv,
        fields={f: model.tags.get(card_tag(f)) for f in CARD_FIELDS},
        run=run, training_data=_training_data(yard, run), metrics=_metrics(run, reports),
        validation=reports, importance=importance, lineage=lineage(yard, mv.ref),
        serving=serving, monitoring=_monitoring(yard, mv, {s.endpoint for s in serving}),
        journal=journal, alias_history=yard.models.alias_history(name),
        audit=records,
        generated_at=yard.clock.now())
