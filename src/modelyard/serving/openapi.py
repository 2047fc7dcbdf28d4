"""The model server's OpenAPI document (``GET /openapi.json``): its routes, what they take and
the JSON error every refusal answers with. The server is a plain ASGI app (``app.py``), so the
document is written here by hand; ``tests/fuzz`` drives the server from it."""

from __future__ import annotations

from typing import Any

from .. import __version__

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_ANY = {"type": "object", "additionalProperties": True}


def _answers(ok: dict[str, Any] | None, *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", "content": {
        "application/json": {"schema": ok or _ANY}}}}
    for code in codes:
        out[str(code)] = {"description": "refused", "content": {
            "application/json": {"schema": _ERROR}}}
    return out


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _name(where: str = "name") -> dict[str, Any]:
    return {"name": where, "in": "path", "required": True, "schema": {"type": "string"}}


_AUTH = (401, 403)
_PREDICT = {"type": "object", "properties": {
    "records": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    "columns": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
    "request_key": {"type": "string"},
    "proba": {"type": "boolean"},
}}
_TENSOR = {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
    "datatype": {"type": "string"}, "data": {"type": "array", "items": {}},
}}
_INFER = {"type": "object", "required": ["inputs"], "properties": {
    "id": {"type": "string"},
    "inputs": {"type": "array", "items": _TENSOR},
    "outputs": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}}}},
    "parameters": {"type": "object", "additionalProperties": True},
}}
_FEEDBACK = {"type": "object", "properties": {
    "prediction_id": {"type": "string"}, "label": {},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "prediction_id": {"type": "string"}, "label": {}}}},
}}
_ENDPOINT = {"type": "object", "properties": {
    "routes": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "model": {"type": "string"},
        "weight": {"type": "number"}}}},
    "shadows": {"type": "array", "items": _ANY},
    "sticky": {"type": "boolean"},
    "max_rows": {"type": "integer"},
    "privacy": {"type": "object", "properties": {
        "mask": {"type": "string", "enum": ["drop", "hash", "keep"]},
        "retention_days": {"type": "integer"}}},
}}
_CANARY = {"type": "object", "properties": {
    "model": {"type": "string"},
    "steps": {"type": "array", "items": {"type": "number"}},
    "interval_s": {"type": "number"},
}}


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the model server."""
    text = {"200": {"description": "OK", "content": {"text/plain": {"schema": {
        "type": "string"}}}}}
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "Liveness", "responses": _answers(None)}},
        "/readyz": {"get": {"summary": "Readiness and each endpoint's state",
                            "responses": _answers(None, 503)}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {**text, **{
            str(c): {"description": "refused", "content": {"application/json": {
                "schema": _ERROR}}} for c in _AUTH}}}},
        "/predict/{endpoint}": {"post": {
            "summary": "Predict rows", "parameters": [_name("endpoint")],
            "requestBody": _body(_PREDICT),
            "responses": _answers(None, 400, *_AUTH, 404, 413, 422, 503)}},
        "/v2": {"get": {"summary": "Server metadata", "responses": _answers(None, *_AUTH)}},
        "/v2/health/live": {"get": {"summary": "Live", "responses": _answers(None)}},
        "/v2/health/ready": {"get": {"summary": "Ready", "responses": _answers(None, 503)}},
        "/v2/models/{name}": {"get": {"summary": "Model metadata", "parameters": [_name()],
                                      "responses": _answers(None, *_AUTH, 404, 503)}},
        "/v2/models/{name}/ready": {"get": {"summary": "Model ready", "parameters": [_name()],
                                            "responses": _answers(None, *_AUTH, 404, 503)}},
        "/v2/models/{name}/infer": {"post": {
            "summary": "Open Inference Protocol inference", "parameters": [_name()],
            "requestBody": _body(_INFER),
            "responses": _answers(None, 400, *_AUTH, 404, 413, 422, 503)}},
        "/feedback": {"post": {"summary": "Ground-truth labels", "requestBody": _body(_FEEDBACK),
                               "responses": _answers(None, 400, *_AUTH, 404, 413, 422)}},
        "/endpoints": {"get": {"summary": "Endpoints served", "responses": _answers(
            {"type": "array", "items": _ANY}, *_AUTH)}},
        "/endpoints/{name}": {
            "get": {"summary": "One endpoint", "parameters": [_name()],
                    "responses": _answers(None, *_AUTH, 404)},
            "put": {"summary": "Declare or change an endpoint (admin)", "parameters": [_name()],
                    "requestBody": _body(_ENDPOINT),
                    "responses": _answers(None, 400, *_AUTH, 404, 409, 413, 422, 503)},
            "delete": {"summary": "Remove an endpoint declared through the API (admin)",
                       "parameters": [_name()], "responses": _answers(None, *_AUTH, 404, 409,
                                                                      422)},
        },
        "/endpoints/{name}/canary": {
            "post": {"summary": "Start a canary (admin)", "parameters": [_name()],
                     "requestBody": _body(_CANARY),
                     "responses": _answers(None, 400, *_AUTH, 404, 409, 413, 422, 503)},
            "delete": {"summary": "Abort the canary (admin)", "parameters": [_name()],
                       "responses": _answers(None, *_AUTH, 404, 409)},
        },
        "/endpoints/{name}/canaries": {"get": {
            "summary": "Canary history", "parameters": [_name()],
            "responses": _answers({"type": "array", "items": _ANY}, *_AUTH, 404)}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "modelyard model server", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["error", "message"],
                                  "properties": {"error": {"type": "string"},
                                                 "message": {"type": "string"},
                                                 "field": {"type": "string", "nullable": True}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
