"""What keeps the dashboard's browser session safe: cookies, cross-site request checks, headers.

- The session is the bearer token in the ``modelyard_token`` cookie (set by ``/ui/login`` only
  after the token verified): HttpOnly, SameSite=Lax, Path=/ui (never sent to the REST API),
  and Secure when the page was served over HTTPS (the request's scheme, or
  ``X-Forwarded-Proto: https`` from a TLS-terminating proxy).
- Every state-changing form (login, logout, resolving an alert) carries a CSRF token, checked
  on the server: ``HMAC(csrf cookie, session token)``. The csrf cookie is a random value set
  on the first page; the token is bound to it *and* to the session, so a site that cannot read
  the victim's cookies cannot make one, and a token leaked from one session is useless in
  another. The Origin (or, without one, the Referer) of such a request must be this server.
- Every dashboard response carries a Content-Security-Policy that allows scripts from the
  server only (no inline script): a string that slipped past escaping still could not run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.auth import TOKEN_COOKIE

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "COOKIE_PATH",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SecurityHeaders",
    "clear_session",
    "cross_site_reason",
    "csrf_token",
    "ensure_csrf_cookie",
    "is_https",
    "set_session",
]

CSRF_COOKIE = "modelyard_csrf"
COOKIE_PATH = "/ui"  # the dashboard's prefix
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def is_https(request: Request) -> bool:
    """The page reached the browser over HTTPS: directly, or through a proxy that says so."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.split(",")[0].strip().lower() == "https"


def _csrf_secret(request: Request) -> str:
    """The browser's csrf cookie, or the one this response is about to set."""
    fresh = getattr(request.state, "csrf_secret", None)
    if fresh:
        return str(fresh)
    value = request.cookies.get(CSRF_COOKIE, "")
    if len(value) < 32:
        value = secrets.token_urlsafe(32)
        request.state.csrf_secret = value
        request.state.csrf_new = True
    return value


def csrf_token(request: Request) -> str:
    """The token forms of this page must send back: bound to the csrf cookie and the session."""
    session = request.cookies.get(TOKEN_COOKIE, "")
    return hmac.new(_csrf_secret(request).encode(), session.encode(),
                    hashlib.sha256).hexdigest()


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    # Path=/ui: the browser sends the session to the dashboard only. The REST API also reads
    # the cookie, and a page on another port of this host is "same-site" (SameSite does not
    # stop it), so a cookie sent to /api would let that page call the API as the user.
    response.set_cookie(name, value, httponly=True, samesite="lax", secure=is_https(request),
                        path=COOKIE_PATH)


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    """Set the csrf cookie when this request made a new one (see :func:`csrf_token`)."""
    if getattr(request.state, "csrf_new", False):
        _set_cookie(request, response, CSRF_COOKIE, request.state.csrf_secret)


def cross_site_reason(request: Request, submitted: str | None) -> str | None:
    """Why a state-changing request may not come from this dashboard (None: it may).

    The Origin header (or the Referer when a browser sent no Origin) must name this server,
    and ``submitted`` (the form field or the X-CSRF-Token header) must be the token of
    :func:`csrf_token` for the cookies the request carries."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc != host:
            return f"the request came from another site ({origin})"
    else:
        referer = request.headers.get("referer")
        if referer and urlsplit(referer).netloc != host:
            return "the request came from another site (its Referer)"
    if not request.cookies.get(CSRF_COOKIE):
        return "the browser sent no csrf cookie (reload the page and try again)"
    if not submitted or not hmac.compare_digest(submitted, csrf_token(request)):
        return "the form's csrf token is missing or stale (reload the page and try again)"
    return None


def set_session(request: Request, response: Response, token: str) -> None:
    """Keep a verified token as the browser's session, with a fresh csrf cookie."""
    _set_cookie(request, response, TOKEN_COOKIE, token)
    _set_cookie(request, response, CSRF_COOKIE, secrets.token_urlsafe(32))


def clear_session(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH)
    response.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)


class SecurityHeaders:
    """Add the dashboard's security headers to every response under ``prefix``."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in _HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
