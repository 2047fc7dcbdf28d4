"""Conversion between the V2 gRPC messages and the forms the request path takes, kept out of
the handlers (as MLServer's ``converters.py``):

- a ``ModelInferRequest`` becomes the body of a REST ``/v2/models/{name}/infer`` request
  (``protocol.parse_infer`` then checks it against the model's signature). Tensor values come
  either from each tensor's typed ``contents`` or from ``raw_input_contents`` (little-endian,
  row-major; BYTES elements each prefixed by a 4-byte little-endian length), never from both;
- the answer (``protocol.infer_response``) becomes a ``ModelInferResponse``: typed contents,
  or ``raw_output_contents`` when the request sent raw contents (as Triton's clients do).
  List-valued parameters (``prediction_ids``, a probability tensor's ``classes``) travel as
  JSON strings, since an ``InferParameter`` holds one bool, integer or string;
- a :class:`ModelyardError`'s HTTP status becomes a gRPC status code (:data:`STATUS`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import grpc
import numpy as np
import orjson

from ...errors import SchemaMismatch
from . import grpc_predict_v2_pb2 as pb

__all__ = ["STATUS", "parameters_of", "request_body", "response_message", "status_of"]

STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}

# datatype -> (typed contents field, little-endian numpy dtype of its raw form)
_FORMS: dict[str, tuple[str | None, str | None]] = {
    "BOOL": ("bool_contents", "|b1"),
    "INT8": ("int_contents", "<i1"),
    "INT16": ("int_contents", "<i2"),
    "INT32": ("int_contents", "<i4"),
    "INT64": ("int64_contents", "<i8"),
    "UINT8": ("uint_contents", "<u1"),
    "UINT16": ("uint_contents", "<u2"),
    "UINT32": ("uint_contents", "<u4"),
    "UINT64": ("uint64_contents", "<u8"),
    "FP16": (None, "<f2"),
    "FP32": ("fp32_contents", "<f4"),
    "FP64": ("fp64_contents", "<f8"),
    "BYTES": ("bytes_contents", None),
}
_LENGTH = struct.Struct("<I")


def status_of(http_status: int) -> grpc.StatusCode:
    """The gRPC status code of an HTTP status (anything else: UNKNOWN)."""
    return STATUS.get(http_status, grpc.StatusCode.UNKNOWN)


def parameters_of(params: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """A protobuf parameter map as plain values."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        which = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, which) if which is not None else None
    return out


def _count(shape: list[int], name: str) -> int:
    if any(d < 0 for d in shape):
        raise SchemaMismatch(f"Tensor {name!r} must have a shape of non-negative sizes. Got "
                             f"{shape}.", field=name)
    return math.prod(shape)


def _form(tensor: Any) -> tuple[str | None, str | None]:
    form = _FORMS.get(tensor.datatype)
    if form is None:
        raise SchemaMismatch(f"Tensor {tensor.name!r} has datatype {tensor.datatype!r}; "
                             f"expected one of {sorted(_FORMS)}.", field=tensor.name)
    return form


def _text(values: list[bytes], name: str) -> list[str]:
    try:
        return [v.decode("utf-8") for v in values]
    except UnicodeDecodeError as exc:
        raise SchemaMismatch(f"Tensor {name!r} holds BYTES that are not UTF-8 text ({exc}).",
                             field=name) from None


def _split_bytes(buf: bytes, name: str) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(buf):
        if pos + 4 > len(buf):
            raise SchemaMismatch(f"The raw contents of tensor {name!r} end inside a length "
                                 "prefix: each BYTES element is a 4-byte little-endian length "
                                 "and that many bytes.", field=name)
        (n,) = _LENGTH.unpack_from(buf, pos)
        pos += 4
        if pos + n > len(buf):
            raise SchemaMismatch(f"The raw contents of tensor {name!r} announce an element of "
                                 f"{n} bytes at offset {pos - 4} but hold only "
                                 f"{len(buf) - pos}.", field=name)
        out.append(buf[pos:pos + n])
        pos += n
    return out


