"""Automation: retrain policies (triggers, cursors, next due time; enable and disable for those
who may write), the job history (filtered by policy and status, paged), one job with its
stage times, decisions, rollbacks, notifications, logs and error, and the recent backtests of
retraining policies with their reports."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...access import requires
from ...automation.backtest.policies import HIGHER_IS_BETTER
from ...automation.backtest.store import BACKTEST_TAG, EXPERIMENT, load_result
from ...automation.entities import TERMINAL
from ...automation.history import decisions, policy_summaries, stage_times, trigger_states
from ...errors import InvalidParameter, ModelyardError, NotFound
from .. import charts
from ..nav import Section
from ..render import error, forbidden, page, url, url_policy, yard_of
from ..security import CSRF_FIELD, cross_site_reason

__all__ = ["PAGE_SIZE", "REPORT_POLICY", "SECTION", "STATUSES", "router", "url_backtest"]

SECTION = Section("automation", "Automation", "/automation", order=70)
PAGE_SIZE = 50
STATUSES: tuple[str, ...] = ("queued", "running", "waiting", *TERMINAL)
RECENT = 15  # jobs and reports on the overview
# a backtest report is a self-contained page with its own inline scripts (Plotly): it is
# served sandboxed (an opaque origin: no cookies, no requests to this server) and may load
# nothing from anywhere
REPORT_POLICY = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
                 "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                 "form-action 'none'; frame-ancestors 'none'")

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
                overrides=yard.validation.overrides(limit=RECENT), recent=RECENT,
                backtests=_backtests(yard))


def url_backtest(run_id: str) -> str:
    """The report of the backtest stored as run ``run_id``."""
    return url(f"/automation/backtests/{quote(str(run_id), safe='')}")


def _backtests(yard: Any) -> list[dict[str, Any]]:
    """The latest backtest runs, each with its best policy by mean metric."""
    try:
        runs = yard.runs.search("", experiment=EXPERIMENT, max_results=RECENT)
    except NotFound:  # no backtest stored yet
        return []
    out = []
    for run in runs:
        metric = run.params.get("metric", "")
        suffix = f".mean_{metric}"
        means = {k.removesuffix(suffix): v for k, v in run.metrics.items()
                 if metric and k.endswith(suffix)}
        best = None
        if means:
            pick = max if HIGHER_IS_BETTER.get(metric, True) else min
            best = pick(means.items(), key=lambda kv: kv[1])
        out.append({"run": run, "metric": metric, "best": best,
                    "report": url_backtest(run.id) if BACKTEST_TAG in run.tags else None})
    return out


@router.get("/automation/backtests/{run_id}", response_class=HTMLResponse)
@requires("read")
def backtest_report(request: Request, run_id: str) -> Response:
    """The HTML report of a backtest run, made again from its stored result (the page's own
    template escapes every value), served sandboxed (:data:`REPORT_POLICY`)."""
    yard = yard_of(request)
    try:
        run = yard.runs.get(run_id)
        if BACKTEST_TAG not in run.tags:
            raise NotFound(f"run {run_id} is not a backtest: expected the tag {BACKTEST_TAG} "
                           "(yard.backtest stores one).", field="run_id")
        try:
            result = load_result(yard, run_id)
        except ValueError as exc:  # a result.json that is not a backtest result
            raise InvalidParameter(f"run {run_id} holds no readable backtest result: "
                                   f"{str(exc)[:300]}", field="run_id") from exc
    except ModelyardError as exc:
        return error(request, exc)
    return HTMLResponse(result.to_html(), headers={"content-security-policy": REPORT_POLICY})


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
