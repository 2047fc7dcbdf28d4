"""API tokens of ``modelyard server`` and ``modelyard serve``: one user may hold several;
each is random, shown once, stored only as a sha256 hash, may expire, and can be revoked.

    store = yard.backend.auth                          # TokenStore (name "auth" in STORE_CLASSES)
    plaintext = store.create("alice", expires="30d")   # "my_…": shown once, never stored
    store.verify(plaintext)                            # Principal(name="alice", grants=(…))
    store.revoke("alice")                              # by the token's name

What a token may do is what its user may do (:mod:`modelyard.governance.users`). ``verify``
reads the database on every call (no cache), so a revoked or expired token, a disabled user or a
role taken back counts from the next request on, on every server. It records when a token was
last used (to the minute: at most one write a minute per token). Creating and revoking a token
are audit records.

``create(user, role=…)`` is the first step on a new server: it adds the user with that role
when there is no such user yet (``modelyard tokens create --user alice --role admin``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel

from ..access import ROLES, Grant, Principal, Role, check_role, current_principal
from ..errors import AlreadyExists, InvalidParameter, NotFound, Unauthorized
from ..ids import new_id
from ..store import audit
from ..store.base import DomainStore
from ..store.names import check_name
from ..store.schema.auth import ApiTokenRow, UserRow
from ..transport import endpoint
from .users import add_user, check_user_name, grants_of

__all__ = [
    "LAST_USED_RESOLUTION",
    "ROLES",
    "TOKEN_PREFIX",
    "Principal",
    "Role",
    "TokenInfo",
    "TokenStore",
    "current_principal",
    "hash_token",
    "parse_expiry",
]

log = logging.getLogger("modelyard.tokens")
TOKEN_PREFIX = "my_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
_TOKENS = ApiTokenRow.__table__
_USERS = UserRow.__table__
_DURATION = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TokenInfo(BaseModel):
    """A token as listed: everything but the secret (which is never stored)."""

    id: str
    name: str
    user: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiry(expires: str, now: datetime) -> datetime:
    """When a token given ``expires`` (``30d``, ``12h``, ``90m``, ``2w``, or an ISO 8601
    time) stops working."""
    text = expires.strip()
    match = _DURATION.fullmatch(text)
    if match is not None and int(match.group(1)) > 0:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or when <= now:
        raise InvalidParameter(
            "expires must be a duration such as 30d, 12h, 90m or 2w, or a future ISO 8601 time "
            f"with a time zone. Got {expires!r} instead.", field="expires")
    return when


def _info(row: sa.Row) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, user=row.user_name, created_at=row.created_at,
                     expires_at=row.expires_at, last_used_at=row.last_used_at,
                     revoked_at=row.revoked_at)


class TokenStore(DomainStore):
    """Bearer tokens over the database. ``verify`` is deliberately not an endpoint."""

    @endpoint("POST", "/tokens", status_code=201, permission="admin")
    def create(self, user: str, role: str | None = None, expires: str | None = None,
               name: str | None = None) -> str:
        """Create a token of ``user`` and return its plaintext: shown once, stored only as a
        hash. ``expires``: ``30d``, ``12h``, ``2w`` … or an ISO time (default: never).
        ``name`` (default: the user's name) must be free among active tokens. With ``role``, a
        user that does not exist yet is added holding that role."""
        check_user_name(user)
        name = check_name(name if name is not None else user, field="name",
                          what="A token name")
        wanted = check_role(role) if role is not None else None
        now = self.clock.now()
        expires_at = parse_expiry(expires, now) if expires is not None else None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as conn:
            active = conn.execute(sa.select(_TOKENS.c.id).where(
                _TOKENS.c.name == name, _TOKENS.c.revoked_at.is_(None))).first()
            if active is not None:
                raise AlreadyExists(
                    f"An active token named {name!r} already exists. Revoke it first or "
                    "choose another name.",
                    field="name",
                )
            exists = conn.execute(sa.select(_USERS.c.name).where(_USERS.c.name == user)).first()
            if exists is None:
                if wanted is None:
                    raise NotFound(f"No user named {user!r}. Add one first ('modelyard users "
                                   f"add {user} --role viewer') or give role=.", field="user")
                add_user(conn, user, None, [Grant(role=wanted)],  # type: ignore[arg-type]
                         now, self.actor)
            elif wanted is not None and Grant(role=wanted) not in grants_of(conn, user):  # type: ignore[arg-type]
                raise InvalidParameter(
                    f"User {user!r} exists and does not hold role {wanted}; grant it first "
                    f"('modelyard users grant {user} {wanted}') or leave role out.",
                    field="role")
            token_id = new_id()
            conn.execute(_TOKENS.insert().values(
                id=token_id, name=name, user_name=user, token_hash=hash_token(token),
                created_at=now, expires_at=expires_at, last_used_at=None, revoked_at=None))
            audit.append(conn, action="token.create", target=f"token:{name}",
                         after={"id": token_id, "user": user, "expires_at": expires_at})
        return token

    @endpoint("GET", "/tokens", permission="admin")
    def list(self, include_revoked: bool = False, user: str | None = None) -> list[TokenInfo]:
        """The tokens (active ones unless ``include_revoked``; of one ``user``), oldest first."""
        query = sa.select(_TOKENS).order_by(_TOKENS.c.created_at, _TOKENS.c.id)
        if not include_revoked:
            query = query.where(_TOKENS.c.revoked_at.is_(None))
        if user is not None:
            query = query.where(_TOKENS.c.user_name == user)
        with self.db.read() as conn:
            return [_info(row) for row in conn.execute(query)]

    @endpoint("DELETE", "/tokens/{name}", permission="admin")
    def revoke(self, name: str) -> TokenInfo:
        """Revoke the active token called ``name``; it stops working at once."""
        with self.db.write() as conn:
            row = conn.execute(sa.select(_TOKENS).where(
                _TOKENS.c.name == name, _TOKENS.c.revoked_at.is_(None))).first()
            if row is None:
                raise NotFound(f"No active token named {name!r}.", field="name")
            now = self.clock.now()
            conn.execute(_TOKENS.update().where(_TOKENS.c.id == row.id).values(revoked_at=now))
            audit.append(conn, action="token.revoke", target=f"token:{name}",
                         before={"id": row.id, "user": row.user_name})
            return _info(row).model_copy(update={"revoked_at": now})

    def verify(self, token: str | None) -> Principal:
        """The principal of an active, unexpired token of an enabled user; :class:`Unauthorized`
        for anything else. Reads the database every time (no cache)."""
        if not token or not token.startswith(TOKEN_PREFIX):
            raise Unauthorized("A valid bearer token is required (Authorization: Bearer my_…).")
        digest = hash_token(token)
        now = self.clock.now()
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_TOKENS.c.id, _TOKENS.c.token_hash, _TOKENS.c.user_name,
                          _TOKENS.c.expires_at, _TOKENS.c.last_used_at, _USERS.c.disabled)
                .join(_USERS, _USERS.c.name == _TOKENS.c.user_name)
                .where(_TOKENS.c.token_hash == digest, _TOKENS.c.revoked_at.is_(None))
            ).first()
            if row is None or not hmac.compare_digest(row.token_hash, digest):
                raise Unauthorized("The bearer token is unknown or revoked.")
            if row.expires_at is not None and row.expires_at <= now:
                raise Unauthorized("The bearer token expired; ask an admin for a new one "
                                   "(modelyard tokens create).")
            if row.disabled:
                raise Unauthorized(f"User {row.user_name!r} is disabled.")
            grants = tuple(grants_of(conn, row.user_name))
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            try:  # best effort: a busy database must not refuse the request
                with self.db.write() as conn:  # no audit record: a use changes no state
                    conn.execute(_TOKENS.update().where(_TOKENS.c.id == row.id)
                                 .values(last_used_at=now))
            except Exception:
                log.warning("could not record the last use of token %s", row.id, exc_info=True)
        return Principal(name=row.user_name, grants=grants, kind="token")
