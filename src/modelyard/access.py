"""Who is calling, and what each operation needs: one table for both servers.

Every operation declares the permission it needs, whatever HTTP verb carries it::

    @endpoint("POST", "/runs/search", permission="read")     # a store method (REST + client)
    @router.get("/runs")                                     # any other route
    @requires("read")
    def runs(...): ...

The REST server (``api/auth.py``) and the model server (``serving/app.py``) both authenticate
with :func:`authenticate` and check with :func:`authorize`, against the same table:

    permission   what it allows                                roles that hold it today
    read         every read (GET, and reads carried by POST)   reader, writer, admin
    write        log runs, add data, register, move aliases …  writer, admin
    admin        tokens, and anything that declares nothing    admin

A route that declares no permission is **admin-only** (fail closed), and a store method marked
``@endpoint`` without ``permission=`` is refused when the app is built.

Roles are a mapping role -> permissions (:data:`ROLE_PERMISSIONS`); the roles of a later
release (viewer, editor, approver, admin, scoped to a name pattern) are new rows there and a
``resource`` argument to :meth:`Principal.can`, with no change to the operations.

Who did something is a fact the server records: the :class:`Principal` of the request is put in
:data:`current_principal` by the server (from the token, or ``anonymous`` when the server checks
no tokens); outside a request (the embedded single-user mode, a server's own background work)
:func:`acting_principal` is the operating-system user of the process, resolved once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict

from .errors import Forbidden, InvalidParameter, Unauthorized

__all__ = [
    "ANONYMOUS",
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "TOKEN_COOKIE",
    "Permission",
    "Principal",
    "Role",
    "acting_principal",
    "authenticate",
    "authorize",
    "bearer_token",
    "check_permission",
    "current_principal",
    "permission_of",
    "process_principal",
    "requires",
    "strongest",
]

Permission = Literal["read", "write", "admin"]
PERMISSIONS: tuple[str, ...] = get_args(Permission)
Role = Literal["reader", "writer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

# role -> the permissions it holds. Issue 11's roles (viewer, editor, approver …) are rows here.
ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "reader": frozenset({"read"}),
    "writer": frozenset({"read", "write"}),
    "admin": frozenset(PERMISSIONS),
}

TOKEN_COOKIE = "modelyard_token"
_ATTR = "__modelyard_permission__"
F = TypeVar("F", bound=Callable[..., Any])


class Principal(BaseModel):
    """Who is calling: a token's name and role, the OS user (embedded mode) or ``anonymous``.

    ``kind`` says where the name comes from: ``token``, ``os_user`` or ``anonymous``.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    kind: Literal["token", "os_user", "anonymous"] = "token"

    def can(self, permission: str, resource: str | None = None) -> bool:
        """True when this principal holds ``permission`` (``resource``, e.g. ``model:loans``,
        is for roles scoped to a name pattern; today's roles hold their permissions on all)."""
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())


# A server with token checks off knows nobody: everything it records is by "anonymous".
ANONYMOUS = Principal(name="anonymous", role="admin", kind="anonymous")

# The principal of the request being served; None outside a request (see acting_principal).
current_principal: ContextVar[Principal | None] = ContextVar("modelyard_principal", default=None)


@lru_cache(maxsize=1)
def process_principal() -> Principal:
    """The operating-system user running this process (from the user id, not the environment):
    who acts in the embedded single-user mode and in a server's own background work."""
    try:
        import pwd

        name = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        name = f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return Principal(name=name, role="admin", kind="os_user")


def acting_principal() -> Principal:
    """Who is doing what is being done now: the request's principal, else the process's."""
    return current_principal.get() or process_principal()


def check_permission(permission: object, *, field: str = "permission") -> str:
    if permission not in PERMISSIONS:
        raise InvalidParameter(
            f"{field} must be one of {', '.join(PERMISSIONS)}. Got {permission!r} instead.",
            field=field,
        )
    return str(permission)


def strongest(permissions: Iterable[str]) -> str | None:
    """The most demanding of ``permissions`` (read < write < admin); None for none."""
    given = set(permissions)
    ranked = [p for p in PERMISSIONS if p in given]
    return ranked[-1] if ranked else None


def requires(permission: Permission) -> Callable[[F], F]:
    """Declare the permission a route needs (put it under the route decorator)."""
    check_permission(permission)

    def mark(fn: F) -> F:
        setattr(fn, _ATTR, permission)
        return fn

    return mark


def permission_of(obj: object) -> str | None:
    """The permission declared on a function (by :func:`requires` or ``@endpoint``)."""
    value = getattr(obj, _ATTR, None)
    return value if isinstance(value, str) else None


def bearer_token(authorization: str | None, cookie: str | None = None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, else of the ``modelyard_token``
    cookie (a browser), else None."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None
    for part in (cookie or "").split(";"):
        key, _, token = part.strip().partition("=")
        if key == TOKEN_COOKIE:
            return token or None
    return None


def authenticate(verify: Callable[[str], Principal], token: str | None) -> Principal:
    """The principal of ``token`` (``verify`` looks it up, every time: a revoked token fails on
    the next request); :class:`Unauthorized` when there is none or it is unknown."""
    if not token:
        raise Unauthorized(
            "This server needs a bearer token (Authorization: Bearer my_…). Got none."
        )
    return verify(token)


def authorize(principal: Principal, permission: str, operation: str,
              resource: str | None = None) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may do ``operation`` (which needs
    ``permission``)."""
    if principal.can(permission, resource):
        return
    held = sorted(ROLE_PERMISSIONS.get(principal.role, ()))
    raise Forbidden(
        f"{operation} needs permission {permission!r}. Token {principal.name!r} has role "
        f"{principal.role} (permissions: {', '.join(held) or 'none'}).",
    )
