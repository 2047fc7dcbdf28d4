"""The dashboard's sections (the header's navigation) and the pages behind them.

Adding a page for a new part of the product takes one module under ``ui/pages/`` with a
``router`` (a FastAPI ``APIRouter`` whose paths are relative to ``/ui``) and, for a section of
its own, a ``SECTION``; then its name in :data:`PAGES`. Its templates extend ``base.html``
and pass ``section=<its key>`` so the header marks it; its data comes from domain functions,
not from the template. The trace, automation, pipeline and audit pages plug in this way.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType

__all__ = ["PAGES", "Section", "page_modules", "sections"]


@dataclass(frozen=True)
class Section:
    """One entry of the header: ``key`` marks the current page, ``path`` is under /ui."""

    key: str
    label: str
    path: str
    order: int = 100


# the page modules, in the order of the header (modules without a SECTION add routes only)
PAGES: tuple[str, ...] = (
    "modelyard.ui.pages.session",
    "modelyard.ui.pages.overview",
    "modelyard.ui.pages.runs",
    "modelyard.ui.pages.models",
    "modelyard.ui.pages.datasets",
    "modelyard.ui.pages.pipelines",
    "modelyard.ui.pages.endpoints",
    "modelyard.ui.pages.monitoring",
    "modelyard.ui.pages.predictions",
    "modelyard.ui.pages.trace",
    "modelyard.ui.pages.automation",
    "modelyard.ui.pages.validation",
    "modelyard.ui.pages.audit",
)


@cache
def page_modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(name) for name in PAGES)


@cache
def sections() -> tuple[Section, ...]:
    found = [m.SECTION for m in page_modules() if getattr(m, "SECTION", None) is not None]
    return tuple(sorted(found, key=lambda s: s.order))
