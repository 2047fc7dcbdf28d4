"""Who is calling, and what each operation needs: one table for both servers.

Every operation declares the permission it needs, whatever HTTP verb carries it::

    @endpoint("POST", "/runs/search", permission="read")     # a store method (REST + client)
    @router.get("/runs")                                     # any other route
    @requires("read")
    def runs(...): ...

The REST server (``api/auth.py``) and the model server (``serving/app.py``) both authenticate
with :func:`authenticate` and check with :func:`authorize`, against the same table:

    permission   what it allows                                      roles that hold it
    read         every read (GET, and reads carried by POST)         viewer, editor, approver, admin
    write        log runs, add data, register versions, move aliases editor, admin
    approve      move protected aliases, approve promotions          approver, admin
    admin        users, tokens, roles, endpoints, and anything that  admin
                 declares nothing

A route that declares no permission is **admin-only** (fail closed), and a store method marked
``@endpoint`` without ``permission=`` is refused when the app is built.

A user holds roles as :class:`Grant` s, each optionally scoped to a model or dataset name
pattern (``editor`` of ``loans*``). An operation that acts on a named model or dataset says
which argument names it (``@endpoint(…, resource="name")``); :meth:`Principal.can` then checks
the grant's pattern against it. The roles of releases before users, ``reader`` and ``writer``,
are read as ``viewer`` and ``editor`` (:data:`LEGACY_ROLES`).

Who did something is a fact the server records: the :class:`Principal` of the request is put in
:data:`current_principal` by the server (from the token, or ``anonymous`` when the server checks
no tokens); outside a request (the embedded single-user mode, a server's own background work)
:func:`acting_principal` is the operating-system user of the process, resolved once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, model_validator

from .errors import Forbidden, InvalidParameter, Unauthorized

__all__ = [
    "ANONYMOUS",
    "LEGACY_ROLES",
    "PERMISSIONS",
    "PUBLIC",
    "ROLES",
    "ROLE_PERMISSIONS",
    "TOKEN_COOKIE",
    "Grant",
    "Permission",
    "Principal",
    "Role",
    "acting_principal",
    "authenticate",
    "authorize",
    "bearer_token",
    "check_pattern",
    "check_permission",
    "check_role",
    "current_principal",
    "permission_of",
    "process_principal",
    "requires",
    "resource_of",
    "resource_value",
    "strongest",
]

Permission = Literal["read", "write", "approve", "admin"]
PERMISSIONS: tuple[str, ...] = get_args(Permission)  # weakest first
Role = Literal["viewer", "editor", "approver", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
#: the roles of releases before users (a token had one of them): what each is called now
LEGACY_ROLES: Mapping[str, str] = {"reader": "viewer", "writer": "editor"}

# role -> the permissions it holds: the one table every server and the dashboard read.
ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "editor": frozenset({"read", "write"}),
    "approver": frozenset({"read", "approve"}),
    "admin": frozenset(PERMISSIONS),
}
_UNSCOPED_ONLY = frozenset({"approve", "admin"})  # see Principal.can

TOKEN_COOKIE = "modelyard_token"
_ATTR = "__modelyard_permission__"
_RESOURCE_ATTR = "__modelyard_resource__"
F = TypeVar("F", bound=Callable[..., Any])


def check_role(role: object, *, field: str = "role") -> str:
    """``role`` by its current name (``reader``/``writer`` become ``viewer``/``editor``)."""
    if isinstance(role, str) and role in LEGACY_ROLES:
        return LEGACY_ROLES[role]
    if role not in ROLES:
        raise InvalidParameter(
            f"{field} must be one of {', '.join(ROLES)} (or the former reader, writer). "
            f"Got {role!r} instead.",
            field=field,
        )
    return str(role)


def check_pattern(pattern: object, *, field: str = "pattern") -> str:
    """A name pattern of a scoped grant: ``*`` (everything), ``loans`` or ``loans*``."""
    if not isinstance(pattern, str) or not 0 < len(pattern) <= 256 or pattern != pattern.strip():
        raise InvalidParameter(
            f"{field} must be a model or dataset name pattern of 1-256 characters such as "
            f"'loans*' ('*' for every name). Got {pattern!r} instead.",
            field=field,
        )
    return pattern


class Grant(BaseModel):
    """A role held on the model and dataset names matching ``pattern`` (``*``: all of them)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    pattern: str = "*"

    def __str__(self) -> str:
        return self.role if self.pattern == "*" else f"{self.role} of {self.pattern}"


