"""ONNX models, run with onnxruntime.

Registers an ``onnx.ModelProto`` as it is, or converts a scikit-learn model when asked with
``flavor="onnx"`` (skl2onnx; the example gives the input width; classifiers keep a
``probabilities`` tensor so ``predict_proba`` works). A model with one 2-D input gets all
columns as one tensor; a model with several inputs gets one ``[n, 1]`` tensor per column of
the same name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InvalidParameter
from .base import Predictor, module_of, require

__all__ = ["OnnxFlavor", "flavor"]

FILE = "model.onnx"
_NUMPY_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}


def _from_sklearn(model: Any, example: pd.DataFrame | None) -> Any:
    from sklearn.base import is_classifier

    to_onnx = require("skl2onnx", "onnx").to_onnx

    if example is None:
        raise InvalidParameter(
            "Converting a scikit-learn model to ONNX needs example= (a few input rows) to know "
            "the input columns. Got no example.", field="example")
    text = [c for c, t in example.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if text:
        raise InvalidParameter(
            f"Converting a scikit-learn model to ONNX here needs numeric columns; column "
            f"{text[0]!r} is {example[text[0]].dtype}. Convert the model with skl2onnx yourself "
            "and register the ModelProto.", field="example")
    options = {"zipmap": False} if is_classifier(model) else None
    return to_onnx(model, example.to_numpy(np.float32)[:1], options=options)


class _OnnxPredictor:
    def __init__(self, session: Any, proba_output: str | None) -> None:
        self.model = session
        self._inputs = [(i.name, _NUMPY_TYPES.get(i.type, np.float32), len(i.shape or []))
                        for i in session.get_inputs()]
        self._outputs = [o.name for o in session.get_outputs()]
        self._proba = proba_output
        if proba_output is not None:
            self.predict_proba = self._predict_proba

    def _feed(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        if len(self._inputs) == 1 and self._inputs[0][2] == 2:
            name, dtype, _ = self._inputs[0]
            return {name: df.to_numpy(dtype=dtype)}
        return {name: df[name].to_numpy(dtype=dtype).reshape(-1, 1)
                for name, dtype, _ in self._inputs}

    def predict(self, df: pd.DataFrame) -> Any:
        out = np.asarray(self.model.run([self._outputs[0]], self._feed(df))[0])
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    def _predict_proba(self, df: pd.DataFrame) -> Any:
        return np.asarray(self.model.run([self._proba], self._feed(df))[0])


class OnnxFlavor:
    name = "onnx"
    libraries = ("onnx", "onnxruntime", "skl2onnx")

    def detect(self, model: Any) -> bool:
        if module_of(model) != "onnx":
            return False
        import onnx

        return isinstance(model, onnx.ModelProto)

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        onnx = require("onnx", "onnx")

        options: dict[str, Any] = {"file": FILE}
        if not isinstance(model, onnx.ModelProto):
            from sklearn.base import BaseEstimator

            if not isinstance(model, BaseEstimator):
                raise InvalidParameter(
                    "The onnx flavor takes an onnx.ModelProto or a scikit-learn model to "
                    f"convert. Got {type(model).__module__}.{type(model).__qualname__}.",
                    field="model")
            options["converted_from"] = f"{type(model).__module__}.{type(model).__qualname__}"
            model = _from_sklearn(model, example)
        onnx.checker.check_model(model)
        onnx.save_model(model, str(path / FILE))
        outputs = [o for o in model.graph.output]
        if len(outputs) > 1 and outputs[1].type.HasField("tensor_type") \
                and len(outputs[1].type.tensor_type.shape.dim) == 2:
            options["proba_output"] = outputs[1].name
        return options

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        ort = require("onnxruntime", "onnx")

        session = ort.InferenceSession(str(path / options.get("file", FILE)),
                                       providers=["CPUExecutionProvider"])
        return _OnnxPredictor(session, options.get("proba_output"))


flavor = OnnxFlavor()
