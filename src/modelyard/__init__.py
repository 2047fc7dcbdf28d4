"""modelyard: take machine-learning models into production and keep them healthy there.

    import modelyard as my
    yard = my.connect()
"""

from __future__ import annotations

from .config import Settings
from .errors import (
    AlreadyExists,
    FilterSyntaxError,
    IntegrityError,
    InvalidParameter,
    ModelyardError,
    NotFittedError,
    NotFound,
    SchemaMismatch,
    UnsafeModelError,
)
from .yard import Yard, connect

__version__ = "0.1.0"

__all__ = [
    "connect",
    "drift",
    "Yard",
    "Settings",
    "ModelyardError",
    "NotFound",
    "AlreadyExists",
    "InvalidParameter",
    "FilterSyntaxError",
    "SchemaMismatch",
    "UnsafeModelError",
    "NotFittedError",
    "IntegrityError",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Heavier parts load on first use, so `import modelyard` stays fast.
    if name == "drift":
        from .monitoring.drift import drift

        return drift
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
