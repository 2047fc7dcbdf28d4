"""Monitoring: drift share over time per endpoint and model version, alerts (with Resolve for
those who may write), monitor runs and alert rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from ..nav import Section
from ..render import forbidden, page, plot, yard_of
from ..security import CSRF_FIELD, CSRF_HEADER, cross_site_reason

__all__ = ["SECTION", "router"]

SECTION = Section("monitoring", "Monitoring", "/monitoring", order=50)
HISTORY = timedelta(days=30)

router = APIRouter()


@router.get("/monitoring", response_class=HTMLResponse)
@requires("read")
def monitoring_page(request: Request) -> HTMLResponse:
    yard = yard_of(request)
    results = yard.monitoring.results(name="drift_share", start=yard.clock.now() - HISTORY)
    series: dict[tuple[str, str | None], tuple[list[Any], list[float]]] = {}
    for row in results.iter_rows(named=True):
        xs, ys = series.setdefault((row["endpoint"], row["model_version"]), ([], []))
        xs.append(row["window_end"].isoformat())
        ys.append(row["value"])
    traces = [
        {"x": xs, "y": ys, "type": "scatter", "mode": "lines+markers",
         "name": f"{endpoint} v{version}" if version else endpoint}
        for (endpoint, version), (xs, ys) in sorted(series.items(), key=lambda kv: str(kv[0]))
    ]
    plots = [plot(traces, {"title": {"text": "drift share over time"},
                           "yaxis": {"range": [0, 1]}}, "drift-share")] if traces else []
    return page(request, "monitoring.html", section="monitoring", plots=plots,
                runs=yard.monitoring.runs(limit=50), alerts=yard.monitoring.alerts(),
                rules=yard.monitoring.alert_rules())


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
@requires("write")
def resolve_alert(request: Request, alert_id: str,
                  csrf_token: str = Form("", alias=CSRF_FIELD)) -> HTMLResponse:
    reason = cross_site_reason(request, request.headers.get(CSRF_HEADER) or csrf_token)
    if reason is not None:
        return forbidden(request, reason)
    try:
        alert = yard_of(request).monitoring.resolve_alert(alert_id)
    except ModelyardError as exc:
        return page(request, "message.html", status_code=exc.status_code, message=exc.message)
    return page(request, "alert_row.html", alert=alert)
