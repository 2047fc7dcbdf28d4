"""Validation gates: per-model suites, immutable reports, protected aliases.

    from modelyard.validation import Suite, check

See :mod:`modelyard.validation.suite` for the suite language and
:mod:`modelyard.validation.validation` for ``yard.validation``.
"""

from .entities import AliasOverride, CheckResult, ProtectedAlias, StoredSuite, ValidationReport
from .suite import CheckOutcome, Suite, SuiteSpec, check

__all__ = [
    "AliasOverride",
    "CheckOutcome",
    "CheckResult",
    "ProtectedAlias",
    "StoredSuite",
    "Suite",
    "SuiteSpec",
    "ValidationReport",
    "check",
]
