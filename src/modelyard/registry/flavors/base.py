"""The flavor interface: how one kind of model is saved to files and loaded back.

A flavor is a small object with ``name``, ``detect(model)``, ``save(model, path, example,
**kwargs) -> options`` and ``load(path, options) -> Predictor``. ``save`` writes files into an
empty folder and returns JSON-able options that ``load`` gets back; the registry stores the
files as content-addressed blobs and the options in the version's manifest. Flavors never
unpickle: each uses its library's own safe format.

Flavor modules import their framework lazily, so ``import modelyard`` never pulls in torch,
xgboost or lightgbm.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import platform
import shutil
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ...errors import InvalidParameter

__all__ = [
    "FLAVORS",
    "Flavor",
    "Predictor",
    "class_path",
    "copy_source",
    "detect_flavor",
    "flavor_names",
    "get_flavor",
    "import_class",
    "import_object",
    "library_versions",
    "module_of",
    "require",
]


@runtime_checkable
class Predictor(Protocol):
    """What a loaded flavor gives: ``predict(DataFrame)`` returning a numpy array or a
    DataFrame; ``predict_proba`` too when the model has it."""

    def predict(self, df: pd.DataFrame) -> Any: ...


class Flavor(Protocol):
    name: str
    #: distributions whose versions are recorded with a saved model (numpy is always added)
    libraries: tuple[str, ...]

    def detect(self, model: Any) -> bool:
        """True when this flavor knows how to save ``model`` (no import of the framework
        unless the model already comes from it)."""
        ...

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        """Write ``model`` into the empty folder ``path``; return the options ``load`` needs."""
        ...

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        """Load the model saved in ``path`` with ``options``."""
        ...


# name -> "module:attribute"; detection goes in this order (pyfunc, the catch-all, last)
FLAVORS: dict[str, str] = {
    "onnx": "modelyard.registry.flavors.onnx:flavor",
    "pytorch": "modelyard.registry.flavors.pytorch:flavor",
    "xgboost": "modelyard.registry.flavors.xgboost:flavor",
    "lightgbm": "modelyard.registry.flavors.lightgbm:flavor",
    "sklearn": "modelyard.registry.flavors.sklearn:flavor",
    "pyfunc": "modelyard.registry.flavors.pyfunc:flavor",
}


def flavor_names() -> list[str]:
    return list(FLAVORS)


def get_flavor(name: str) -> Flavor:
    if name not in FLAVORS:
        raise InvalidParameter(
            f"flavor must be one of {', '.join(FLAVORS)}. Got {name!r} instead.", field="flavor"
        )
    return import_object(FLAVORS[name])  # type: ignore[no-any-return]


def detect_flavor(model: Any) -> Flavor:
    """The first flavor that recognises ``model``."""
    for name in FLAVORS:
        flavor = get_flavor(name)
        if flavor.detect(model):
            return flavor
    raise InvalidParameter(
        f"Cannot tell how to save a {type(model).__module__}.{type(model).__qualname__}: it is "
        f"not a model of any flavor ({', '.join(FLAVORS)}) and has no predict method. "
        "Pass flavor= or wrap it in a class with predict(df).",
        field="model",
    )


def module_of(model: Any) -> str:
    """The top-level package a model's class comes from (without importing anything)."""
    return type(model).__module__.partition(".")[0]


def library_versions(*distributions: str) -> dict[str, str]:
    """Installed versions of ``distributions`` plus numpy and python."""
    out: dict[str, str] = {}
    for dist in (*distributions, "numpy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    out["python"] = platform.python_version()
    return out


def require(module: str, extra: str) -> Any:
    """Import ``module`` or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"The {extra} flavor needs {module}, which is not installed. "
            f"Install it with: pip install modelyard[{extra}]"
        ) from exc


def class_path(obj_or_cls: Any, *, field: str = "model") -> str:
    """``"package.module:QualName"`` of a class (or of an object's class); the class must be
    importable by that name from another process."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise InvalidParameter(
            f"The class {qualname} must be importable to be saved by reference, but it is "
            f"defined in {'a function' if '<locals>' in qualname else '__main__'}. Move it to "
            "a module (a .py file on the Python path) and import it from there.",
            field=field,
        )
    try:
        found = import_object(f"{module}:{qualname}")
    except (ImportError, AttributeError) as exc:
        raise InvalidParameter(
            f"The class {module}.{qualname} cannot be imported by name ({exc}); it must be "
            "importable to be saved by reference.",
            field=field,
        ) from exc
    if found is not cls:
        raise InvalidParameter(
            f"Importing {module}:{qualname} gives another object than the model's class.",
            field=field,
        )
    return f"{module}:{qualname}"


def import_object(path: str) -> Any:
    """The object named ``"module:Qual.Name"``."""
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def import_class(path: str, *, must_have: str | None = None, base: type | None = None) -> type:
    """The class named ``path`` in a manifest, checked before anything calls it: a manifest
    naming ``subprocess:Popen`` must not get to run it."""
    try:
        cls = import_object(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidParameter(
            f"The model's class {path!r} cannot be imported here ({exc}). Install the package "
            "that defines it.", field="options.class") from exc
    if not isinstance(cls, type) or (base is not None and not issubclass(cls, base)) or (
            must_have is not None and not callable(getattr(cls, must_have, None))):
        wanted = f"a subclass of {base.__module__}.{base.__qualname__}" if base is not None \
            else f"a class with a {must_have} method"
        raise InvalidParameter(f"The model's class {path!r} must be {wanted}. Refusing to call "
                               "it.", field="options.class")
    return cls


def copy_source(cls: type, path: Path) -> dict[str, str]:
    """Copy the source file defining ``cls`` under ``path/source/`` (code lineage: the exact
    code a version was saved with). Returns ``{"source": file name}`` for the flavor's options,
    or nothing when the class has no source file."""
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        return {}
    if source is None or not Path(source).is_file():
        return {}
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(source).name)
    dest = path / "source" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return {"source": f"source/{name}"}
