"""Users of ``modelyard server`` and the roles they hold.

    users = yard.backend.users                          # UserStore (name "users" in STORE_CLASSES)
    users.add("alice", display_name="Alice", roles=["editor"])
    users.grant("bob", "editor", pattern="loans*")      # editor of the models/datasets loans*
    users.grant("carol", "approver")
    users.disable("bob")                                # every token of bob fails at once

A user calls the servers with one of their tokens (:mod:`modelyard.governance.tokens`); what
they may do is the union of their grants (:class:`~modelyard.access.Grant`, the table in
:mod:`modelyard.access`). Everything here needs the ``admin`` permission, and every change is
an audit record (``user.add``, ``user.disable``, ``user.enable``, ``role.grant``,
``role.revoke``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from ..access import Grant, check_pattern, check_role
from ..errors import AlreadyExists, NotFound
from ..store import audit
from ..store.base import DomainStore
from ..store.names import check_label, check_name
from ..store.schema.auth import UserRoleRow, UserRow
from ..transport import endpoint

__all__ = ["User", "UserStore", "add_user", "check_user_name", "grant_role", "grants_of",
           "parse_grant"]

_USERS = UserRow.__table__
_ROLES = UserRoleRow.__table__


class User(BaseModel):
    """A user as listed: name, display name, whether disabled, and the roles held."""

    name: str
    display_name: str | None = None
    disabled: bool = False
    grants: list[Grant] = []
    created_at: datetime
    created_by: str | None = None

    @property
    def roles(self) -> str:
        return ", ".join(str(g) for g in self.grants) or "none"


def check_user_name(name: object) -> str:
    return check_name(name, field="name", what="A user name")


def parse_grant(text: str, *, field: str = "roles") -> Grant:
    """``editor`` or ``editor:loans*`` (a role scoped to a name pattern) as a grant."""
    role, _, pattern = str(text).partition(":")
    return Grant(role=check_role(role.strip(), field=field),  # type: ignore[arg-type]
                 pattern=check_pattern(pattern or "*", field=field))


def grants_of(conn: Connection, name: str) -> list[Grant]:
    """The roles ``name`` holds, in the order they were granted."""
    rows = conn.execute(sa.select(_ROLES.c.role, _ROLES.c.pattern)
                        .where(_ROLES.c.user_name == name).order_by(_ROLES.c.id)).all()
    return [Grant(role=r.role, pattern=r.pattern) for r in rows]


def add_user(conn: Connection, name: str, display_name: str | None, grants: list[Grant],
             now: datetime, by: str) -> None:
    """Insert a user with ``grants`` (audit records included), inside the caller's write."""
    conn.execute(_USERS.insert().values(name=name, display_name=display_name, disabled=False,
                                        created_at=now, created_by=by))
    audit.append(conn, action="user.add", target=f"user:{name}",
                 after={"display_name": display_name})
    for grant in grants:
        grant_role(conn, name, grant, now, by)


def grant_role(conn: Connection, name: str, grant: Grant, now: datetime, by: str) -> bool:
    """Grant ``grant`` to ``name`` (False when already held), inside the caller's write."""
    held = conn.execute(sa.select(_ROLES.c.id).where(
        _ROLES.c.user_name == name, _ROLES.c.role == grant.role,
        _ROLES.c.pattern == grant.pattern)).first()
    if held is not None:
        return False
    conn.execute(_ROLES.insert().values(user_name=name, role=grant.role, pattern=grant.pattern,
                                        created_at=now, created_by=by))
    audit.append(conn, action="role.grant", target=f"user:{name}",
                 after={"role": grant.role, "pattern": grant.pattern})
    return True


