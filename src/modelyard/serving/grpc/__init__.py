"""The Open Inference Protocol over gRPC (KServe's V2 ``GRPCInferenceService``), a thin face
over the request path REST uses (``serving/request_path.py``).

    convert.py                 request tensors (typed or raw contents) to the REST body's form,
                               results to output tensors; errors to gRPC status codes
    servicer.py                the six RPCs, auth from metadata, errors mapped in one place
    server.py                  the grpc.aio server on the model server's event loop
    grpc_predict_v2.proto      KServe's published protocol (docs/predict-api/v2), unchanged
    grpc_predict_v2_pb2*.py    generated from it; do not edit

Regenerate the generated modules (after a grpcio-tools upgrade) from the repository root:

    .venv/bin/python -m grpc_tools.protoc -I src --python_out=src --grpc_python_out=src \\
        --pyi_out=src src/modelyard/serving/grpc/grpc_predict_v2.proto

The protocol's messages live in the protobuf package ``inference`` (the wire names clients
call: ``/inference.GRPCInferenceService/ModelInfer``), as Triton's and MLServer's do, so one
process cannot import two of them: run a Triton client in another process than this server.
"""

from __future__ import annotations

__all__: list[str] = []
