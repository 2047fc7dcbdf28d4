"""Endpoints: every endpoint with its routes and canary; one endpoint's routes, weights,
shadows and canary (step, statistics, every decision), its traffic over a recent window
(request rate, latency percentiles), and per model version on the same traffic: agreement of
a shadow with the answer, prediction distributions side by side, realised performance once
labels arrived, and drift by feature over time (one heatmap per model version); and, loaded
by htmx after the page (``/endpoints/{name}/comparison``), every version against the
champion on the same requests: agreement, realised performance and its difference from the
champion with a confidence interval (:mod:`modelyard.monitoring.compare`)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from ...monitoring.compare import Comparison
from ...monitoring.traffic import (
    DriftGrid,
    drift_by_version,
    endpoint_traffic,
    performance_by_version,
    request_counts,
)
from ...monitoring.traffic_hours import HourCache, hourly_traffic
from .. import charts
from ..data import endpoint_state, endpoint_states
from ..nav import Section
from ..render import error, log_endpoints, page, serving_tables, url, yard_of

__all__ = ["COMPARE_MAX_ROWS", "COMPARE_TTL_S", "HOURLY_FROM", "SECTION", "WINDOWS",
           "hour_cache", "router"]

SECTION = Section("endpoints", "Endpoints", "/endpoints", order=40)
WINDOWS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(days=1),
           "7d": timedelta(days=7)}
HISTORY = timedelta(days=30)  # how far back performance and drift are read
HOURLY_FROM = timedelta(hours=6)  # longer windows sum cached per-hour summaries
COMPARE_MAX_ROWS = 400_000  # rows the comparison pairs before it samples whole requests
COMPARE_TTL_S = 60.0  # a comparison is reused this long for the same endpoint and window

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
    grids = drift_by_version(yard.monitoring, name, now - HISTORY)
    grid = grids[0] if grids else DriftGrid(statistic="psi")
    plots = [charts.traffic(traffic, "traffic")]
    for chart in (charts.prediction_distributions(traffic.routes, "predictions"),
                  *(charts.drift_heatmap(g, "drift" if i == 0 else f"drift-{i}")
                    for i, g in enumerate(grids))):
        if chart is not None:
            plots.append(chart)
    performance = performance_by_version(yard.monitoring, name, now - HISTORY)
    model_of = {r.served.partition("/")[2]: r.served.partition("/")[0]
                for r in state.routes if r.served}
    model_of.update({str(r.model_version): r.model_name for r in traffic.routes})
    return page(request, "endpoint.html", section="endpoints", ep=state, traffic=traffic,
                window=window, windows=list(WINDOWS), plots=plots, grid=grid, grids=grids,
                comparison_url=url(f"/endpoints/{quote(name, safe='')}/comparison",
                                   window=window),
                performance=performance, model_of=model_of,
                perf_names=sorted({k for p in performance for k in p.metrics}),
                alerts=yard.monitoring.alerts(endpoint=name, limit=20),
                monitor_runs=yard.monitoring.runs(name, limit=10))


class _Comparisons:
    """Comparisons of recent windows, reused for :data:`COMPARE_TTL_S` (one computed at a
    time per endpoint and window; a few kept)."""

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self._items: dict[tuple[str, str], tuple[float, Comparison]] = {}
        self._lock = threading.Lock()
        self._busy: dict[tuple[str, str], threading.Lock] = {}

    def get(self, key: tuple[str, str], make: Any) -> Comparison:
        with self._lock:
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:
            found = self._items.get(key)
            if found is not None and time.monotonic() - found[0] < COMPARE_TTL_S:
                return found[1]
            made = make()
            with self._lock:
                self._items[key] = (time.monotonic(), made)
                while len(self._items) > self.keep:
                    self._items.pop(min(self._items, key=lambda k: self._items[k][0]))
            return made  # type: ignore[no-any-return]


def _comparisons(request: Request) -> _Comparisons:
    found = getattr(request.app.state, "ui_comparisons", None)
    if found is None:
        found = request.app.state.ui_comparisons = _Comparisons()
    return found  # type: ignore[no-any-return]


@router.get("/endpoints/{name}/comparison", response_class=HTMLResponse)
@requires("read")
def comparison_fragment(request: Request, name: str, window: str = "1h") -> HTMLResponse:
    """The versions of the window against the champion (loaded by htmx after the page)."""
    yard = yard_of(request)
    window, span = _window(window)
    now = yard.clock.now()

    def make() -> Comparison:
        return yard.monitoring.compare(name, start=now - span, end=now, drift=False,
                                       max_rows=COMPARE_MAX_ROWS)

    try:
        endpoint_state(serving_tables(request), name, log_endpoints(yard))  # known, or NotFound
        c = _comparisons(request).get((name, window), make)
    except ModelyardError as exc:
        return page(request, "endpoint_comparison.html", status_code=exc.status_code,
                    failed=str(exc), window=window)
    # a table only: the dashboard's htmx drops <script> from fragments (allowScriptTags is
    # off), so a chart's spec could not reach dashboard.js from here
    return page(request, "endpoint_comparison.html", c=c, window=window)
