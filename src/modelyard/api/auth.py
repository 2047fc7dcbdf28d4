"""Who is calling ``modelyard server``, and may they do this operation.

With ``Settings.auth_enabled`` every request but the public paths (``/healthz``, the OpenAPI spec
and docs) must carry ``Authorization: Bearer my_…`` (or the ``modelyard_token`` cookie, for a
browser). The token is looked up on every request (a revoked token fails on the next one), and
the operation's declared permission is checked against the token's role with the shared table
of :mod:`modelyard.access`, whatever the HTTP verb: ``POST /api/v1/runs/search`` is a read.

* :class:`AuthMiddleware` authenticates: no or a bad token is 401 (a browser asking for a page
  is sent to ``login_path`` instead). It puts the caller's
  :class:`~modelyard.access.Principal` in :data:`~modelyard.access.current_principal` while the
  request runs, so the stores record who did what (with token checks off it is
  :data:`~modelyard.access.ANONYMOUS`), and a token's principal in ``request.state.principal``
  (who signed in, for the pages).
* :func:`check_route_permission`, a dependency of every route of the app, authorises once the
  router has chosen the route: the permission is what the route's function declares
  (``@endpoint(…, permission=…)`` for the stores' routes, :func:`~modelyard.access.requires` on
  the function or on a dependency for any other). A route that declares nothing is
  **admin-only** (fail closed); a principal without the permission gets 403 ``forbidden``.
  When the operation names a model or dataset (``resource=``), a scoped grant must match that
  name: checked here when it is a path parameter, by :func:`authorize_resource` in the handler
  when it is in the body.
* :func:`check_routes` refuses, when the app is built, a route the check cannot see (a plain
  Starlette route or mount outside the public paths).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ..access import (
    ANONYMOUS,
    PUBLIC,
    TOKEN_COOKIE,
    Principal,
    authenticate,
    authorize,
    bearer_token,
    current_principal,
    permission_of,
    resource_of,
    strongest,
)
from ..errors import Unauthorized
from .errors import error_response

__all__ = [
    "PUBLIC_PATHS",
    "TOKEN_COOKIE",
    "AuthMiddleware",
    "authorize_resource",
    "check_route_permission",
    "check_routes",
    "route_permission",
]

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
_PUBLIC = PUBLIC
_PUBLIC_KEY = "modelyard_public_path"


def route_permission(route: Any) -> str:
    """The permission a route declares (the strongest of its function's and its dependencies'),
    or ``admin`` when it declares none."""
    declared = [permission_of(getattr(route, "endpoint", None))]
    for dep in getattr(route, "dependencies", None) or ():
        declared.append(permission_of(getattr(dep, "dependency", None)))
    return strongest(p for p in declared if p) or "admin"


async def check_route_permission(request: Request) -> None:
    """Authorise the request for the route the router chose (a dependency of every route)."""
    principal = current_principal.get()
    if principal is None:  # the middleware did not run: refuse rather than guess
        raise Unauthorized("This request was not authenticated.")
    if request.scope.get("state", {}).get(_PUBLIC_KEY):
        return  # a public path (health, the spec, the login page)
    route = request.scope.get("route")
    resource = resource_of(getattr(route, "endpoint", None))
    operation = f"{request.method} {request.url.path}"
    if resource is None:
        authorize(principal, route_permission(route), operation)
    elif resource in request.path_params:  # the name is in the path: check it now
        authorize(principal, route_permission(route), operation, request.path_params[resource])
    else:  # the name is in the body: the handler checks it (authorize_resource)
        authorize(principal, route_permission(route), operation, somewhere=True)


def authorize_resource(permission: str, operation: str, resource: str | None) -> None:
    """Check the request's principal for ``permission`` on ``resource`` (the model or dataset
    an operation names, once the handler has read it from the body)."""
    principal = current_principal.get()
    if principal is None:
        raise Unauthorized("This request was not authenticated.")
    authorize(principal, permission, operation, resource)


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterable[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # a router included lazily
        if included is not None:
            yield from _leaf_routes(included.routes)
        else:
            yield route


def check_routes(routes: Iterable[BaseRoute], public_paths: Iterable[str]) -> None:
    """Refuse a route whose permission :func:`check_route_permission` would not check: every
    route must be a FastAPI route (or one of the public paths)."""
    public = set(public_paths)
    for route in _leaf_routes(routes):
        if isinstance(route, APIRoute) or getattr(route, "path", None) in public:
            continue
        raise TypeError(
            f"{type(route).__name__} {getattr(route, 'path', route)!r} cannot be added to "
            "modelyard server: its permission would not be checked. Add it as a FastAPI route "
            "(app.get/post/…, include_router) that declares @requires(permission)."
        )


class AuthMiddleware:
    """Authenticate every non-public request and check the permission of its route.

    ``verify(token) -> Principal`` raises :class:`~modelyard.errors.Unauthorized`; it runs in a
    worker thread (it reads the database). ``verify=None``: the server checks no tokens and
    every request acts as :data:`~modelyard.access.ANONYMOUS`. The permission is checked later,
    by :func:`check_route_permission`, once the router has chosen the route.
    """

    def __init__(
        self,
        app: ASGIApp,
        verify: Callable[[str], Principal] | None,
        public_paths: Iterable[str] = PUBLIC_PATHS,
        login_path: str | None = None,
    ) -> None:
        self.app = app
        self.verify = verify
        self.public_paths = frozenset(public_paths)
        self.login_path = login_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.verify is None:
            await self._serve(ANONYMOUS, scope, receive, send)
            return
        if scope["path"] in self.public_paths:  # no token needed, nothing a token would allow
            await self._serve(_PUBLIC, scope, receive, send, public=True)
            return
        from starlette.concurrency import run_in_threadpool

        headers = Headers(scope=scope)
        token = bearer_token(headers.get("authorization"), headers.get("cookie"))
        try:
            principal = await run_in_threadpool(authenticate, self.verify, token)
        except Unauthorized as exc:
            response: Response = error_response(
                401, exc.code, exc.message, None, {"WWW-Authenticate": "Bearer"}
            )
            if self._send_to_login(scope, headers):
                response = RedirectResponse(self.login_path or "/", status_code=303)
            await response(scope, receive, send)
            return
        await self._serve(principal, scope, receive, send)

    async def _serve(self, principal: Principal, scope: Scope, receive: Receive,
                     send: Send, public: bool = False) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        if principal.kind == "token":  # who signed in (none on a public page or without auth)
            state["principal"] = principal  # request.state.principal
        state[_PUBLIC_KEY] = public
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
