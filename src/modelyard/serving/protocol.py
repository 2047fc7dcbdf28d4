"""Open Inference Protocol (KServe V2) over REST: request tensors to rows, results to output
tensors. An endpoint is a V2 "model"; each input tensor is one column of the signature
(shape ``[n]`` or ``[n, 1]``), or a single ``[n, k]`` tensor holds whole rows in signature
order."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SchemaMismatch
from .models import ModelHandle

__all__ = [
    "DATATYPES",
    "datatype_of",
    "infer_response",
    "model_metadata",
    "parse_infer",
    "predict_datatype",
]

DATATYPES = {"float": "FP64", "int": "INT64", "bool": "BOOL", "string": "BYTES",
             "category": "BYTES", "datetime": "BYTES"}
_NUMERIC_TYPES = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
                  "UINT32", "UINT64"}
_ALLOWED = {
    "float": _NUMERIC_TYPES,
    "int": {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"},
    "bool": {"BOOL"},
    "string": {"BYTES"},
    "category": {"BYTES"},
    "datetime": {"BYTES"},
}


def _flat(data: Any, field: str) -> list[Any]:
    if not isinstance(data, list):
        raise SchemaMismatch(f"Tensor {field!r} must carry its values in a 'data' list. Got "
                             f"{type(data).__name__}.", field=field)
    if data and isinstance(data[0], list):
        return [v for row in data for v in (row if isinstance(row, list) else [row])]
    return data


def parse_infer(body: Any, handle: ModelHandle) -> tuple[str, Any]:
    """``(kind, data)`` for :meth:`RequestPath.predict` from a V2 infer request."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) \
            or not body["inputs"]:
        raise SchemaMismatch("An infer request must have a non-empty 'inputs' list of tensors.",
                             field="inputs")
    tensors = body["inputs"]
    for t in tensors:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise SchemaMismatch("Each input tensor must be an object with a 'name', 'shape', "
                                 "'datatype' and 'data'.", field="inputs")
    names = handle.names
    if len(tensors) == 1 and names and tensors[0]["name"] not in names:
        t = tensors[0]
        shape = t.get("shape")
        if isinstance(shape, list) and len(shape) == 2 and shape[1] != len(names):
            raise SchemaMismatch(
                f"Tensor {t['name']!r} has shape {shape}: one [n, k] tensor holds whole rows, "
                f"so its width k must be the model's {len(names)} columns {names}. Got width "
                f"{shape[1]}.", field=t["name"])
        if isinstance(shape, list) and len(shape) == 2:
            values = _flat(t.get("data"), t["name"])
            k = len(names)
            if len(values) != shape[0] * k:
                raise SchemaMismatch(f"Tensor {t['name']!r} has shape {shape} but carries "
                                     f"{len(values)} values.", field=t["name"])
            return "matrix", [values[i * k:(i + 1) * k] for i in range(shape[0])]
    columns: dict[str, list[Any]] = {}
    for t in tensors:
        name = t["name"]
        values = _flat(t.get("data"), name)
        shape = t.get("shape")
        if isinstance(shape, list) and shape and isinstance(shape[0], int) \
                and int(np.prod(shape)) != len(values):
            raise SchemaMismatch(f"Tensor {name!r} has shape {shape} but carries "
                                 f"{len(values)} values.", field=name)
        dtype = t.get("datatype")
        expected = handle.types.get(name)
        if expected is not None and dtype is not None and dtype not in _ALLOWED[expected]:
            raise SchemaMismatch(f"Tensor {name!r} must have datatype "
                                 f"{DATATYPES[expected]} (column type {expected}). Got "
                                 f"{dtype!r}.", field=name)
        columns[name] = values
    return "columns", columns


def datatype_of(values: list[Any]) -> str:
    """The V2 datatype of a list of predictions (by its first value)."""
    if not values:
        return "FP64"
    v = values[0]
    if isinstance(v, bool):
        return "BOOL"
    if isinstance(v, int):
        return "INT64"
    if isinstance(v, float):
        return "FP64"
    return "BYTES"


def infer_response(endpoint: str, handle: ModelHandle, request_id: str | None,
                   predictions: list[Any], proba: np.ndarray | None, ids: list[str],
                   route: str, wanted: set[str] | None) -> dict[str, Any]:
    n = len(predictions)
    outputs = []
    if wanted is None or "predict" in wanted:
        outputs.append({"name": "predict", "shape": [n], "datatype": datatype_of(predictions),
                        "data": predictions})
    if proba is not None and (wanted is None or "predict_proba" in wanted):
        outputs.append({"name": "predict_proba", "shape": list(proba.shape), "datatype": "FP64",
                        "data": proba.ravel().tolist(),
                        "parameters": {"classes": handle.classes}})
    out: dict[str, Any] = {
        "model_name": endpoint, "model_version": str(handle.version), "outputs": outputs,
        "parameters": {"prediction_ids": ids, "route": route, "model": handle.label},
    }
    if request_id is not None:
        out["id"] = request_id
    return out


def predict_datatype(handle: ModelHandle) -> str:
    """The datatype of the ``predict`` output: the signature's output column, else that of
    the warm-up prediction (what infer answers)."""
    outputs = handle.signature.outputs if handle.signature is not None else []
    if len(outputs) == 1:
        return DATATYPES.get(outputs[0].type, "BYTES")
    if handle.sample is not None:
        return datatype_of([handle.sample])
    return "BYTES"


def model_metadata(endpoint: str, served: list[tuple[str, str, ModelHandle]]) -> dict[str, Any]:
    """V2 model metadata of an endpoint; ``served``: ``(route, kind, handle)`` of every route,
    canary and shadow that serves a model (the first is a route: its signature is the
    endpoint's)."""
    first = served[0][2]
    outputs = [{"name": "predict", "datatype": predict_datatype(first), "shape": [-1]}]
    if first.has_proba:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
    handles = [h for _, _, h in served]
    return {
        "name": endpoint,
        "versions": sorted({str(h.version) for h in handles}, key=int),
        "platform": f"modelyard-{first.flavor}",
        "inputs": [{"name": c.name, "datatype": DATATYPES.get(c.type, "BYTES"), "shape": [-1]}
                   for c in first.columns],
        "outputs": outputs,
        "parameters": {
            "models": sorted({h.label for h in handles}),
            "routes": [{"name": name, "kind": kind, "model": h.label}
                       for name, kind, h in served],
        },
    }
