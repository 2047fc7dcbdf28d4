"""modelyard: take machine-learning models into production and keep them healthy there.

    import modelyard as my
    yard = my.connect()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .config import Settings
    from .yard import Yard, connect

__version__ = "0.1.0"

__all__ = [
    "connect",
    "drift",
    "step",
    "pipeline",
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


# name -> module: these load on first use, so `import modelyard` (and `modelyard --help`) stays
# fast; pydantic and the settings come with the first `connect`.
_LAZY = {"connect": ".yard", "Yard": ".yard", "Settings": ".config", "drift": ".monitoring.drift",
         "step": ".pipelines.graph", "pipeline": ".pipelines.graph"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
