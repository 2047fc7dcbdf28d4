"""The dashboard of ``modelyard server``: runs, models, datasets, endpoints, monitoring and
predictions in a browser.

Pages are rendered on the server from the same SDK a user calls (``Yard`` over the server's
backend) and the domain functions it composes (``ui.data``, ``monitoring.traffic``,
``tracking.compare``): no business logic in templates. htmx swaps partials (the run search,
resolving an alert); Plotly draws the charts, its JavaScript served from the installed
``plotly`` package, so the dashboard works with no network. Each section is a module of
``ui/pages`` (see ``ui.nav`` to add one).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse, Response

from ..access import requires
from ..errors import NotFound
from .nav import page_modules
from .render import PREFIX
from .security import SecurityHeaders

__all__ = ["PREFIX", "PUBLIC_PATHS", "build_router", "install"]

_HERE = Path(__file__).parent
_STATIC = {
    "style.css": (_HERE / "static" / "style.css", "text/css"),
    "htmx.min.js": (_HERE / "static" / "htmx.min.js", "application/javascript"),
    "dashboard.js": (_HERE / "static" / "dashboard.js", "application/javascript"),
}
# what the login page needs before anyone has a token
PUBLIC_PATHS = frozenset({f"{PREFIX}/login", f"{PREFIX}/logout"}
                         | {f"{PREFIX}/static/{name}" for name in _STATIC})


@cache
def _asset(name: str) -> tuple[bytes, str]:
    if name == "plotly.min.js":
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return path.read_bytes(), "application/javascript"
    path, media = _STATIC[name]
    return path.read_bytes(), media


def build_router() -> APIRouter:
    """Every page of ``ui/pages`` plus the static assets, under the dashboard's prefix."""
    router = APIRouter(include_in_schema=False)

    @router.get("/static/{name}")
    @requires("read")
    def static(name: str) -> Response:
        if name not in _STATIC and name != "plotly.min.js":
            raise NotFound(f"No static file {name!r}.", field="name")
        body, media = _asset(name)
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=3600"})

    for module in page_modules():
        router.include_router(module.router)
    return router


def install(app: FastAPI) -> None:
    """Mount the dashboard at ``/ui`` (and send ``/`` there)."""
    app.include_router(build_router(), prefix=PREFIX)
    app.add_middleware(SecurityHeaders, prefix=PREFIX)

    @app.get("/", include_in_schema=False)
    @requires("read")
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")
