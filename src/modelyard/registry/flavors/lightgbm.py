"""LightGBM models (scikit-learn API and ``Booster``), saved as LightGBM's text model file.

A scikit-learn classifier is loaded back as its booster plus the class labels recorded in the
options, so ``predict`` gives labels and ``predict_proba`` probabilities as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InvalidParameter
from .base import Predictor, module_of, require

__all__ = ["LightGBMFlavor", "flavor"]

FILE = "model.txt"
SKLEARN_CLASSES = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class _BoosterPredictor:
    def __init__(self, booster: Any) -> None:
        self.model = booster

    def predict(self, df: pd.DataFrame) -> Any:
        return self.model.predict(df)


class _ClassifierPredictor:
    def __init__(self, booster: Any, classes: list[Any]) -> None:
        self.model = booster
        self.classes = np.asarray(classes)

    def predict_proba(self, df: pd.DataFrame) -> Any:
        proba = np.asarray(self.model.predict(df))
        if proba.ndim == 1:
            return np.column_stack([1.0 - proba, proba])
        return proba

    def predict(self, df: pd.DataFrame) -> Any:
        return self.classes[np.argmax(self.predict_proba(df), axis=1)]


class LightGBMFlavor:
    name = "lightgbm"
    libraries = ("lightgbm",)

    def detect(self, model: Any) -> bool:
        if module_of(model) != "lightgbm":
            return False
        lgb = require("lightgbm", "lightgbm")
        return isinstance(model, (lgb.LGBMModel, lgb.Booster))

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        lgb = require("lightgbm", "lightgbm")
        if isinstance(model, lgb.LGBMModel):
            name = type(model).__name__
            if name not in SKLEARN_CLASSES:
                raise InvalidParameter(
                    f"The lightgbm flavor saves {', '.join(SKLEARN_CLASSES)} and Booster. Got "
                    f"{type(model).__qualname__}; register it with flavor='sklearn' instead.",
                    field="model",
                )
            model.booster_.save_model(str(path / FILE))
            options: dict[str, Any] = {"api": "sklearn", "class": name, "file": FILE}
            if name == "LGBMClassifier":
                options["classes"] = [_plain(c) for c in model.classes_]
            return options
        model.save_model(str(path / FILE))
        return {"api": "booster", "file": FILE}

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        lgb = require("lightgbm", "lightgbm")
        booster = lgb.Booster(model_file=str(path / options.get("file", FILE)))
        if options.get("class") == "LGBMClassifier":
            return _ClassifierPredictor(booster, options["classes"])
        return _BoosterPredictor(booster)


flavor = LightGBMFlavor()
