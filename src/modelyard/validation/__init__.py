"""Validation gates: per-model suites, immutable reports, protected aliases.

    from modelyard.validation import Suite, check

See :mod:`modelyard.validation.suite` for the suite language and
:mod:`modelyard.validation.validation` for ``yard.validation``. The names below load on first
use, so the registry's alias guard (:mod:`.gate`) imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_WHERE = {
    "AliasOverride": "entities",
    "CheckResult": "entities",
    "ProtectedAlias": "entities",
    "StoredSuite": "entities",
    "ValidationReport": "entities",
    "CheckOutcome": "suite",
    "Suite": "suite",
    "SuiteSpec": "suite",
    "check": "suite",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard.validation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
