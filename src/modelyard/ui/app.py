"""The dashboard of ``modelyard server``: runs, models, datasets and monitoring in a browser.

Pages are rendered on the server from the same SDK a user calls (``Yard`` over the server's
backend): no business logic here. htmx swaps partials (the run search, resolving an alert);
Plotly draws the charts, its JavaScript served from the installed ``plotly`` package, so the
dashboard works with no network.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..errors import ModelyardError, NotFound, Unauthorized
from ..governance.tokens import role_allows
from ..htmlsafe import json_for_html, plotly_literal
from ..yard import Yard
from .security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SecurityHeaders,
    clear_session,
    cross_site_reason,
    csrf_token,
    ensure_csrf_cookie,
    set_session,
)

__all__ = ["PREFIX", "PUBLIC_PATHS", "install"]

PREFIX = "/ui"
_HERE = Path(__file__).parent
_STATIC = {
    "style.css": (_HERE / "static" / "style.css", "text/css"),
    "htmx.min.js": (_HERE / "static" / "htmx.min.js", "application/javascript"),
    "dashboard.js": (_HERE / "static" / "dashboard.js", "application/javascript"),
}
# what the login page needs before anyone has a token
PUBLIC_PATHS = frozenset({f"{PREFIX}/login", f"{PREFIX}/logout"}
                         | {f"{PREFIX}/static/{name}" for name in _STATIC})

_env = Environment(
    loader=FileSystemLoader(str(_HERE / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


_env.filters["t"] = _fmt_time
_env.filters["n"] = _fmt_num
_env.filters["tojson"] = json_for_html  # the one way data reaches a page's script


def _yard(request: Request) -> Yard:
    yard = getattr(request.app.state, "ui_yard", None)
    if yard is None:
        backend = request.app.state.backend
        yard = Yard(backend, request.app.state.settings, backend.clock)
        request.app.state.ui_yard = yard
    return yard


def _can_write(request: Request) -> bool:
    """What a role may not do is not offered (with auth off everyone may)."""
    principal = getattr(request.state, "principal", None)
    return principal is None or role_allows(principal.role, "writer")


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page. Charts are passed as ``plots`` (see :func:`_plot`): the page lays out
    their ``<div>``s and hands the specs to ``dashboard.js`` as one JSON block."""
    context.setdefault("plots", [])
    html = _env.get_template(template).render(
        prefix=PREFIX, request=request, csrf=csrf_token(request), can_write=_can_write(request),
        principal=getattr(request.state, "principal", None), **context)
    response = HTMLResponse(html, status_code=status_code)
    ensure_csrf_cookie(request, response)
    return response


def _plot(traces: list[dict[str, Any]], layout: dict[str, Any], div_id: str) -> dict[str, Any]:
    """A Plotly chart: its element id and its spec (data only; drawn by dashboard.js)."""
    return {"id": div_id, "data": plotly_literal(traces),
            "layout": plotly_literal({"margin": {"t": 30, "r": 10, "b": 40, "l": 50},
                                      "height": 300, **layout})}


def _error(request: Request, exc: ModelyardError) -> HTMLResponse:
    return _page(request, "error.html", status_code=exc.status_code, error=exc)


