"""Automation: retrain policies (triggers, cursors, next due time; enable and disable for those
who may write), the job history (filtered by policy and status, paged) and one job with its
stage times, decisions, rollbacks, notifications, logs and error."""

from __future__ import annotations

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...access import requires
from ...automation.entities import TERMINAL
from ...automation.history import decisions, policy_summaries, stage_times, trigger_states
from ...errors import ModelyardError, NotFound
from .. import charts
from ..nav import Section
from ..render import error, forbidden, page, url_policy, yard_of
from ..security import CSRF_FIELD, cross_site_reason

__all__ = ["PAGE_SIZE", "SECTION", "STATUSES", "router"]

SECTION = Section("automation", "Automation", "/automation", order=70)
PAGE_SIZE = 50
STATUSES: tuple[str, ...] = ("queued", "running", "waiting", *TERMINAL)
RECENT = 15  # jobs and reports on the overview

router = APIRouter()


@router.get("/automation", response_class=HTMLResponse)
@requires("read")
def automation_page(request: Request) -> HTMLResponse:
    yard = yard_of(request)
    summaries = policy_summaries(yard.automation)
    now = yard.clock.now()
    return page(request, "automation.html", section="automation", summaries=summaries,
                triggers={s.policy.name: trigger_states(s.policy, now) for s in summaries},
                jobs=yard.automation.jobs(limit=RECENT),
                reports=yard.validation.reports(limit=RECENT),
                protected=yard.validation.protected(),
                overrides=yard.validation.overrides(limit=RECENT), recent=RECENT)


@router.get("/automation/policies/{name}", response_class=HTMLResponse)
@requires("read")
def policy_page(request: Request, name: str,
                page_no: int = Query(1, alias="page")) -> HTMLResponse:
    yard = yard_of(request)
    try:
        policy = yard.automation.get(name)
    except ModelyardError as exc:
        return error(request, exc)
    page_no = max(1, page_no)
    jobs = yard.automation.jobs(policy=name, limit=PAGE_SIZE + 1,
                                offset=(page_no - 1) * PAGE_SIZE)
    return page(request, "policy.html", section="automation", policy=policy,
                spec=policy.spec, triggers=trigger_states(policy, yard.clock.now()),
                jobs=jobs[:PAGE_SIZE], more=len(jobs) > PAGE_SIZE, page_no=page_no)


def _set_enabled(request: Request, name: str, enabled: bool, submitted: str) -> Response:
    reason = cross_site_reason(request, submitted)
    if reason is not None:
        return forbidden(request, reason)
    yard = yard_of(request)
    try:
        yard.automation.enable(name) if enabled else yard.automation.disable(name)
    except ModelyardError as exc:
        return error(request, exc)
    return RedirectResponse(url_policy(name), status_code=303)


@router.post("/automation/policies/{name}/enable")
@requires("admin")
def enable_policy(request: Request, name: str,
                  csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    return _set_enabled(request, name, True, csrf_token)


@router.post("/automation/policies/{name}/disable")
@requires("admin")
def disable_policy(request: Request, name: str,
                   csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    return _set_enabled(request, name, False, csrf_token)


@router.get("/automation/jobs", response_class=HTMLResponse)
@requires("read")
def jobs_page(request: Request, policy: str = "", status: str = "",
              page_no: int = Query(1, alias="page")) -> HTMLResponse:
    yard = yard_of(request)
    page_no = max(1, page_no)
    problem = None
    if status and status not in STATUSES:
        problem = f"status must be one of {', '.join(STATUSES)}. Got {status!r} instead."
        status = ""
    jobs = yard.automation.jobs(policy=policy or None, status=status or None,
                                limit=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE)
    return page(request, "jobs.html", section="automation", jobs=jobs[:PAGE_SIZE],
                more=len(jobs) > PAGE_SIZE, page_no=page_no, policy=policy, status=status,
                statuses=STATUSES, policies=[p.name for p in yard.automation.policies()],
                error=problem)


@router.get("/automation/jobs/{job_id}", response_class=HTMLResponse)
@requires("read")
def job_page(request: Request, job_id: str) -> HTMLResponse:
    yard = yard_of(request)
    try:
        job = yard.automation.job(job_id)
    except ModelyardError as exc:
        return error(request, exc)
    report = None
    if job.report_id is not None:
        try:
            report = yard.validation.report(job.report_id)
        except NotFound:
            report = None
    run_id = None
    if job.model_version is not None:
        try:
            run_id = yard.models.get(job.model_version).run_id
        except NotFound:
            run_id = None
    stages = stage_times(job)
    plots = [charts.stages(stages, "stage-times")] if stages else []
    return page(request, "job.html", section="automation", job=job, stages=stages,
                decisions=decisions(job, report), report=report,
                run_id=run_id, plots=plots)
