"""The overview: what is in the yard, what needs attention (open alerts, running canaries),
and the newest runs, models and endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ..data import endpoint_states
from ..render import log_endpoints, page, serving_tables, yard_of

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
@requires("read")
def overview(request: Request) -> HTMLResponse:
    yard = yard_of(request)
    endpoints = endpoint_states(serving_tables(request), log_endpoints(yard))
    return page(request, "overview.html", runs=yard.runs.search("", max_results=10),
                models=yard.models.list(limit=200), datasets=yard.datasets.list(),
                alerts=yard.monitoring.alerts(state="open"), experiments=yard.experiments.list(),
                endpoints=endpoints)
