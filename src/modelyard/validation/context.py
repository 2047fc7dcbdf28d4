"""What a check sees: the version under test, the champion, the holdout and the training data.

A custom check is a function of one :class:`ValidationContext`::

    def approvals_not_all_one(ctx):
        rate = float((ctx.predict() == 1).mean())
        return ctx.result(rate < 0.99, value=rate, message=f"approval rate {rate:.2%}")

Predictions on the holdout are computed once per model and shared by every check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter
from .suite import CheckOutcome, SuiteSpec

__all__ = ["ValidationContext"]


class ValidationContext:
    """The inputs of one suite run.

    ``version`` / ``model``: the version under test (ModelVersion / LoadedModel);
    ``champion_version`` / ``champion``: the incumbent it is compared with, or None;
    ``holdout_view``: the dataset view the holdout was read from (None without a holdout);
    ``as_of``: the time the suite ran for (``holdout.last`` is measured back from it).
    """

    def __init__(self, *, spec: SuiteSpec, version: Any, model: Any, champion_version: Any,
                 champion: Any, holdout_view: Any, as_of: datetime, datasets: Any,
                 runs: Any) -> None:
        self.spec = spec
        self.version = version
        self.model = model
        self.champion_version = champion_version
        self.champion = champion
        self.holdout_view = holdout_view
        self.as_of = as_of
        self._datasets = datasets
        self._runs = runs
        self._frame: pd.DataFrame | None = None
        self._cache: dict[tuple[str, str], Any] = {}

    # ---- the holdout ------------------------------------------------------------------------
    @property
    def holdout(self) -> pd.DataFrame:
        """The holdout rows (read once)."""
        if self._frame is None:
            if self.holdout_view is None:
                raise InvalidParameter("this suite has no holdout; declare one with "
                                       "holdout: {dataset: …}.", field="holdout")
            self._frame = self.holdout_view.to_pandas()
        return self._frame

    @property
    def label(self) -> str:
        if self.spec.label is None:
            raise InvalidParameter("this suite names no label column; set label: …",
                                   field="label")
        if self.spec.label not in self.holdout.columns:
            raise InvalidParameter(
                f"the label column {self.spec.label!r} is not in the holdout; its columns are "
                f"{list(self.holdout.columns)}.", field="label")
        return self.spec.label

    @property
    def features(self) -> list[str]:
        """The feature columns: the suite's ``features``, else the model's signature inputs,
        else every holdout column but the label and the time column."""
        if self.spec.features:
            return list(self.spec.features)
        signature = getattr(self.version, "signature", None)
        if signature is not None:
            return list(signature.input_names)
        skip = {self.spec.label, getattr(self.holdout_view, "time_column", None)}
        return [c for c in self.holdout.columns if c not in skip]

    @property
    def X(self) -> pd.DataFrame:
        missing = [c for c in self.features if c not in self.holdout.columns]
        if missing:
            raise InvalidParameter(f"the holdout lacks the feature columns {missing}.",
                                   field="holdout")
        return self.holdout[self.features]

    @property
    def y(self) -> np.ndarray:
        return self.holdout[self.label].to_numpy()

    # ---- predictions --------------------------------------------------------------------------
    def _model(self, which: str | Any) -> Any:
        if which == "challenger":
            return self.model
        if which == "champion":
            if self.champion is None:
                raise InvalidParameter("there is no champion to predict with.", field="against")
            return self.champion
        return which

    def _inputs(self, model: Any, X: pd.DataFrame | None) -> pd.DataFrame:
        if X is not None:
            return X
        signature = getattr(model, "signature", None)
        if signature is not None:
            return self.holdout  # each model takes its own columns (extra ones are dropped)
        return self.X

    def predict(self, which: str | Any = "challenger", X: pd.DataFrame | None = None) -> np.ndarray:
        """Predictions of ``which`` ("challenger", "champion" or a loaded model) on ``X``
        (default: the holdout, computed once)."""
        model = self._model(which)
        key = ("predict", str(id(model)))
        if X is None and key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return]
        out = np.asarray(model.predict(self._inputs(model, X)))
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if X is None:
            self._cache[key] = out
        return out

    def has_proba(self, which: str | Any = "challenger") -> bool:
        return hasattr(self._model(which), "predict_proba")

    def proba(self, which: str | Any = "challenger",
              X: pd.DataFrame | None = None) -> np.ndarray | None:
        """Class probabilities of ``which`` (None when the model has none)."""
        model = self._model(which)
        if not hasattr(model, "predict_proba"):
            return None
        key = ("proba", str(id(model)))
        if X is None and key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return]
        out = np.asarray(model.predict_proba(self._inputs(model, X)), dtype=float)
        if X is None:
            self._cache[key] = out
        return out

    def classes(self, which: str | Any = "challenger") -> Any:
        """The class labels in the order of ``proba``'s columns (None if unknown)."""
        model = self._model(which)
        inner = getattr(model, "model", None)
        found = getattr(inner, "classes_", None)
        if found is None:
            found = getattr(getattr(model, "predictor", None), "classes", None)
        return None if found is None else np.asarray(found)

    # ---- the training data ---------------------------------------------------------------------
    def training_views(self, role: str | None = None) -> dict[str, Any]:
        """The dataset views the version was trained on (from its run's recorded inputs), by
        role; empty when the version has no run."""
        run_id = getattr(self.version, "run_id", None)
        if run_id is None:
            return {}
        run = self._runs.get(run_id)
        out = {}
        for item in run.inputs:
            if role is not None and item.role != role:
                continue
            out[item.role] = self._datasets.view(
                item.dataset, version=item.version, as_of=item.as_of,
                window_start=item.window_start, window_end=item.window_end)
        return out

    def dictionary(self, dataset: str) -> list[Any]:
        """The data-dictionary entries of ``dataset`` (:class:`ColumnInfo`)."""
        return list(self._datasets.dictionary(dataset))

    # ---- results ------------------------------------------------------------------------------
    @staticmethod
    def result(passed: bool, value: float | None = None, message: str = "",
               threshold: str | float | None = None, **details: Any) -> CheckOutcome:
        """What a custom check returns."""
        return CheckOutcome(bool(passed), value, message, threshold, dict(details))
