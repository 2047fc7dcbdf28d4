"""Runs: the searchable, paged list; one run with everything it links to; several compared."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import InvalidParameter, ModelyardError
from ...tracking.compare import MAX_COMPARED, compare_runs
from .. import charts
from ..data import endpoint_states, serving
from ..nav import Section
from ..render import error, log_endpoints, page, serving_tables, yard_of

__all__ = ["PAGE_SIZE", "SECTION", "router"]

SECTION = Section("runs", "Runs", "/runs", order=10)
PAGE_SIZE = 50
MAX_COLUMNS = 12  # params and metrics shown as columns of the list (the rest on each run)
HISTORY_POINTS = 500

router = APIRouter()


def _runs_context(request: Request, filter: str, experiment: str, order_by: str,
                  page_no: int) -> dict[str, Any]:
    yard = yard_of(request)
    problem = None
    runs: list[Any] = []
    page_no = max(1, page_no)
    try:
        runs = yard.runs.search(filter, experiment=experiment or None,
                                order_by=[order_by] if order_by else None,
                                max_results=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE)
    except ModelyardError as exc:
        problem = exc.message
    more = len(runs) > PAGE_SIZE
    runs = runs[:PAGE_SIZE]
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    return {"runs": runs, "params": params[:MAX_COLUMNS], "metrics": metrics[:MAX_COLUMNS],
            "hidden_columns": max(0, len(params) - MAX_COLUMNS) + max(0, len(metrics) - MAX_COLUMNS),
            "filter": filter, "experiment": experiment, "order_by": order_by, "error": problem,
            "page_no": page_no, "more": more, "first": (page_no - 1) * PAGE_SIZE + 1,
            "experiments": yard.experiments.list(), "max_compared": MAX_COMPARED}


@router.get("/runs", response_class=HTMLResponse)
@requires("read")
def runs_page(request: Request, filter: str = "", experiment: str = "", order_by: str = "",
              page_no: int = Query(1, alias="page")) -> HTMLResponse:
    context = _runs_context(request, filter, experiment, order_by, page_no)
    template = "runs_table.html" if request.headers.get("HX-Request") else "runs.html"
    return page(request, template, section="runs", **context)


@router.get("/runs/compare", response_class=HTMLResponse)
@requires("read")
def compare_page(request: Request,
                 ids: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    ids = ids or []
    if len(ids) < 2:
        return page(request, "compare.html", section="runs", cmp=None, names={}, count=len(ids))
    yard = yard_of(request)
    try:
        cmp = compare_runs(yard.runs, ids, max_points=HISTORY_POINTS)
    except (ModelyardError, InvalidParameter) as exc:
        return error(request, exc)
    names = {r.id: r.name or r.id[:12] for r in cmp.runs}
    plots = [charts.histories(key, [(names[s.run_id], s.steps, s.values) for s in series],
                              f"history-{i}")
             for i, (key, series) in enumerate(sorted(cmp.histories.items()))]
    return page(request, "compare.html", section="runs", cmp=cmp, names=names, plots=plots,
                count=len(cmp.runs))


@router.get("/runs/{run_id}", response_class=HTMLResponse)
@requires("read")
def run_page(request: Request, run_id: str) -> HTMLResponse:
    yard = yard_of(request)
    try:
        run = yard.runs.get(run_id)
    except ModelyardError as exc:
        return error(request, exc)
    plots = []
    for key in sorted(run.metrics):
        history = yard.runs.metric_history(run_id, key, max_points=HISTORY_POINTS)
        if len(history) > 1:
            plots.append(charts.histories(
                key, [(key, [m.step for m in history], [m.value for m in history])],
                f"metric-{len(plots)}"))
    models = yard.models.versions_of_run(run_id)
    states = endpoint_states(serving_tables(request), log_endpoints(yard)) if models else []
    served = [(mv, ep, route) for mv in models for ep, route in serving(states, mv.name, mv.version)]
    from ...automation.backtest.store import BACKTEST_TAG
    from .automation import url_backtest

    report = url_backtest(run_id) if BACKTEST_TAG in run.tags else None
    return page(request, "run.html", section="runs", run=run, plots=plots, models=models,
                served=served, artifacts=yard.runs.artifacts(run_id), backtest_report=report)
