"""Datasets: every dataset; one version with its schema, data dictionary, profile, and the
runs that read it (and the models they made)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from .. import charts
from ..nav import Section
from ..render import error, page, yard_of

__all__ = ["SECTION", "router"]

SECTION = Section("datasets", "Datasets", "/datasets", order=30)
MAX_CHARTS = 40

router = APIRouter()


@router.get("/datasets", response_class=HTMLResponse)
@requires("read")
def datasets_page(request: Request) -> HTMLResponse:
    return page(request, "datasets.html", section="datasets",
                datasets=yard_of(request).datasets.list())


@router.get("/datasets/{name}", response_class=HTMLResponse)
@requires("read")
def dataset_page(request: Request, name: str, version: int | None = None) -> HTMLResponse:
    yard = yard_of(request)
    try:
        dv = yard.datasets.get(name, version)
        profile = yard.datasets.profile(name, dv.version)
    except ModelyardError as exc:
        return error(request, exc)
    dictionary = {c.column: c for c in yard.datasets.dictionary(name)}
    plots = []
    for col in list(profile.columns.values())[:MAX_CHARTS]:
        div = f"hist-{len(plots)}"
        if col.histogram is not None and col.histogram.counts:
            plots.append(charts.histogram(col.name, col.histogram.edges, col.histogram.counts, div))
        elif col.top:
            plots.append(charts.bars(col.name, [c.value for c in col.top],
                                     [c.count for c in col.top], div))
    runs = yard.runs.for_dataset(name, dv.version)
    models = [mv for r in runs[:50] for mv in yard.models.versions_of_run(r.id)]
    return page(request, "dataset.html", section="datasets", dv=dv, profile=profile,
                dictionary=dictionary, versions=yard.datasets.versions(name), plots=plots,
                runs=runs, models=models)
