"""Python functions: any object of an importable class with ``predict(df)``.

Saved by reference, never pickled: the class's import path (``package.module:QualName``), its
state as JSON — ``to_config()`` / ``from_config(config)`` when the class defines that pair,
else the instance ``__dict__`` when it is JSON-serialisable — and a copy of the class's source
file as a file of the version (code lineage). Loading imports the class by name and rebuilds
the object from the state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import InvalidParameter
from .base import Predictor, class_path, copy_source, import_class

__all__ = ["PyfuncFlavor", "flavor"]

FILE = "state.json"


def _state(model: Any) -> tuple[str, Any]:
    cls = type(model)
    if callable(getattr(model, "to_config", None)) and callable(getattr(cls, "from_config",
                                                                         None)):
        state, mode = model.to_config(), "config"
    elif hasattr(model, "__dict__"):
        state, mode = dict(vars(model)), "dict"
    else:
        raise InvalidParameter(
            f"{cls.__qualname__} has no __dict__ and no to_config()/from_config() pair; the "
            "pyfunc flavor cannot save its state.", field="model")
    try:
        json.dumps(state, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(
            f"The state of {cls.__qualname__} must be JSON-serialisable to be saved by the "
            f"pyfunc flavor ({exc}). Define to_config() returning plain data and a classmethod "
            "from_config(config) that rebuilds the object.", field="model") from exc
    return mode, state


class PyfuncFlavor:
    name = "pyfunc"
    libraries: tuple[str, ...] = ()

    def detect(self, model: Any) -> bool:
        return not isinstance(model, type) and callable(getattr(model, "predict", None))

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        if not self.detect(model):
            raise InvalidParameter(
                f"The pyfunc flavor saves objects with a predict method. Got "
                f"{type(model).__module__}.{type(model).__qualname__}.", field="model")
        cls_path = class_path(model)
        mode, state = _state(model)
        (path / FILE).write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        return {"class": cls_path, "state": mode, "file": FILE,
                **copy_source(type(model), path)}

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        cls = import_class(options["class"], must_have="predict")
        state = json.loads((path / options.get("file", FILE)).read_text(encoding="utf-8"))
        if options.get("state") == "config":
            model = cls.from_config(state)
        else:
            model = cls.__new__(cls)
            model.__dict__.update(state)
        return model  # type: ignore[no-any-return]


flavor = PyfuncFlavor()
