"""The gate on protected aliases, applied inside the registry's alias transaction.

``RegistryStore.set_alias`` / ``delete_alias`` call :func:`guard_alias_move` in the same
transaction as the move, so a protected alias cannot point at a version whose latest report
did not pass, whatever the path (SDK, REST, CLI, a canary promotion, the scheduler). An
override (``override=True`` with a ``reason``) is allowed and recorded in
``validation_overrides`` in that transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import InvalidParameter, ValidationRequired
from ..store import audit
from ..store.schema.validation import AliasOverrideRow, ProtectedAliasRow, ValidationReportRow

__all__ = ["guard_alias_move", "is_protected", "latest_report_row"]

_PROTECTED = ProtectedAliasRow.__table__
_REPORTS = ValidationReportRow.__table__
_OVERRIDES = AliasOverrideRow.__table__


def is_protected(conn: Connection, model: str, alias: str) -> bool:
    return conn.execute(sa.select(_PROTECTED.c.alias).where(
        _PROTECTED.c.model == model, _PROTECTED.c.alias == alias)).first() is not None


def latest_report_row(conn: Connection, model: str, version: int) -> sa.Row | None:
    return conn.execute(
        sa.select(_REPORTS).where(_REPORTS.c.model == model, _REPORTS.c.version == version)
        .order_by(_REPORTS.c.created_at.desc(), _REPORTS.c.id.desc()).limit(1)
    ).first()


def guard_alias_move(
    conn: Connection,
    *,
    model: str,
    alias: str,
    version: int | None,
    override: bool,
    reason: str | None,
    moved_by: str | None,
    now: datetime,
) -> int | None:
    """Refuse (ValidationRequired) a move of a protected alias to ``version`` (None: a
    deletion) unless that version's latest report passed or ``override`` is set with a
    ``reason``; returns the id of the recorded override, if one was needed."""
    if not is_protected(conn, model, alias):
        return None
    report = latest_report_row(conn, model, version) if version is not None else None
    if report is not None and report.status == "passed":
        return None
    if version is None:
        why = f"Alias {alias!r} of model {model!r} is protected: deleting it"
    elif report is None:
        why = (f"Alias {alias!r} of model {model!r} is protected: moving it to version "
               f"{version} needs a passing validation report, and {model}/{version} has none")
    else:
        failed = [c["name"] for c in report.checks if c.get("status") in ("failed", "error")]
        why = (f"Alias {alias!r} of model {model!r} is protected: moving it to version "
               f"{version} needs a passing validation report, and the latest report of "
               f"{model}/{version} ({report.id}) failed: {', '.join(failed) or 'see it'}")
    if not override:
        raise ValidationRequired(
            f"{why}. Expected a passing report (modelyard validate {model}/{version}) or an "
            "override with a reason. Got neither instead." if version is not None else
            f"{why} needs an override with a reason.",
            field="version",
        )
    if reason is None or not reason.strip():
        raise InvalidParameter(
            f"An override of the protected alias {model}@{alias} must give a reason. Got "
            f"{reason!r} instead.", field="reason")
    override_id = int(conn.execute(_OVERRIDES.insert().values(
        model=model, alias=alias, version=version,
        report_id=None if report is None else report.id, reason=reason, moved_by=moved_by,
        at=now,
    ).returning(_OVERRIDES.c.id)).scalar_one())
    audit.append(conn, action="alias.override", target=f"alias:{model}@{alias}", after={
        "version": version, "report": None if report is None else report.id, "reason": reason})
    return override_id
