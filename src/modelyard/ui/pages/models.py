"""Models: the registry's models, one model's versions, alias history and promotion requests
(approve/refuse for approvers), one version with its lineage and where it is served
(endpoints, their alerts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...access import requires
from ...errors import ModelyardError
from ..data import endpoint_states, serving
from ..nav import Section
from ..render import error, forbidden, log_endpoints, page, serving_tables, url_model, yard_of
from ..security import CSRF_FIELD, cross_site_reason

__all__ = ["PAGE_SIZE", "SECTION", "router"]

SECTION = Section("models", "Models", "/models", order=20)
PAGE_SIZE = 100
REPORTS_READ = 500  # the newest validation reports and jobs read for one model
PROMOTIONS_SHOWN = 20  # the newest promotion requests on a model's page

router = APIRouter()


@router.get("/models", response_class=HTMLResponse)
@requires("read")
def models_page(request: Request, page_no: int = Query(1, alias="page")) -> HTMLResponse:
    page_no = max(1, page_no)
    found = yard_of(request).models.list(limit=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE)
    return page(request, "models.html", section="models", models=found[:PAGE_SIZE],
                page_no=page_no, more=len(found) > PAGE_SIZE)


@router.get("/models/{name}", response_class=HTMLResponse)
@requires("read")
def model_page(request: Request, name: str) -> HTMLResponse:
    yard = yard_of(request)
    try:
        model = yard.models.get_model(name)
    except ModelyardError as exc:
        return error(request, exc)
    states = endpoint_states(serving_tables(request), log_endpoints(yard))
    latest: dict[int, Any] = {}
    for r in yard.validation.reports(name, limit=REPORTS_READ):  # newest first
        latest.setdefault(r.version, r)
    return page(request, "model.html", section="models", model=model,
                versions=yard.models.versions(name), history=yard.models.alias_history(name),
                journal=yard.models.journal_entries(name), served=serving(states, name),
                latest_reports=latest,
                protected={p.alias for p in yard.validation.protected(name)},
                policies=yard.automation.policies(model=name),
                promotions=yard.models.promotion_requests(name)[:PROMOTIONS_SHOWN],
                four_eyes=[f.alias for f in yard.backend.promotions.four_eyes(name)])


def _decide(request: Request, name: str, request_id: str, submitted: str,
            note: str | None) -> Response:
    reason = cross_site_reason(request, submitted)
    if reason is not None:
        return forbidden(request, reason)
    promotions = yard_of(request).backend.promotions
    try:
        if note is None:
            promotions.approve(name, request_id)
        else:
            promotions.refuse(name, request_id, note)
    except ModelyardError as exc:
        return error(request, exc)
    return RedirectResponse(url_model(name), status_code=303)


@router.post("/models/{name}/promotions/{request_id}/approve")
@requires("approve", resource="name")
def approve_promotion(request: Request, name: str, request_id: str,
                      csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    """Approve a promotion request (someone else's): the alias moves now."""
    return _decide(request, name, request_id, csrf_token, None)


@router.post("/models/{name}/promotions/{request_id}/refuse")
@requires("approve", resource="name")
def refuse_promotion(request: Request, name: str, request_id: str, note: str = Form(""),
                     csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    """Refuse a promotion request, saying why."""
    return _decide(request, name, request_id, csrf_token, note)


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
@requires("read")
def version_page(request: Request, name: str, version: int) -> HTMLResponse:
    yard = yard_of(request)
    try:
        mv = yard.models.get(f"{name}/{version}")
        lineage = yard.lineage(f"{name}/{version}")
    except ModelyardError as exc:
        return error(request, exc)
    states = endpoint_states(serving_tables(request), log_endpoints(yard))
    served = serving(states, name, version)
    endpoints = sorted({ep for ep, _ in served})
    alerts = [a for ep in endpoints for a in yard.monitoring.alerts(endpoint=ep, limit=50)
              if a.model_version in (None, str(version))]
    datasets = [n.id.removeprefix("dataset:").rpartition("/")[::2]
                for n in lineage.nodes if n.kind == "dataset_version"]  # (name, version)
    jobs = [j for j in yard.automation.jobs(model=name, limit=REPORTS_READ)
            if j.model_version == mv.ref]
    return page(request, "version.html", section="models", mv=mv, lineage=lineage,
                datasets=datasets, served=served, alerts=alerts,
                journal=yard.models.journal_entries(name, version),
                reports=yard.validation.reports(name, version, limit=20), jobs=jobs)
