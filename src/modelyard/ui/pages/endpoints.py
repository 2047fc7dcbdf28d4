"""Endpoints: every endpoint with its routes and canary; one endpoint's routes, weights,
shadows and canary (step, statistics, every decision), its traffic over a recent window
(request rate, latency percentiles), and per model version on the same traffic: agreement of
a shadow with the answer, prediction distributions side by side, realised performance once
labels arrived, and drift by feature over time."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from ...monitoring.traffic import (
    drift_by_feature,
    endpoint_traffic,
    performance_by_version,
    request_counts,
)
from ...monitoring.traffic_hours import HourCache, hourly_traffic
from .. import charts
from ..data import endpoint_state, endpoint_states
from ..nav import Section
from ..render import error, log_endpoints, page, serving_tables, yard_of

__all__ = ["HOURLY_FROM", "SECTION", "WINDOWS", "hour_cache", "router"]

SECTION = Section("endpoints", "Endpoints", "/endpoints", order=40)
WINDOWS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(days=1),
           "7d": timedelta(days=7)}
HISTORY = timedelta(days=30)  # how far back performance and drift are read
HOURLY_FROM = timedelta(hours=6)  # longer windows sum cached per-hour summaries

router = APIRouter()


def hour_cache(request: Request) -> HourCache:
    """The server's cache of per-hour summaries of the prediction log's files."""
    cache = getattr(request.app.state, "ui_hour_cache", None)
    if cache is None:
        cache = request.app.state.ui_hour_cache = HourCache()
    return cache  # type: ignore[no-any-return]


def _window(window: str) -> tuple[str, timedelta]:
    return (window, WINDOWS[window]) if window in WINDOWS else ("1h", WINDOWS["1h"])


@router.get("/endpoints", response_class=HTMLResponse)
@requires("read")
def endpoints_page(request: Request) -> HTMLResponse:
    yard = yard_of(request)
    states = endpoint_states(serving_tables(request), log_endpoints(yard))
    now = yard.clock.now()
    counts = request_counts(yard.predictions, [s.name for s in states], now - WINDOWS["1h"], now)
    open_alerts: dict[str, int] = {}
    for a in yard.monitoring.alerts(state="open", limit=1000):
        open_alerts[a.endpoint] = open_alerts.get(a.endpoint, 0) + 1
    return page(request, "endpoints.html", section="endpoints", endpoints=states,
                counts=counts, open_alerts=open_alerts)


@router.get("/endpoints/{name}", response_class=HTMLResponse)
@requires("read")
def endpoint_page(request: Request, name: str, window: str = "1h") -> HTMLResponse:
    yard = yard_of(request)
    try:
        state = endpoint_state(serving_tables(request), name, log_endpoints(yard))
    except ModelyardError as exc:
        return error(request, exc)
    window, span = _window(window)
    now = yard.clock.now()
    if span >= HOURLY_FROM:
        traffic = hourly_traffic(yard.predictions, name, now - span, now, hour_cache(request))
    else:
        traffic = endpoint_traffic(yard.predictions, name, now - span, now)
    grid = drift_by_feature(yard.monitoring, name, now - HISTORY)
    plots = [charts.traffic(traffic, "traffic")]
    for chart in (charts.prediction_distributions(traffic.routes, "predictions"),
                  charts.drift_heatmap(grid, "drift")):
        if chart is not None:
            plots.append(chart)
    performance = performance_by_version(yard.monitoring, name, now - HISTORY)
    model_of = {r.served.partition("/")[2]: r.served.partition("/")[0]
                for r in state.routes if r.served}
    model_of.update({str(r.model_version): r.model_name for r in traffic.routes})
    return page(request, "endpoint.html", section="endpoints", ep=state, traffic=traffic,
                window=window, windows=list(WINDOWS), plots=plots, grid=grid,
                performance=performance, model_of=model_of,
                perf_names=sorted({k for p in performance for k in p.metrics}),
                alerts=yard.monitoring.alerts(endpoint=name, limit=20),
                monitor_runs=yard.monitoring.runs(name, limit=10))