class Principal(BaseModel):
    """Who is calling: a user (through one of their tokens), the OS user (embedded mode) or
    ``anonymous``, with the roles they hold.

    ``kind`` says where the name comes from: ``token``, ``os_user`` or ``anonymous``.
    ``Principal(name=…, role="editor")`` is short for one unscoped grant of that role.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    grants: tuple[Grant, ...] = ()
    kind: Literal["token", "os_user", "anonymous"] = "token"

    @model_validator(mode="before")
    @classmethod
    def _one_role(cls, data: Any) -> Any:
        if isinstance(data, dict) and "role" in data:
            data = dict(data)
            data["grants"] = (Grant(role=check_role(data.pop("role"))),)  # type: ignore[arg-type]
        return data

    @property
    def role(self) -> str:
        """The roles held, in words (``editor of loans*, approver``; ``none``)."""
        return ", ".join(str(g) for g in self.grants) or "none"

    @property
    def permissions(self) -> frozenset[str]:
        """Every permission held on at least some names."""
        return frozenset(p for g in self.grants for p in ROLE_PERMISSIONS.get(g.role, ()))

    def can(self, permission: str, resource: str | None = None) -> bool:
        """True when this principal holds ``permission`` on ``resource`` (a model or dataset
        name).

        A grant scoped to a pattern (``editor`` of ``loans*``) covers the operations on the
        names it matches. An operation that names no model or dataset (``resource=None``: runs,
        blobs, monitoring) is covered by any grant for ``read``/``write``, and only by an
        unscoped grant for ``approve``/``admin`` (users, tokens, …). ``write|approve``: either
        will do."""
        if "|" in permission:
            return any(self.can(p, resource) for p in permission.split("|"))
        for grant in self.grants:
            if permission not in ROLE_PERMISSIONS.get(grant.role, ()):
                continue
            if grant.pattern == "*":
                return True
            if resource is None:
                if permission not in _UNSCOPED_ONLY:
                    return True
            elif fnmatchcase(resource, grant.pattern):
                return True
        return False

    def can_somewhere(self, permission: str) -> bool:
        """True when some grant holds ``permission``, on any names (a first check before the
        operation's resource is known)."""
        return permission in self.permissions


# A server with token checks off knows nobody: everything it records is by "anonymous".
ANONYMOUS = Principal(name="anonymous", role="admin", kind="anonymous")
#: who reads a public path (health, the spec) of a server that checks tokens
PUBLIC = Principal(name="anonymous", role="viewer", kind="anonymous")

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
    """A permission, or several any of which will do (``write|approve``: the store then
    decides which one the case at hand needs, as an alias move does)."""
    if not isinstance(permission, str) or any(
            p not in PERMISSIONS for p in permission.split("|")):
        raise InvalidParameter(
            f"{field} must be one of {', '.join(PERMISSIONS)}. Got {permission!r} instead.",
            field=field,
        )
    return str(permission)


def strongest(permissions: Iterable[str]) -> str | None:
    """The most demanding of ``permissions`` (read < write < approve < admin); None for none."""
    given = set(permissions)
    if len(given) == 1:
        return given.pop()
    ranked = sorted(given, key=lambda p: max(PERMISSIONS.index(x) for x in p.split("|")))
    return ranked[-1] if ranked else None


def requires(permission: str, resource: str | None = None) -> Callable[[F], F]:
    """Declare the permission a route needs (put it under the route decorator); ``resource``
    names the path parameter holding the model or dataset name it acts on (scoped grants)."""
    check_permission(permission)

    def mark(fn: F) -> F:
        setattr(fn, _ATTR, permission)
        if resource is not None:
            setattr(fn, _RESOURCE_ATTR, resource)
        return fn

    return mark


def permission_of(obj: object) -> str | None:
    """The permission declared on a function (by :func:`requires` or ``@endpoint``)."""
    value = getattr(obj, _ATTR, None)
    return value if isinstance(value, str) else None


def resource_of(obj: object) -> str | None:
    """The argument naming the resource an operation acts on (``name``, ``report.model``), or
    None for an operation that names no model or dataset."""
    value = getattr(obj, _RESOURCE_ATTR, None)
    return value if isinstance(value, str) else None


def resource_value(arguments: Mapping[str, Any], path: str) -> str | None:
    """The value of ``path`` (``name`` or ``report.model``) among a call's ``arguments``."""
    head, _, rest = path.partition(".")
    value: Any = arguments.get(head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return None if value is None else str(value)


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
              resource: str | None = None, *, somewhere: bool = False) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may do ``operation`` (which needs
    ``permission``) on ``resource``; ``somewhere``: on any names (the resource is checked
    later)."""
    if principal.can_somewhere(permission) if somewhere else principal.can(permission, resource):
        return
    held = sorted(principal.permissions, key=PERMISSIONS.index)
    on = f" on {resource!r}" if resource is not None else ""
    needed = " or ".join(repr(p) for p in permission.split("|"))
    raise Forbidden(
        f"{operation} needs permission {needed}{on}. {principal.name!r} has role "
        f"{principal.role} (permissions: {', '.join(held) or 'none'}).",
    )