def _forbidden(request: Request, reason: str) -> HTMLResponse:
    """A state-changing request that did not come from this dashboard's own page."""
    message = f"Refused: {reason}."
    if request.headers.get("HX-Request"):
        return _page(request, "message.html", status_code=403, message=message)
    return _page(request, "error.html", status_code=403, error={"message": message})


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            import plotly

            path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
            return Response(path.read_bytes(), media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})
        if name not in _STATIC:
            raise NotFound(f"No static file {name!r}.", field="name")
        path, media = _STATIC[name]
        return Response(path.read_bytes(), media_type=media,
                        headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return _page(request, "login.html", section="")

    @router.post("/login")
    def login(request: Request, token: str = Form(""),
              csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
        reason = cross_site_reason(request, csrf_token)
        if reason is not None:
            return _forbidden(request, reason)
        try:
            request.app.state.backend.auth.verify(token.strip())
        except Unauthorized as exc:
            return _page(request, "login.html", status_code=401, section="", error=exc.message)
        resp = RedirectResponse(f"{PREFIX}/", status_code=303)
        set_session(request, resp, token.strip())
        return resp

    @router.post("/logout")
    def logout(request: Request, csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
        reason = cross_site_reason(request, csrf_token)
        if reason is not None:
            return _forbidden(request, reason)
        resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
        clear_session(resp)
        return resp

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> HTMLResponse:
        yard = _yard(request)
        runs = yard.runs.search("", max_results=10)
        models = yard.models.list()
        datasets = yard.datasets.list()
        alerts = yard.monitoring.alerts(state="open")
        return _page(request, "overview.html", section="", runs=runs, models=models,
                     datasets=datasets, alerts=alerts,
                     experiments=yard.experiments.list())

    @router.get("/runs", response_class=HTMLResponse)
    def runs_page(request: Request, filter: str = "", experiment: str = "",
                  order_by: str = "") -> HTMLResponse:
        context = _runs_context(request, filter, experiment, order_by)
        template = "runs_table.html" if request.headers.get("HX-Request") else "runs.html"
        return _page(request, template, section="runs", **context)

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        yard = _yard(request)
        try:
            run = yard.runs.get(run_id)
        except ModelyardError as exc:
            return _error(request, exc)
        charts = []
        for key in sorted(run.metrics):
            history = yard.runs.metric_history(run_id, key)
            if len(history) > 1:
                i = len(charts)
                charts.append(_plot(
                    [{"x": [m.step for m in history], "y": [m.value for m in history],
                      "type": "scatter", "mode": "lines+markers", "name": key}],
                    {"title": {"text": key}, "xaxis": {"title": {"text": "step"}}}, f"metric-{i}"))
        models = yard.models.versions_of_run(run_id)
        return _page(request, "run.html", section="runs", run=run, plots=charts, models=models,
                     artifacts=yard.runs.artifacts(run_id))

    @router.get("/models", response_class=HTMLResponse)
    def models_page(request: Request) -> HTMLResponse:
        return _page(request, "models.html", section="models", models=_yard(request).models.list())

    @router.get("/models/{name}", response_class=HTMLResponse)
    def model_page(request: Request, name: str) -> HTMLResponse:
        yard = _yard(request)
        try:
            model = yard.models.get_model(name)
        except ModelyardError as exc:
            return _error(request, exc)
        return _page(request, "model.html", section="models", model=model,
                     versions=yard.models.versions(name),
                     history=yard.models.alias_history(name),
                     journal=yard.models.journal_entries(name))

    @router.get("/models/{name}/{version}", response_class=HTMLResponse)
    def version_page(request: Request, name: str, version: int) -> HTMLResponse:
        yard = _yard(request)
        try:
            mv = yard.models.get(f"{name}/{version}")
            lineage = yard.lineage(f"{name}/{version}")
        except ModelyardError as exc:
            return _error(request, exc)
        return _page(request, "version.html", section="models", mv=mv, lineage=lineage,
                     journal=yard.models.journal_entries(name, version))

    @router.get("/datasets", response_class=HTMLResponse)
    def datasets_page(request: Request) -> HTMLResponse:
        return _page(request, "datasets.html", section="datasets",
                     datasets=_yard(request).datasets.list())

    @router.get("/datasets/{name}", response_class=HTMLResponse)
    def dataset_page(request: Request, name: str, version: int | None = None) -> HTMLResponse:
        yard = _yard(request)
        try:
            dv = yard.datasets.get(name, version)
            profile = yard.datasets.profile(name, dv.version)
        except ModelyardError as exc:
            return _error(request, exc)
        dictionary = {c.column: c for c in yard.datasets.dictionary(name)}
        charts = []
        for col in profile.columns.values():
            i = len(charts)
            if col.histogram is not None and col.histogram.counts:
                edges = col.histogram.edges
                mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
                charts.append(_plot(
                    [{"x": mids, "y": col.histogram.counts, "type": "bar"}],
                    {"height": 180, "title": {"text": col.name}}, f"hist-{i}"))
            elif col.top:
                charts.append(_plot(
                    [{"x": [c.value for c in col.top], "y": [c.count for c in col.top],
                      "type": "bar"}], {"height": 180, "title": {"text": col.name}}, f"hist-{i}"))
        return _page(request, "dataset.html", section="datasets", dv=dv, profile=profile,
                     dictionary=dictionary, versions=yard.datasets.versions(name),
                     plots=charts)

    @router.get("/monitoring", response_class=HTMLResponse)
    def monitoring_page(request: Request) -> HTMLResponse:
        yard = _yard(request)
        results = yard.monitoring.results(name="drift_share")
        series: dict[tuple[str, str | None], tuple[list[Any], list[float]]] = {}
        for row in results.iter_rows(named=True):
            xs, ys = series.setdefault((row["endpoint"], row["model_version"]), ([], []))
            xs.append(row["window_end"])
            ys.append(row["value"])
        traces = [
            {"x": xs, "y": ys, "type": "scatter", "mode": "lines+markers",
             "name": f"{endpoint} v{version}" if version else endpoint}
            for (endpoint, version), (xs, ys) in sorted(series.items(), key=lambda kv: str(kv[0]))
        ]
        plots = [_plot(traces, {"title": {"text": "drift share over time"},
                                "yaxis": {"range": [0, 1]}}, "drift-share")] if traces else []
        return _page(request, "monitoring.html", section="monitoring", plots=plots,
                     runs=yard.monitoring.runs(limit=50), alerts=yard.monitoring.alerts(),
                     rules=yard.monitoring.alert_rules())

    @router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
    def resolve_alert(request: Request, alert_id: str,
                      csrf_token: str = Form("", alias=CSRF_FIELD)) -> HTMLResponse:
        reason = cross_site_reason(request, request.headers.get(CSRF_HEADER) or csrf_token)
        if reason is not None:
            return _forbidden(request, reason)
        try:
            alert = _yard(request).monitoring.resolve_alert(alert_id)
        except ModelyardError as exc:
            return _page(request, "message.html", status_code=exc.status_code,
                         message=exc.message)
        return _page(request, "alert_row.html", alert=alert)

    return router


def _runs_context(request: Request, filter: str, experiment: str, order_by: str) -> dict[str, Any]:
    yard = _yard(request)
    error = None
    runs: list[Any] = []
    try:
        runs = yard.runs.search(
            filter, experiment=experiment or None,
            order_by=[order_by] if order_by else None, max_results=500,
        )
    except ModelyardError as exc:
        error = exc.message
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    return {"runs": runs, "params": params, "metrics": metrics, "filter": filter,
            "experiment": experiment, "order_by": order_by, "error": error,
            "experiments": yard.experiments.list()}


def install(app: FastAPI) -> None:
    """Mount the dashboard at ``/ui`` (and send ``/`` there)."""
    app.include_router(build_router(), prefix=PREFIX)
    app.add_middleware(SecurityHeaders, prefix=PREFIX)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")

