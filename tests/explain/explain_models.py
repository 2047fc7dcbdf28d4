"""Helpers of the explanation tests: an importable pyfunc model (saved by reference) and
``log_as_served``, which logs predictions exactly as the model server makes them (its own
``ModelHandle``: input checks, one call to the model, the classes it logs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.serving.models import load_handle


class Scorer:
    """A nonlinear score of two columns, as a plain Python model (pyfunc flavor)."""

    def __init__(self, a: str, b: str) -> None:
        self.a = a
        self.b = b

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        x, y = df[self.a].to_numpy(dtype=float), df[self.b].to_numpy(dtype=float)
        return np.tanh(x) * y + 0.5 * x * x


def log_as_served(yard: Any, ref: str, frame: pd.DataFrame, *, endpoint: str = "ep",
                  route: str = "main") -> list[str]:
    """Predict ``frame`` with the model server's handle of ``ref`` and log each row as the
    server does; returns the prediction ids."""
    handle = load_handle(yard, ref, warm=False)
    records = frame.to_dict(orient="records")
    prepared = handle.prepare_records(records)
    preds, proba = handle.run(prepared.x)
    out = []
    for i in range(prepared.n):
        outputs: dict[str, Any] = {"prediction": preds[i]}
        if proba is not None and handle.classes is not None:
            outputs["proba"] = dict(zip(handle.classes, proba[i].tolist()))
        out.append({"endpoint": endpoint, "route": route, "model_name": handle.name,
                    "model_version": handle.version, "inputs": prepared.inputs[i],
                    "outputs": outputs})
    return yard.predictions.log(out)
