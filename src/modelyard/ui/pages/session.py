"""Signing in and out (``/ui/login``, ``/ui/logout``): the token is verified before it becomes
the browser's session; both forms are protected against cross-site requests."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...errors import Unauthorized
from ..render import PREFIX, forbidden, page
from ..security import CSRF_FIELD, clear_session, cross_site_reason, set_session

__all__ = ["router"]

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login")
def login(request: Request, token: str = Form(""),
          csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    reason = cross_site_reason(request, csrf_token)
    if reason is not None:
        return forbidden(request, reason)
    token = token.strip()
    try:
        request.app.state.backend.auth.verify(token)
    except Unauthorized as exc:
        return page(request, "login.html", status_code=401, error=exc.message)
    resp = RedirectResponse(f"{PREFIX}/", status_code=303)
    set_session(request, resp, token)
    return resp


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("", alias=CSRF_FIELD)) -> Response:
    reason = cross_site_reason(request, csrf_token)
    if reason is not None:
        return forbidden(request, reason)
    resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
    clear_session(resp)
    return resp
