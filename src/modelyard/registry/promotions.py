"""Four-eyes promotion: an alias that moves only when a second person approves.

    yard.models.require_approval("loans", "production")        # admin: a setting per alias
    req = yard.models.promote("loans", "production", 7)         # alice (editor): a request
    yard.models.approve(req.id)                                  # bob (approver): the alias moves
    yard.models.refuse(req.id, "the slice for region=north fell")

A request is bound to the version's digest and to its latest validation report when it was
made. Approving it moves the alias in the same transaction (with the validation gate of a
protected alias, and the approver recorded in the alias's audit record); it is refused with
:class:`~modelyard.errors.ApprovalRequired` when the version's digest changed or a newer
validation report of the version failed since, and with :class:`~modelyard.errors.Forbidden`
when the approver is the requester (never the same person) or lacks ``approve`` on the model.
Requests, approvals and refusals are audit records (``promotion.request``,
``promotion.approve``, ``promotion.refuse``).

:func:`guard_alias` runs inside every alias move of the registry: a four-eyes alias moves only
through an approved request, and any protected alias needs the ``approve`` permission.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from ..access import acting_principal
from ..errors import AlreadyExists, ApprovalRequired, Forbidden, InvalidParameter, NotFound
from ..ids import new_id
from ..store import audit
from ..store.base import DomainStore
from ..store.schema.promotions import FourEyesAliasRow, PromotionRequestRow
from ..store.schema.registry import AliasRow, ModelVersionRow
from ..transport import endpoint
from .refs import check_alias, check_model_name, check_version

__all__ = ["FourEyesAlias", "PromotionRequest", "PromotionStore", "guard_alias"]

_FOUR_EYES = FourEyesAliasRow.__table__
_REQUESTS = PromotionRequestRow.__table__
_VERSIONS = ModelVersionRow.__table__
_ALIASES = AliasRow.__table__

State = Literal["pending", "approved", "refused"]


class FourEyesAlias(BaseModel):
    """``model@alias`` moves only through an approved promotion request."""

    model: str
    alias: str
    created_at: datetime
    created_by: str | None = None


class PromotionRequest(BaseModel):
    """A request to point ``model@alias`` at ``version``, and its decision."""

    id: str
    model: str
    alias: str
    version: int
    digest: str
    report_id: str | None = None
    report_status: str | None = None
    reason: str | None = None
    override: bool = False
    state: State
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None


def _request(r: Any) -> PromotionRequest:
    return PromotionRequest(
        id=r.id, model=r.model, alias=r.alias, version=r.version, digest=r.digest,
        report_id=r.report_id, report_status=r.report_status, reason=r.reason,
        override=r.override, state=r.state, requested_by=r.requested_by,
        requested_at=r.requested_at, decided_by=r.decided_by, decided_at=r.decided_at,
        note=r.note)


def needs_four_eyes(conn: Connection, model: str, alias: str) -> bool:
    return conn.execute(sa.select(_FOUR_EYES.c.alias).where(
        _FOUR_EYES.c.model == model, _FOUR_EYES.c.alias == alias)).first() is not None


def guard_alias(conn: Connection, *, model: str, alias: str, approved: bool,
                deleting: bool = False) -> None:
    """Inside an alias move: refuse moving a four-eyes alias but through an approved request
    (:class:`ApprovalRequired`), a protected alias by someone without ``approve`` on the model
    and any other alias by someone without ``write`` on it (:class:`Forbidden`)."""
    from ..validation.gate import is_protected

    if approved:  # approve() checked the approver
        return
    if needs_four_eyes(conn, model, alias) and deleting:
        raise ApprovalRequired(
            f"Alias {alias!r} of model {model!r} moves only with a second person's approval, "
            "and a promotion request cannot delete it. An admin can drop the requirement first "
            f"(yard.backend.promotions.drop_approval({model!r}, {alias!r}, reason=…)).",
            field="alias")
    if needs_four_eyes(conn, model, alias):
        raise ApprovalRequired(
            f"Alias {alias!r} of model {model!r} moves only with a second person's approval. "
            f"Request it (modelyard models promote {model} {alias} VERSION, or "
            "yard.models.promote) and have an approver approve it.", field="alias")
    protected = is_protected(conn, model, alias)
    needed = "approve" if protected else "write"  # the route lets either in
    principal = acting_principal()
    if not principal.can(needed, model):
        what = "the protected alias" if protected else "alias"
        raise Forbidden(
            f"Moving {what} {model}@{alias} needs permission {needed!r} on {model!r}. "
            f"{principal.name!r} has role {principal.role}.")


class PromotionStore(DomainStore):
    """Four-eyes aliases and promotion requests over the database."""

    # ---- the setting ----------------------------------------------------------------------
    @endpoint("PUT", "/models/{model}/four-eyes/{alias}", permission="admin", resource="model")
    def require_approval(self, model: str, alias: str) -> FourEyesAlias:
        """From now on ``model@alias`` moves only through an approved promotion request.
        Asking again changes nothing."""
        check_model_name(model, field="model")
        check_alias(alias)
        now = self.clock.now()
        with self.db.write() as conn:
            row = conn.execute(sa.select(_FOUR_EYES).where(
                _FOUR_EYES.c.model == model, _FOUR_EYES.c.alias == alias)).first()
            if row is not None:
                return FourEyesAlias(model=model, alias=alias, created_at=row.created_at,
                                     created_by=row.created_by)
            conn.execute(_FOUR_EYES.insert().values(model=model, alias=alias, created_at=now,
                                                    created_by=self.actor))
            audit.append(conn, action="alias.four_eyes", target=f"alias:{model}@{alias}",
                         after={"required": True})
        return FourEyesAlias(model=model, alias=alias, created_at=now, created_by=self.actor)

    @endpoint("DELETE", "/models/{model}/four-eyes/{alias}", permission="admin",
              resource="model")
    def drop_approval(self, model: str, alias: str, reason: str) -> list[FourEyesAlias]:
        """Let ``model@alias`` move without a second person again (needs a reason, recorded);
        returns the model's remaining four-eyes aliases."""
        if not reason or not reason.strip():
            raise InvalidParameter(f"Dropping four-eyes on {model}@{alias} must give a reason. "
                                   f"Got {reason!r} instead.", field="reason")
        with self.db.write() as conn:
            done = conn.execute(_FOUR_EYES.delete().where(
                _FOUR_EYES.c.model == model, _FOUR_EYES.c.alias == alias))
            if not done.rowcount:
                raise NotFound(f"Alias {model}@{alias} does not need approval.", field="alias")
            audit.append(conn, action="alias.four_eyes", target=f"alias:{model}@{alias}",
                         after={"required": False, "reason": reason})
        return self.four_eyes(model)

    @endpoint("GET", "/models/{model}/four-eyes", permission="read", resource="model")
    def four_eyes(self, model: str) -> list[FourEyesAlias]:
        """The aliases of ``model`` that move only through an approved request."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_FOUR_EYES).where(_FOUR_EYES.c.model == model)
                                .order_by(_FOUR_EYES.c.alias)).all()
        return [FourEyesAlias(model=r.model, alias=r.alias, created_at=r.created_at,
                              created_by=r.created_by) for r in rows]

    # ---- requests -------------------------------------------------------------------------
    @endpoint("POST", "/models/{model}/promotions", status_code=201, permission="write",
              resource="model")
    def request(self, model: str, alias: str, version: int, reason: str | None = None,
                override: bool = False) -> PromotionRequest:
        """Ask for ``model@alias`` to point at ``version``; bound to the version's digest and
        its latest validation report now. ``override`` (with a ``reason``) asks to pass the
        validation gate of a protected alias without a passing report."""
        from ..validation.gate import latest_report_row

        check_model_name(model, field="model")
        check_alias(alias)
        check_version(version)
        now = self.clock.now()
        requester = self.actor
        with self.db.write() as conn:
            row = conn.execute(sa.select(_VERSIONS.c.digest).where(
                _VERSIONS.c.name == model, _VERSIONS.c.version == version)).first()
            if row is None:
                raise NotFound(f"Model {model!r} has no version {version}.", field="version")
            current = conn.execute(sa.select(_ALIASES.c.version).where(
                _ALIASES.c.name == model, _ALIASES.c.alias == alias)).scalar()
            if current == version:
                raise InvalidParameter(f"{model}@{alias} already points at version {version}.",
                                       field="version")
            pending = conn.execute(sa.select(_REQUESTS.c.id).where(
                _REQUESTS.c.model == model, _REQUESTS.c.alias == alias,
                _REQUESTS.c.version == version, _REQUESTS.c.state == "pending")).scalar()
            if pending is not None:
                raise AlreadyExists(f"Request {pending} to point {model}@{alias} at version "
                                    f"{version} is already pending.", field="version")
            report = latest_report_row(conn, model, version)
            made = PromotionRequest(
                id=new_id(), model=model, alias=alias, version=version, digest=row.digest,
                report_id=None if report is None else report.id,
                report_status=None if report is None else report.status, reason=reason,
                override=override, state="pending", requested_by=requester, requested_at=now)
            conn.execute(_REQUESTS.insert().values(**made.model_dump()))
            audit.append(conn, action="promotion.request", target=f"alias:{model}@{alias}",
                         after={"request": made.id, "version": version, "digest": row.digest,
                                "report": made.report_id, "report_status": made.report_status,
                                "reason": reason, "override": override})
        return made

    @endpoint("GET", "/promotions", permission="read")
    def list(self, model: str | None = None, state: str | None = None,
             limit: int = 100) -> list[PromotionRequest]:
        """Promotion requests, newest first (of one ``model``; in one ``state``: pending,
        approved, refused)."""
        stmt = sa.select(_REQUESTS).order_by(_REQUESTS.c.requested_at.desc(),
                                             _REQUESTS.c.id.desc()).limit(limit)
        if model is not None:
            stmt = stmt.where(_REQUESTS.c.model == model)
        if state is not None:
            if state not in ("pending", "approved", "refused"):
                raise InvalidParameter("state must be pending, approved or refused. Got "
                                       f"{state!r} instead.", field="state")
            stmt = stmt.where(_REQUESTS.c.state == state)
        with self.db.read() as conn:
            return [_request(r) for r in conn.execute(stmt).all()]

    @endpoint("GET", "/promotions/{request_id}", permission="read")
    def get(self, request_id: str) -> PromotionRequest:
        """One promotion request."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_REQUESTS).where(_REQUESTS.c.id == request_id)).first()
        if row is None:
            raise NotFound(f"No promotion request with id {request_id!r}.", field="request_id")
        return _request(row)

    @endpoint("POST", "/models/{model}/promotions/{request_id}/approve", permission="approve",
              resource="model")
    def approve(self, model: str, request_id: str, note: str | None = None) -> PromotionRequest:
        """Approve a pending request: the alias moves now, in the same transaction. Refused
        for the requester, and when the version's digest changed or a newer validation report
        of it failed since the request."""
        from ..validation.gate import latest_report_row
        from .store import RegistryStore

        registry = RegistryStore(self.db, self.artifacts, self.settings, self.clock)
        approver = acting_principal()
        now = self.clock.now()
        with self.db.write() as conn:
            row = self._pending(conn, model, request_id, approver.name, "approve")
            digest = conn.execute(sa.select(_VERSIONS.c.digest).where(
                _VERSIONS.c.name == model, _VERSIONS.c.version == row.version)).scalar()
            if digest != row.digest:
                raise ApprovalRequired(
                    f"Request {request_id} cannot be approved: the digest of {model}/"
                    f"{row.version} is now {digest} and the request was made for {row.digest}. "
                    "Refuse it and request the promotion again.", field="request_id")
            report = latest_report_row(conn, model, row.version)
            if report is not None and report.id != row.report_id and report.status != "passed":
                raise ApprovalRequired(
                    f"Request {request_id} cannot be approved: a newer validation report of "
                    f"{model}/{row.version} ({report.id}) failed after the request was made "
                    f"(it was bound to {row.report_id or 'no report'}). Refuse it, or validate "
                    "again and request the promotion again.", field="request_id")
            why = f"promotion {request_id} requested by {row.requested_by}, approved by " \
                  f"{approver.name}" + (f": {row.reason}" if row.reason else "")
            registry._move_alias(conn, model, row.alias, row.version, reason=why,
                                override=row.override, approved_by=approver.name)
            self._decide(conn, row, "approved", approver.name, now, note)
        return self.get(request_id)

    @endpoint("POST", "/models/{model}/promotions/{request_id}/refuse", permission="approve",
              resource="model")
    def refuse(self, model: str, request_id: str, note: str) -> PromotionRequest:
        """Refuse a pending request (with a note saying why); the alias stays where it is."""
        if not note or not note.strip():
            raise InvalidParameter(f"Refusing request {request_id} must say why. Got {note!r} "
                                   "instead.", field="note")
        refuser = acting_principal()
        now = self.clock.now()
        with self.db.write() as conn:
            row = self._pending(conn, model, request_id, None, "refuse")
            self._decide(conn, row, "refused", refuser.name, now, note)
        return self.get(request_id)

    # ---- helpers --------------------------------------------------------------------------
    @staticmethod
    def _pending(conn: Connection, model: str, request_id: str, approver: str | None,
                 what: str) -> Any:
        row = conn.execute(sa.select(_REQUESTS).where(
            _REQUESTS.c.id == request_id, _REQUESTS.c.model == model).with_for_update()).first()
        if row is None:
            raise NotFound(f"Model {model!r} has no promotion request {request_id!r}.",
                           field="request_id")
        if row.state != "pending":
            raise InvalidParameter(
                f"Request {request_id} was already {row.state} by {row.decided_by}; only a "
                f"pending request can be {what}d.", field="request_id")
        if approver is not None and approver == row.requested_by:
            raise Forbidden(
                f"Request {request_id} was made by {approver!r}: a second person must approve "
                "it (four eyes). Ask another approver.")
        return row

    @staticmethod
    def _decide(conn: Connection, row: Any, state: str, by: str, now: datetime,
                note: str | None) -> None:
        conn.execute(_REQUESTS.update().where(_REQUESTS.c.id == row.id).values(
            state=state, decided_by=by, decided_at=now, note=note))
        action = "promotion.approve" if state == "approved" else "promotion.refuse"
        audit.append(conn, action=action, target=f"alias:{row.model}@{row.alias}",
                     after={"request": row.id, "version": row.version,
                            "requested_by": row.requested_by, "note": note})
