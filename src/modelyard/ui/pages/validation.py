"""Validation (part of the Automation section): every validation report, newest first and
paged (of one model), the protected aliases and their overrides; one report with each check's
status, value, threshold, confidence interval and rows, and the data it ran on (dataset
versions and their digests)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from ..render import error, page, yard_of

__all__ = ["PAGE_SIZE", "router"]

PAGE_SIZE = 50

router = APIRouter()


@router.get("/validation", response_class=HTMLResponse)
@requires("read")
def validation_page(request: Request, model: str = "",
                    page_no: int = Query(1, alias="page")) -> HTMLResponse:
    yard = yard_of(request)
    page_no = max(1, page_no)
    reports = yard.validation.reports(model or None, limit=PAGE_SIZE + 1,
                                      offset=(page_no - 1) * PAGE_SIZE)
    return page(request, "validation.html", section="automation", reports=reports[:PAGE_SIZE],
                more=len(reports) > PAGE_SIZE, page_no=page_no, model=model,
                protected=yard.validation.protected(model or None),
                overrides=yard.validation.overrides(model or None, limit=PAGE_SIZE))


@router.get("/validation/reports/{report_id}", response_class=HTMLResponse)
@requires("read")
def report_page(request: Request, report_id: str) -> HTMLResponse:
    yard = yard_of(request)
    try:
        report = yard.validation.report(report_id)
    except ModelyardError as exc:
        return error(request, exc)
    others = [r for r in yard.validation.reports(report.model, report.version, limit=20)
              if r.id != report.id]
    jobs = [j for j in yard.automation.jobs(model=report.model, limit=200)
            if j.report_id == report.id]
    return page(request, "report.html", section="automation", report=report, others=others,
                jobs=jobs)
