"""The validation domain over the database: suites (versioned), immutable reports, protected
aliases and overrides.

Each method marked with :func:`~modelyard.transport.endpoint` is also a REST route of
``modelyard server`` (under ``/api/v1/validation``) and a method of the remote client. Reports
are only ever inserted: there is no route or method that changes or deletes one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import InvalidParameter, NotFound
from ..ids import new_id
from ..registry.refs import check_alias, check_model_name
from ..store import audit
from ..store.base import DomainStore
from ..store.schema.registry import ModelVersionRow
from ..store.schema.validation import (
    AliasOverrideRow,
    ProtectedAliasRow,
    ValidationReportRow,
    ValidationSuiteRow,
)
from ..transport import endpoint
from .entities import AliasOverride, ProtectedAlias, StoredSuite, ValidationReport
from .gate import latest_report_row
from .suite import suite_digest

__all__ = ["ValidationStore"]

_SUITES = ValidationSuiteRow.__table__
_REPORTS = ValidationReportRow.__table__
_PROTECTED = ProtectedAliasRow.__table__
_OVERRIDES = AliasOverrideRow.__table__
_VERSIONS = ModelVersionRow.__table__


def _suite(r: Any) -> StoredSuite:
    return StoredSuite(model=r.model, version=r.version, format=r.format, source=r.source,
                       module=r.module, code_path=r.code_path, digest=r.digest,
                       created_at=r.created_at, created_by=r.created_by)


def _report(r: Any) -> ValidationReport:
    return ValidationReport(id=r.id, model=r.model, version=r.version, status=r.status,
                            against=r.against, suite_version=r.suite_version,
                            suite_digest=r.suite_digest, checks=r.checks, data=r.data or {},
                            as_of=r.as_of, duration_s=r.duration_s, created_at=r.created_at,
                            created_by=r.created_by)


class ValidationStore(DomainStore):
    """Suites, reports, protected aliases and overrides in one database.

    Build it as ``ValidationStore(db, artifacts, settings, clock)`` (``backend.validation``);
    the constructor only stores its arguments.
    """

    # ---- suites -----------------------------------------------------------------------------
    @endpoint("PUT", "/validation/suites/{model}", permission="write", resource="model")
    def save_suite(self, model: str, format: str, source: str, module: str | None = None,
                   code_path: str | None = None) -> StoredSuite:
        """Store the suite of ``model`` (YAML text or a Python module's source); a new version
        is made only when the text or where it is imported from changed. The SDK checks the
        suite before it gets here (``yard.validation.set_suite``)."""
        check_model_name(model, field="model")
        if format not in ("yaml", "python"):
            raise InvalidParameter(f"format must be 'yaml' or 'python'. Got {format!r} instead.",
                                   field="format")
        if format == "python" and not module:
            raise InvalidParameter("a python suite needs the module it is imported from.",
                                   field="module")
        if not source.strip():
            raise InvalidParameter("source must be the suite's text. Got an empty string "
                                   "instead.", field="source")
        digest = suite_digest(source)
        now = self.clock.now()
        with self.db.write() as conn:
            last = conn.execute(sa.select(_SUITES).where(_SUITES.c.model == model)
                                .order_by(_SUITES.c.version.desc()).limit(1)
                                .with_for_update()).first()
            if last is not None and (last.digest, last.format, last.module, last.code_path) == (
                    digest, format, module, code_path):
                return _suite(last)
            version = 1 if last is None else last.version + 1
            conn.execute(_SUITES.insert().values(
                model=model, version=version, format=format, source=source, module=module,
                code_path=code_path, digest=digest, created_at=now, created_by=self.actor))
            audit.append(conn, action="validation.suite", target=f"suite:{model}/{version}",
                         after={"format": format, "module": module, "digest": digest})
        return self.get_suite(model, version)

    @endpoint("GET", "/validation/suites/{model}", permission="read", resource="model")
    def get_suite(self, model: str, version: int | None = None) -> StoredSuite:
        """The suite of ``model`` (its latest version, or ``version``)."""
        stmt = sa.select(_SUITES).where(_SUITES.c.model == model)
        stmt = stmt.where(_SUITES.c.version == version) if version is not None else \
            stmt.order_by(_SUITES.c.version.desc()).limit(1)
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            what = f"version {version} of a suite" if version is not None else "a validation suite"
            raise NotFound(f"Model {model!r} has no {what}; declare one with "
                           f"yard.validation.set_suite({model!r}, …).", field="model")
        return _suite(row)

    @endpoint("GET", "/validation/suites/{model}/versions", permission="read", resource="model")
    def list_suites(self, model: str) -> list[StoredSuite]:
        """Every version of the suite of ``model``, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_SUITES).where(_SUITES.c.model == model)
                                .order_by(_SUITES.c.version)).all()
        return [_suite(r) for r in rows]

    # ---- reports ------------------------------------------------------------------------------
    @endpoint("POST", "/validation/reports", status_code=201, permission="write",
              resource="report.model")
    def add_report(self, report: ValidationReport) -> ValidationReport:
        """Store a report (it gets its id and time here); reports are never changed."""
        now = self.clock.now()
        report_id = new_id()
        failed = any(c.status in ("failed", "error") for c in report.checks)
        status = "failed" if failed or report.status == "failed" else "passed"
        body = report.model_dump(mode="json")
        with self.db.write() as conn:
            if conn.execute(sa.select(_VERSIONS.c.id).where(
                    _VERSIONS.c.name == report.model,
                    _VERSIONS.c.version == report.version)).first() is None:
                raise NotFound(f"Model {report.model!r} has no version {report.version}.",
                               field="version")
            conn.execute(_REPORTS.insert().values(
                id=report_id, model=report.model, version=report.version, status=status,
                against=report.against, suite_version=report.suite_version,
                suite_digest=report.suite_digest, checks=body["checks"], data=body["data"],
                as_of=report.as_of, duration_s=report.duration_s, created_at=now,
                created_by=self.actor))
            audit.append(conn, action="validation.report",
                         target=f"model:{report.model}/{report.version}", after={
                             "report": report_id, "status": status, "against": report.against,
                             "suite_version": report.suite_version,
                             "checks": [[c.name, c.slice, c.status] for c in report.checks]})
        return self.get_report(report_id)

    @endpoint("GET", "/validation/reports/{report_id}", permission="read")
    def get_report(self, report_id: str) -> ValidationReport:
        """One report."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_REPORTS).where(_REPORTS.c.id == report_id)).first()
        if row is None:
            raise NotFound(f"No validation report with id {report_id!r}.", field="report_id")
        return _report(row)

    @endpoint("GET", "/validation/reports", permission="read")
    def list_reports(self, model: str | None = None, version: int | None = None,
                     limit: int = 100, offset: int = 0) -> list[ValidationReport]:
        """The reports of a model (or of one version; of every model without ``model``),
        newest first; ``offset`` pages on."""
        if offset < 0:
            raise InvalidParameter(f"offset must be 0 or more. Got {offset!r} instead.",
                                   field="offset")
        stmt = sa.select(_REPORTS).order_by(
            _REPORTS.c.created_at.desc(), _REPORTS.c.id.desc()).limit(limit).offset(offset)
        if model is not None:
            stmt = stmt.where(_REPORTS.c.model == model)
        if version is not None:
            stmt = stmt.where(_REPORTS.c.version == version)
        with self.db.read() as conn:
            return [_report(r) for r in conn.execute(stmt).all()]

    @endpoint("GET", "/validation/reports/latest/{model}/{version}", permission="read",
              resource="model")
    def latest_report(self, model: str, version: int) -> ValidationReport:
        """The newest report of a version (the one the gate reads)."""
        with self.db.read() as conn:
            row = latest_report_row(conn, model, version)
        if row is None:
            raise NotFound(f"Model version {model}/{version} has no validation report.",
                           field="version")
        return _report(row)

    # ---- protected aliases ------------------------------------------------------------------
    @endpoint("PUT", "/validation/protected/{model}/{alias}", permission="write", resource="model")
    def protect(self, model: str, alias: str) -> ProtectedAlias:
        """Protect ``model@alias``: from now on it moves only to a version whose latest report
        passed (or with an override). Protecting it again changes nothing."""
        check_model_name(model, field="model")
        check_alias(alias)
        now = self.clock.now()
        with self.db.write() as conn:
            row = self._protected(conn, model, alias)
            if row is None:
                conn.execute(_PROTECTED.insert().values(model=model, alias=alias,
                                                        created_at=now, created_by=self.actor))
                audit.append(conn, action="alias.protect", target=f"alias:{model}@{alias}")
                return ProtectedAlias(model=model, alias=alias, created_at=now,
                                      created_by=self.actor)
        return ProtectedAlias(model=row.model, alias=row.alias, created_at=row.created_at,
                              created_by=row.created_by)

    @endpoint("DELETE", "/validation/protected/{model}/{alias}", permission="approve",
              resource="model")
    def unprotect(self, model: str, alias: str, reason: str) -> AliasOverride:
        """Lift the protection of ``model@alias``; needs a reason, recorded as an override."""
        if not reason or not reason.strip():
            raise InvalidParameter(f"Lifting the protection of {model}@{alias} must give a "
                                   f"reason. Got {reason!r} instead.", field="reason")
        now = self.clock.now()
        moved_by = self.actor
        with self.db.write() as conn:
            if self._protected(conn, model, alias) is None:
                raise NotFound(f"{model}@{alias} is not protected.", field="alias")
            conn.execute(_PROTECTED.delete().where(_PROTECTED.c.model == model,
                                                   _PROTECTED.c.alias == alias))
            override_id = conn.execute(_OVERRIDES.insert().values(
                model=model, alias=alias, version=None, report_id=None,
                reason=f"protection lifted: {reason}", moved_by=moved_by, at=now,
            ).returning(_OVERRIDES.c.id)).scalar_one()
            audit.append(conn, action="alias.unprotect", target=f"alias:{model}@{alias}",
                         after={"reason": reason})
        return AliasOverride(id=override_id, model=model, alias=alias, version=None,
                             reason=f"protection lifted: {reason}", moved_by=moved_by, at=now)

    @endpoint("GET", "/validation/protected", permission="read")
    def list_protected(self, model: str | None = None) -> list[ProtectedAlias]:
        """Protected aliases (of one model, or all)."""
        stmt = sa.select(_PROTECTED).order_by(_PROTECTED.c.model, _PROTECTED.c.alias)
        if model is not None:
            stmt = stmt.where(_PROTECTED.c.model == model)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return [ProtectedAlias(model=r.model, alias=r.alias, created_at=r.created_at,
                               created_by=r.created_by) for r in rows]

    @endpoint("GET", "/validation/overrides", permission="read")
    def list_overrides(self, model: str | None = None, limit: int = 100) -> list[AliasOverride]:
        """Moves of protected aliases without a passing report, newest first."""
        stmt = sa.select(_OVERRIDES).order_by(_OVERRIDES.c.id.desc()).limit(limit)
        if model is not None:
            stmt = stmt.where(_OVERRIDES.c.model == model)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return [AliasOverride(id=r.id, model=r.model, alias=r.alias, version=r.version,
                              report_id=r.report_id, reason=r.reason, moved_by=r.moved_by,
                              at=r.at) for r in rows]

    @staticmethod
    def _protected(conn: Connection, model: str, alias: str) -> Any:
        return conn.execute(sa.select(_PROTECTED).where(
            _PROTECTED.c.model == model, _PROTECTED.c.alias == alias)).first()
