"""SQLAlchemy typed models, one module per domain.

Each domain's store imports only its own module (``from ..store.schema.tracking import …``),
so a process that lists runs does not build every domain's classes. ``Base`` taken from this
package (``from modelyard.store.schema import Base``, as Alembic's env and autogenerate do)
first imports every module of the package, so its metadata holds every table.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

__all__ = ["Base"]


def __getattr__(name: str) -> Any:
    if name != "Base":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    from .base import Base

    globals()["Base"] = Base
    return Base