class UserStore(DomainStore):
    """Users and their roles over the database (admin only)."""

    @endpoint("POST", "/users", status_code=201, permission="admin")
    def add(self, name: str, display_name: str | None = None,
            roles: list[str] | None = None) -> User:
        """Add a user holding ``roles`` (``viewer``, ``editor``, ``approver``, ``admin``, each
        optionally ``role:pattern`` such as ``editor:loans*``)."""
        check_user_name(name)
        if display_name is not None:
            check_label(display_name, field="display_name")
        grants = [parse_grant(r) for r in roles or []]
        with self.db.write() as conn:
            if self._row(conn, name) is not None:
                raise AlreadyExists(f"A user named {name!r} already exists.", field="name")
            add_user(conn, name, display_name, grants, self.clock.now(), self.actor)
        return self.get(name)

    @endpoint("GET", "/users", permission="admin")
    def list(self, include_disabled: bool = True) -> list[User]:
        """The users in name order, with their roles."""
        with self.db.read() as conn:
            query = sa.select(_USERS).order_by(_USERS.c.name)
            if not include_disabled:
                query = query.where(_USERS.c.disabled.is_(False))
            rows = conn.execute(query).all()
            held: dict[str, list[Grant]] = {}
            for r in conn.execute(sa.select(_ROLES).order_by(_ROLES.c.id)):
                held.setdefault(r.user_name, []).append(Grant(role=r.role, pattern=r.pattern))
        return [self._user(r, held.get(r.name, [])) for r in rows]

    @endpoint("GET", "/users/{name}", permission="admin")
    def get(self, name: str) -> User:
        """One user with their roles."""
        with self.db.read() as conn:
            row = self._require(conn, name)
            return self._user(row, grants_of(conn, name))

    @endpoint("POST", "/users/{name}/disable", permission="admin")
    def disable(self, name: str) -> User:
        """Disable a user: every token of theirs fails from the next request on."""
        return self._set_disabled(name, True)

    @endpoint("POST", "/users/{name}/enable", permission="admin")
    def enable(self, name: str) -> User:
        """Enable a disabled user again (their tokens that are not revoked or expired work)."""
        return self._set_disabled(name, False)

    @endpoint("POST", "/users/{name}/roles", permission="admin")
    def grant(self, name: str, role: str, pattern: str = "*") -> User:
        """Grant ``role`` on the model and dataset names matching ``pattern`` (``*``: all).
        Granting a role already held changes nothing."""
        grant = Grant(role=check_role(role), pattern=check_pattern(pattern))  # type: ignore[arg-type]
        with self.db.write() as conn:
            self._require(conn, name)
            grant_role(conn, name, grant, self.clock.now(), self.actor)
        return self.get(name)

    @endpoint("DELETE", "/users/{name}/roles/{role}", permission="admin")
    def revoke_role(self, name: str, role: str, pattern: str = "*") -> User:
        """Take back ``role`` (on ``pattern``) from a user; it applies from the next request."""
        role = check_role(role)
        with self.db.write() as conn:
            self._require(conn, name)
            done = conn.execute(_ROLES.delete().where(
                _ROLES.c.user_name == name, _ROLES.c.role == role, _ROLES.c.pattern == pattern))
            if not done.rowcount:
                held = ", ".join(str(g) for g in grants_of(conn, name)) or "none"
                raise NotFound(f"User {name!r} does not hold role {role} on {pattern!r}; "
                               f"their roles are {held}.", field="role")
            audit.append(conn, action="role.revoke", target=f"user:{name}",
                         before={"role": role, "pattern": pattern})
        return self.get(name)

    # ---- helpers ---------------------------------------------------------------------------
    def _set_disabled(self, name: str, disabled: bool) -> User:
        with self.db.write() as conn:
            row = self._require(conn, name)
            if row.disabled != disabled:
                conn.execute(_USERS.update().where(_USERS.c.name == name)
                             .values(disabled=disabled))
                audit.append(conn, action="user.disable" if disabled else "user.enable",
                             target=f"user:{name}")
        return self.get(name)

    @staticmethod
    def _row(conn: Connection, name: str) -> sa.Row | None:
        return conn.execute(sa.select(_USERS).where(_USERS.c.name == name)).first()

    def _require(self, conn: Connection, name: str) -> sa.Row:
        row = self._row(conn, name)
        if row is None:
            raise NotFound(f"No user named {name!r}; add one with 'modelyard users add "
                           f"{name} --role viewer'.", field="name")
        return row

    @staticmethod
    def _user(row: sa.Row, grants: list[Grant]) -> User:
        return User(name=row.name, display_name=row.display_name, disabled=row.disabled,
                    grants=grants, created_at=row.created_at, created_by=row.created_by)


