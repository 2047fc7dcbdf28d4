"""What the validation domain stores and returns: suites, reports, protected aliases and
overrides. One shape in the SDK, the REST API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AliasOverride",
    "CheckResult",
    "CheckStatus",
    "ProtectedAlias",
    "StoredSuite",
    "ValidationReport",
]

CheckStatus = Literal["passed", "failed", "error", "skipped", "insufficient_data"]


class CheckResult(BaseModel):
    """One check (or one slice of a per-slice metric check) of a report.

    ``status``: ``passed``; ``failed``; ``error`` (the check raised: ``details["traceback"]``);
    ``skipped`` (nothing to compare, e.g. no champion yet); ``insufficient_data`` (a slice
    with fewer rows than the check's ``min_rows``: reported, never counted as passed).
    ``value``: the measured figure; ``threshold``: what it was held to (text such as
    ``">= 0.8"``); ``ci``: a confidence interval of the value, when there is one.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    name: str
    type: str
    status: CheckStatus
    value: float | None = None
    threshold: str | None = None
    ci: list[float] | None = None
    message: str = ""
    slice: str | None = None
    n_rows: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    duration_ms: float | None = None


class ValidationReport(BaseModel):
    """The immutable result of running a model's suite on one version.

    ``status`` is ``passed`` when no check failed or raised. ``against``: the champion it was
    compared with (``"loans/7"``), if any. ``data``: what it ran on (the holdout's dataset,
    version, digest, window and row count; the training inputs' digests).
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: str = ""
    model: str
    version: int
    status: Literal["passed", "failed"]
    against: str | None = None
    suite_version: int | None = None
    suite_digest: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    as_of: datetime | None = None
    duration_s: float | None = None
    created_at: datetime | None = None
    created_by: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failures(self) -> list[CheckResult]:
        """Every check that failed or raised (all of them, not the first)."""
        return [c for c in self.checks if c.status in ("failed", "error")]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)


class StoredSuite(BaseModel):
    """One version of a model's suite as stored: YAML text or a Python module's source."""

    model: str
    version: int
    format: Literal["yaml", "python"]
    source: str
    module: str | None = None
    code_path: str | None = None
    digest: str
    created_at: datetime
    created_by: str | None = None


class ProtectedAlias(BaseModel):
    """An alias that moves only to a version with a passing report (or with an override)."""

    model: str
    alias: str
    created_at: datetime
    created_by: str | None = None


class AliasOverride(BaseModel):
    """A move of a protected alias without a passing report: who, why, and which report (if
    any) said no."""

    id: int
    model: str
    alias: str
    version: int | None = None
    report_id: str | None = None
    reason: str
    moved_by: str | None = None
    at: datetime
