"""Bearer-token auth of ``modelyard server`` (on when ``Settings.auth_enabled``).

Every request but the public paths (``/healthz``, the OpenAPI spec and docs) must carry
``Authorization: Bearer my_…`` (or the ``modelyard_token`` cookie, for a browser). The token's
role decides what it may do:

    reader   GET and HEAD only
    writer   everything but managing tokens
    admin    everything

No or a bad token is 401; a role that may not do this is 403, both as the JSON error shape.
With a ``login_path`` (the dashboard's), a browser asking for a page is sent there instead.
The caller's :class:`~modelyard.governance.tokens.Principal` is in
``request.state.principal`` and in :data:`~modelyard.governance.tokens.current_principal`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import Unauthorized
from ..governance.tokens import Principal, current_principal, role_allows
from .errors import error_response

__all__ = ["PUBLIC_PATHS", "READ_METHODS", "TOKEN_COOKIE", "AuthMiddleware", "needed_role"]

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "modelyard_token"


def needed_role(method: str, path: str, admin_prefixes: Iterable[str]) -> str:
    """The least role that may call ``method path``."""
    if any(path == p or path.startswith(p.rstrip("/") + "/") for p in admin_prefixes):
        return "admin"
    return "reader" if method in READ_METHODS else "writer"


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    for part in headers.get("cookie", "").split(";"):
        key, _, token = part.strip().partition("=")
        if key == TOKEN_COOKIE:
            return token
    return None


class AuthMiddleware:
    """Check the bearer token and the role of every non-public request.

    ``verify(token) -> Principal`` raises :class:`~modelyard.errors.Unauthorized`; it runs in a
    worker thread (it reads the database). ``admin_prefixes`` are the paths only an admin may
    use (token management).
    """

    def __init__(
        self,
        app: ASGIApp,
        verify: Callable[[str | None], Principal],
        admin_prefixes: Iterable[str] = (),
        public_paths: Iterable[str] = PUBLIC_PATHS,
        login_path: str | None = None,
    ) -> None:
        self.app = app
        self.verify = verify
        self.admin_prefixes = tuple(admin_prefixes)
        self.public_paths = frozenset(public_paths)
        self.login_path = login_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        headers = Headers(scope=scope)
        token = bearer_token(headers)
        try:
            principal = await run_in_threadpool(self.verify, token)
        except Unauthorized as exc:
            response: Response = error_response(
                401, exc.code, exc.message, None, {"WWW-Authenticate": "Bearer"}
            )
            if self._send_to_login(scope, headers):
                response = RedirectResponse(self.login_path or "/", status_code=303)
            await response(scope, receive, send)
            return
        method = scope["method"]
        needed = needed_role(method, scope["path"], self.admin_prefixes)
        if not role_allows(principal.role, needed):
            response = error_response(
                403,
                "unauthorized",
                f"{method} {scope['path']} needs role {needed}. Token {principal.name!r} "
                f"has role {principal.role}.",
            )
            await response(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})  # request.state.principal
        state["principal"] = principal
        reset = current_principal.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            current_principal.reset(reset)

    def _send_to_login(self, scope: Scope, headers: Headers) -> bool:
        """A browser asking for a page (not the API) goes to the login page instead of a 401."""
        return (
            self.login_path is not None
            and scope["method"] == "GET"
            and not scope["path"].startswith("/api/")
            and "text/html" in headers.get("accept", "")
        )
