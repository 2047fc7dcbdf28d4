"""XGBoost models (scikit-learn API and ``Booster``), saved in XGBoost's native JSON format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import InvalidParameter
from .base import Predictor, module_of, require

__all__ = ["XGBoostFlavor", "flavor"]

FILE = "model.json"
SKLEARN_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier",
                   "XGBRFRegressor")


class _XGBoostPredictor:
    def __init__(self, model: Any, booster: Any, enable_categorical: bool) -> None:
        self.model = model
        self.enable_categorical = enable_categorical
        # trained on an array: its booster knows no feature names, so give it an array too
        self._frame = booster.feature_names is not None
        if hasattr(model, "predict_proba"):
            self.predict_proba = self._predict_proba

    def _input(self, df: pd.DataFrame) -> Any:
        return df if self._frame else df.to_numpy()

    def predict(self, df: pd.DataFrame) -> Any:
        if hasattr(self.model, "get_booster"):
            return self.model.predict(self._input(df))
        xgb = require("xgboost", "xgboost")
        data = xgb.DMatrix(self._input(df), enable_categorical=self.enable_categorical)
        return self.model.predict(data)

    def _predict_proba(self, df: pd.DataFrame) -> Any:
        return self.model.predict_proba(self._input(df))


class XGBoostFlavor:
    name = "xgboost"
    libraries = ("xgboost",)

    def detect(self, model: Any) -> bool:
        if module_of(model) != "xgboost":
            return False
        xgb = require("xgboost", "xgboost")
        return isinstance(model, (xgb.XGBModel, xgb.Booster))

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        xgb = require("xgboost", "xgboost")
        categorical = example is not None and any(
            isinstance(t, pd.CategoricalDtype) for t in example.dtypes)
        if isinstance(model, xgb.XGBModel):
            name = type(model).__name__
            if name not in SKLEARN_CLASSES:
                raise InvalidParameter(
                    f"The xgboost flavor saves {', '.join(SKLEARN_CLASSES)} and Booster. Got "
                    f"{type(model).__qualname__}; register it with flavor='sklearn' instead.",
                    field="model",
                )
            model.save_model(path / FILE)
            return {"api": "sklearn", "class": name, "file": FILE,
                    "enable_categorical": categorical}
        model.save_model(path / FILE)
        return {"api": "booster", "file": FILE, "enable_categorical": categorical}

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        xgb = require("xgboost", "xgboost")
        file = path / options.get("file", FILE)
        if options.get("api") == "sklearn":
            name = options.get("class")
            if name not in SKLEARN_CLASSES:
                raise InvalidParameter(f"Unknown xgboost model class {name!r}.", field="options")
            model = getattr(xgb, name)()
            model.load_model(file)
            booster = model.get_booster()
        else:
            model = booster = xgb.Booster()
            model.load_model(file)
        return _XGBoostPredictor(model, booster, bool(options.get("enable_categorical")))


flavor = XGBoostFlavor()
