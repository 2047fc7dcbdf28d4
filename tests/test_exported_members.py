"""Every public module declares ``__all__`` and every name in it exists (httpx's check)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import modelyard

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(modelyard.__path__, "modelyard.")
    if ".migrations" not in m.name and not m.name.rsplit(".", 1)[-1].startswith("_")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_and_exports_exist(name: str) -> None:
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", []):
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"


def test_top_level_api() -> None:
    for attr in ("connect", "Yard", "drift", "NotFound", "InvalidParameter", "__version__"):
        assert hasattr(modelyard, attr)
    assert set(modelyard.__all__) <= set(dir(modelyard)) | {"drift"}
