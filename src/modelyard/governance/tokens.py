"""API tokens of ``modelyard server``: created once, stored only as a sha256 hash.

    store = yard.backend.auth                       # TokenStore (name "auth" in STORE_CLASSES)
    plaintext = store.create("ci", role="writer")   # "my_…": shown once, never stored
    store.verify(plaintext)                         # Principal(name="ci", role="writer")
    store.revoke("ci")

A token's role decides which permissions it holds (``modelyard.access.ROLE_PERMISSIONS``):
``reader`` reads, ``writer`` also writes, ``admin`` may do everything, managing tokens
included. ``verify`` reads the database on every call, so a revoked token fails on the next
request. Creating and revoking a token are audit records.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel

from ..access import ROLES, Principal, Role, current_principal
from ..errors import AlreadyExists, InvalidParameter, NotFound, Unauthorized
from ..ids import new_id
from ..store import audit
from ..store.base import DomainStore
from ..store.names import check_name
from ..store.schema.auth import ApiTokenRow
from ..transport import endpoint

__all__ = [
    "ROLES",
    "TOKEN_PREFIX",
    "Principal",
    "Role",
    "TokenInfo",
    "TokenStore",
    "current_principal",
    "hash_token",
]

TOKEN_PREFIX = "my_"


class TokenInfo(BaseModel):
    """A token as listed: everything but the secret (which is never stored)."""

    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidParameter(
            f"role must be one of {', '.join(ROLES)}. Got {role!r} instead.", field="role"
        )
    return role


def _check_name(name: str) -> str:
    return check_name(name, field="name", what="A token name")


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        role=row.role,  # type: ignore[arg-type]
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class TokenStore(DomainStore):
    """Bearer tokens over the database. ``verify`` is deliberately not an endpoint."""

    @endpoint("POST", "/tokens", status_code=201, permission="admin")
    def create(self, name: str, role: Role = "reader") -> str:
        """Create a token and return its plaintext: shown once, stored only as a hash."""
        _check_name(name)
        _check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as session:
            active = session.scalar(
                sa.select(ApiTokenRow.id).where(
                    ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None)
                )
            )
            if active is not None:
                raise AlreadyExists(
                    f"An active token named {name!r} already exists. Revoke it first or "
                    "choose another name.",
                    field="name",
                )
            row = ApiTokenRow(
                id=new_id(),
                name=name,
                role=role,
                token_hash=hash_token(token),
                created_at=self.clock.now(),
                revoked_at=None,
            )
            session.add(row)
            audit.append(session, action="token.create", target=f"token:{name}",
                         after={"id": row.id, "role": role})
        return token

    @endpoint("GET", "/tokens", permission="admin")
    def list(self, include_revoked: bool = False) -> list[TokenInfo]:
        """The tokens (active ones unless ``include_revoked``), oldest first."""
        query = sa.select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.id)
        if not include_revoked:
            query = query.where(ApiTokenRow.revoked_at.is_(None))
        with self.db.session() as session:
            return [_info(row) for row in session.scalars(query)]

    @endpoint("DELETE", "/tokens/{name}", permission="admin")
    def revoke(self, name: str) -> TokenInfo:
        """Revoke the active token called ``name``; it stops working at once."""
        with self.db.session() as session:
            row = session.scalars(
                sa.select(ApiTokenRow).where(
                    ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None)
                )
            ).first()
            if row is None:
                raise NotFound(f"No active token named {name!r}.", field="name")
            row.revoked_at = self.clock.now()
            audit.append(session, action="token.revoke", target=f"token:{name}",
                         before={"id": row.id, "role": row.role})
            return _info(row)

    def verify(self, token: str | None) -> Principal:
        """The principal of an active token; :class:`Unauthorized` for anything else."""
        if not token or not token.startswith(TOKEN_PREFIX):
            raise Unauthorized("A valid bearer token is required (Authorization: Bearer my_…).")
        digest = hash_token(token)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(ApiTokenRow.token_hash, ApiTokenRow.name, ApiTokenRow.role).where(
                    ApiTokenRow.token_hash == digest, ApiTokenRow.revoked_at.is_(None)
                )
            ).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise Unauthorized("The bearer token is unknown or revoked.")
        return Principal(name=row.name, role=row.role, kind="token")