def _from_raw(tensor: Any, buf: bytes) -> list[Any]:
    _, dtype = _form(tensor)
    name = tensor.name
    if tensor.datatype == "BYTES":
        values: list[Any] = _text(_split_bytes(buf, name), name)
    else:
        assert dtype is not None
        size = np.dtype(dtype).itemsize
        if len(buf) % size:
            raise SchemaMismatch(f"The raw contents of tensor {name!r} ({tensor.datatype}) "
                                 f"must be a multiple of {size} bytes. Got {len(buf)}.",
                                 field=name)
        values = np.frombuffer(buf, dtype=dtype).tolist()
    return values


def _from_contents(tensor: Any) -> list[Any]:
    field, _ = _form(tensor)
    if field is None:
        raise SchemaMismatch(f"Tensor {tensor.name!r} has datatype {tensor.datatype}, which "
                             "travels only as raw contents (raw_input_contents).",
                             field=tensor.name)
    values = list(getattr(tensor.contents, field))
    return _text(values, tensor.name) if tensor.datatype == "BYTES" else values


def request_body(request: pb.ModelInferRequest) -> dict[str, Any]:
    """The REST infer body of ``request`` (see the module docstring); a bad tensor raises
    :class:`SchemaMismatch` naming it."""
    raw = request.raw_input_contents
    if raw:
        if len(raw) != len(request.inputs):
            raise SchemaMismatch(
                f"raw_input_contents must hold one entry per input tensor, in order: "
                f"{len(request.inputs)} inputs. Got {len(raw)} entries.",
                field="raw_input_contents")
        for t in request.inputs:
            if t.HasField("contents"):
                raise SchemaMismatch(
                    f"Tensor {t.name!r} has typed contents, but the request also has "
                    "raw_input_contents: a request carries one form or the other.",
                    field=t.name)
    inputs = []
    for i, t in enumerate(request.inputs):
        shape = list(t.shape)
        values = _from_raw(t, raw[i]) if raw else _from_contents(t)
        if shape and len(values) != _count(shape, t.name):
            raise SchemaMismatch(f"Tensor {t.name!r} has shape {shape} but carries "
                                 f"{len(values)} values.", field=t.name)
        inputs.append({"name": t.name, "shape": shape, "datatype": t.datatype,
                       "data": values})
    body: dict[str, Any] = {"inputs": inputs, "parameters": parameters_of(request.parameters)}
    if request.outputs:
        body["outputs"] = [{"name": o.name} for o in request.outputs]
    return body


def _parameter(value: Any) -> pb.InferParameter:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    if isinstance(value, str):
        return pb.InferParameter(string_param=value)
    return pb.InferParameter(string_param=orjson.dumps(value).decode())


def _raw(values: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for v in values:
            data = v if isinstance(v, bytes) else str(v).encode()
            parts.append(_LENGTH.pack(len(data)) + data)
        return b"".join(parts)
    dtype = _FORMS[datatype][1]
    return np.asarray(values, dtype=dtype).tobytes()


def _contents(values: list[Any], datatype: str) -> pb.InferTensorContents:
    field = _FORMS[datatype][0]
    if datatype == "BYTES":
        values = [v if isinstance(v, bytes) else str(v).encode() for v in values]
    return pb.InferTensorContents(**{field: values})  # type: ignore[arg-type]


def response_message(answer: dict[str, Any], *, raw: bool) -> pb.ModelInferResponse:
    """The gRPC form of a REST infer answer (``protocol.infer_response``)."""
    out = pb.ModelInferResponse(model_name=answer["model_name"],
                                model_version=answer["model_version"],
                                id=answer.get("id") or "")
    for key, value in answer.get("parameters", {}).items():
        out.parameters[key].CopyFrom(_parameter(value))
    for o in answer["outputs"]:
        tensor = out.outputs.add(name=o["name"], datatype=o["datatype"], shape=o["shape"])
        for key, value in o.get("parameters", {}).items():
            tensor.parameters[key].CopyFrom(_parameter(value))
        if raw:
            out.raw_output_contents.append(_raw(o["data"], o["datatype"]))
        else:
            tensor.contents.CopyFrom(_contents(o["data"], o["datatype"]))
    return out
