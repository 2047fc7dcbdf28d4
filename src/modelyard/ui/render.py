"""What every dashboard page shares: the Jinja environment, the page response, charts, links.

A page handler gathers its data from the SDK (and the domain functions of ``ui.data``), then
calls :func:`page`. Charts are data: :func:`plot` returns a Plotly spec that the page lays out
as a ``<div>`` and hands to ``dashboard.js`` in one JSON block (never as code). Links between
objects are made by the ``url_*`` globals, so every page links the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..errors import ModelyardError
from ..htmlsafe import json_for_html, plotly_literal
from ..predictions import reader
from ..serving.repository import ServingRepository
from ..yard import Yard
from .nav import sections
from .security import csrf_token, ensure_csrf_cookie

__all__ = [
    "PREFIX",
    "can",
    "can_write",
    "env",
    "error",
    "forbidden",
    "log_endpoints",
    "page",
    "plot",
    "serving_tables",
    "url",
    "url_job",
    "url_policy",
    "url_report",
    "url_target",
    "yard_of",
]

PREFIX = "/ui"
TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_num(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return "" if value is None else str(value)


def _fmt_pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def url(path: str, **query: Any) -> str:
    """``PREFIX + path`` (path segments already quoted) with a query string of ``query``
    (lists repeat their key; None values are left out)."""
    items = [(k, v) for k, vs in query.items() if vs is not None
             for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
    return PREFIX + path + (f"?{urlencode(items)}" if items else "")


def _q(value: Any) -> str:
    return quote(str(value), safe="")


def url_run(run_id: str) -> str:
    return url(f"/runs/{_q(run_id)}")


def url_model(name: str, version: Any = None) -> str:
    return url(f"/models/{_q(name)}" + ("" if version in (None, "") else f"/{_q(version)}"))


def url_model_ref(ref: str) -> str:
    """A link for ``name/3`` (a version) or any other reference (the model's page)."""
    name, sep, version = ref.partition("/")
    if sep and version.isdigit():
        return url_model(name, version)
    return url_model(name.partition("@")[0])


def url_dataset(name: str, version: Any = None) -> str:
    return url(f"/datasets/{_q(name)}", version=version)


def url_endpoint(name: str, **query: Any) -> str:
    return url(f"/endpoints/{_q(name)}", **query)


def url_prediction(prediction_id: str) -> str:
    return url(f"/predictions/{_q(prediction_id)}")


def url_policy(name: str) -> str:
    return url(f"/automation/policies/{_q(name)}")


def url_job(job_id: str) -> str:
    return url(f"/automation/jobs/{_q(job_id)}")


def url_report(report_id: str) -> str:
    return url(f"/validation/reports/{_q(report_id)}")


def url_target(target: str) -> str | None:
    """The page of an audit record's target (``kind:name``), or None for a kind without one:
    ``model:loans/3``, ``alias:loans@production``, ``suite:loans/2``, ``run:…``,
    ``experiment:…``, ``dataset:loans/2`` (or ``#column``), ``endpoint:…``, ``monitor:…``,
    ``policy:…``."""
    kind, sep, name = target.partition(":")
    if not sep or not name:
        return None
    if kind == "model":
        return url_model_ref(name)
    if kind == "alias":
        return url_model(name.partition("@")[0])
    if kind == "suite":
        return url_model(name.rpartition("/")[0] or name)
    if kind == "run":
        return url_run(name)
    if kind == "experiment":
        return url("/runs", experiment=name)
    if kind == "dataset":
        name = name.partition("#")[0]
        dataset, sep, version = name.rpartition("/")
        return url_dataset(dataset, version) if sep and version.isdigit() else url_dataset(name)
    if kind in ("endpoint", "monitor"):
        return url_endpoint(name)
    if kind == "policy":
        return url_policy(name)
    return None


env.filters["t"] = _fmt_time
env.filters["n"] = _fmt_num
env.filters["pct"] = _fmt_pct
env.filters["tojson"] = json_for_html  # the one way data reaches a page's script
env.globals.update(url=url, url_run=url_run, url_model=url_model, url_model_ref=url_model_ref,
                   url_dataset=url_dataset, url_endpoint=url_endpoint,
                   url_prediction=url_prediction, url_policy=url_policy, url_job=url_job,
                   url_report=url_report, url_target=url_target, prefix=PREFIX)


def yard_of(request: Request) -> Yard:
    """The server's yard, built once over its backend."""
    yard = getattr(request.app.state, "ui_yard", None)
    if yard is None:
        backend = request.app.state.backend
        yard = Yard(backend, request.app.state.settings, backend.clock)
        request.app.state.ui_yard = yard
    return yard


def serving_tables(request: Request) -> ServingRepository | None:
    """The serving tables of the server's database (endpoints, canaries)."""
    repo = getattr(request.app.state, "ui_serving", None)
    if repo is None:
        backend = request.app.state.backend
        if getattr(backend, "db", None) is None:
            return None
        repo = request.app.state.ui_serving = ServingRepository(backend.db, backend.clock)
    return repo  # type: ignore[no-any-return]


def log_endpoints(yard: Yard) -> list[str]:
    """The endpoints that have compacted prediction-log partitions."""
    return reader.endpoints(yard)


def can(request: Request, permission: str, resource: str | None = None) -> bool:
    """May the signed-in user do what needs ``permission`` (on ``resource``)? What a role may
    not do is not offered; with auth off everyone may. Templates call it as
    ``can('approve', model.name)``: the same table the routes check (``modelyard.access``)."""
    principal = getattr(request.state, "principal", None)
    return principal is None or principal.can(permission, resource)


def can_write(request: Request) -> bool:
    """``can(request, "write")``, kept for the templates that ask it."""
    return can(request, "write")


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page. Charts are passed as ``plots`` (see :func:`plot`): the page lays out
    their ``<div>``s and hands the specs to ``dashboard.js`` as one JSON block."""
    context.setdefault("plots", [])
    context.setdefault("section", "")
    html = env.get_template(template).render(
        request=request, csrf=csrf_token(request), can_write=can_write(request),
        can=lambda permission, resource=None: can(request, permission, resource),
        principal=getattr(request.state, "principal", None), nav=sections(), **context)
    response = HTMLResponse(html, status_code=status_code)
    ensure_csrf_cookie(request, response)
    return response


def plot(traces: list[dict[str, Any]], layout: dict[str, Any], div_id: str) -> dict[str, Any]:
    """A Plotly chart: its element id and its spec (data only; drawn by dashboard.js). Every
    string in it is shown literally (Plotly would read ``<b>`` in a title as markup)."""
    return {"id": div_id, "data": plotly_literal(traces),
            "layout": plotly_literal({"margin": {"t": 30, "r": 10, "b": 40, "l": 50},
                                      "height": 300, **layout})}


def error(request: Request, exc: ModelyardError) -> HTMLResponse:
    return page(request, "error.html", status_code=exc.status_code, error=exc)


def forbidden(request: Request, reason: str) -> HTMLResponse:
    """A state-changing request that did not come from this dashboard's own page."""
    message = f"Refused: {reason}."
    if request.headers.get("HX-Request"):
        return page(request, "message.html", status_code=403, message=message)
    return page(request, "error.html", status_code=403, error={"message": message})
