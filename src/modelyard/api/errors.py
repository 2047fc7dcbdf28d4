"""Every error of the REST server as one JSON shape.

    4xx  {"error": code, "message": "...", "field": "name" | null}
    500  {"error": "internal", "id": "<uuid>"}      the traceback is logged under that id

* a :class:`~modelyard.errors.ModelyardError` keeps its ``code`` and ``status_code``;
* a request that does not validate is 422 naming the first bad field (dotted: ``metrics.0.value``);
* a body that is not JSON is 400; a body over ``max_request_bytes`` is 413 (blob uploads,
  streamed to disk, are not capped);
* a value the database cannot hold is 422, a violated unique/foreign key 409;
* a database that cannot be reached (or is locked past its timeout) is 503: retry later;
* an unknown route is 404, a known route with another method 405;
* anything else is a bug: 500 with an id to find the logged traceback, never the traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ModelyardError

__all__ = [
    "ERROR_RESPONSES",
    "ErrorBody",
    "InternalErrorMiddleware",
    "PayloadTooLarge",
    "RequestSizeMiddleware",
    "error_response",
    "install_error_handlers",
]

logger = logging.getLogger("modelyard.api")

_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class PayloadTooLarge(ModelyardError):
    """A request body over ``Settings.max_request_bytes``."""

    code = "too_large"
    status_code = 413


def _error_body_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["error", "message"],
    }


ErrorBody = _error_body_schema()

# Added to every generated route's OpenAPI entry: the error shapes a client must expect.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"schema": ErrorBody}}}
    for status, text in (
        (400, "Malformed request (not JSON, or a filter that does not parse)"),
        (401, "Missing or bad bearer token"),
        (403, "The token's role lacks the permission this operation needs"),
        (404, "Unknown name or route"),
        (409, "Already exists, or a write that collided with a concurrent one (retry it)"),
        (413, "Request body too large"),
        (422, "Invalid parameter"),
    )
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": code, "message": message, "field": field}
    return Response(
        orjson.dumps(body),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def _dotted(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or None


def _first_error(errors: Sequence[Any]) -> tuple[str | None, str, str]:
    """(field, message, pydantic error type) of the first validation error."""
    if not errors:
        return None, "The request is invalid.", "invalid"
    err = errors[0]
    loc = err.get("loc", ())
    field = _dotted(loc)
    where = f"{loc[0]} " if loc and str(loc[0]) in _LOCATIONS else ""
    what = f"{where}field {field!r}" if field else f"{where or 'request '}".strip()
    got = err.get("input")
    message = f"{what}: {err.get('msg', 'invalid')}."
    if err.get("type") not in ("missing", "json_invalid") and got is not None:
        shown = repr(got)
        message = message[:-1] + f". Got {shown[:200]} instead."
    return field, message, str(err.get("type", "invalid"))


async def _on_modelyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelyardError)
    if exc.status_code >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, exc.message, exc.field, headers)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    field, message, kind = _first_error(errors)
    if kind == "model_attributes_type" and isinstance(errors[0].get("input"), bytes):
        kind = "json_invalid"  # a body sent without Content-Type: application/json
    if kind == "json_invalid":
        detail = (errors[0].get("ctx") or {}).get("error", "")
        return error_response(
            400,
            "bad_request",
            f"The request body must be JSON. It is not: {detail or 'it does not parse'}.",
        )
    return error_response(422, "invalid_parameter", message, field)


async def _on_domain_validation_error(request: Request, exc: Exception) -> Response:
    # A pydantic model built from the caller's values inside the domain: still bad input.
    assert isinstance(exc, ValidationError)
    field, message, _ = _first_error(exc.errors())
    return error_response(422, "invalid_parameter", message, field)


def _database_refusal(status: int, code: str, message: str) -> Any:
    """A handler for an error the database raised on the caller's values: bad input that the
    domain let through (an int past 64 bits, a duplicate …), so a 4xx, not a 500."""

    async def handler(request: Request, exc: Exception) -> Response:
        logger.info("%s %s: the database refused: %s", request.method, request.url.path, exc)
        return error_response(status, code, message)

    return handler


_VALUE_OUT_OF_RANGE = _database_refusal(
    422,
    "invalid_parameter",
    "A value is out of the range the database can store (integers must fit in 64 bits, "
    "versions and counts in 32, names in their maximum length).",
)
_CONFLICT = _database_refusal(
    409,
    "conflict",
    "The request conflicts with what is stored (a duplicate, or a reference to something "
    "that does not exist).",
)


async def _on_database_unavailable(request: Request, exc: Exception) -> Response:
    orig = getattr(exc, "orig", exc)
    logger.warning("%s %s: the database is unavailable: %s", request.method, request.url.path,
                   str(orig).splitlines()[0] if str(orig) else type(orig).__name__)
    return error_response(503, "unavailable", "The database is unavailable "
                          f"({type(orig).__name__}); nothing was written. Retry later.")


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, "error" if status >= 500 else "bad_request")
    if status == 404 and exc.detail in ("Not Found", None):
        message = f"No route {request.method} {request.url.path}. The routes are listed at /docs."
    elif status == 405:
        message = f"{request.url.path} does not accept {request.method}."
    elif status == 400 and exc.detail == "There was an error parsing the body":
        return error_response(400, code, _unparsable_body(exc.__cause__), "body")
    else:
        message = str(exc.detail)
    return error_response(status, code, message, None, dict(exc.headers or {}) or None)


def _unparsable_body(cause: BaseException | None) -> str:
    """What FastAPI's body parsing hit that is not a JSON syntax error (it says only "There
    was an error parsing the body"): nesting past the parser's recursion limit, or bytes
    that are not UTF-8."""
    if isinstance(cause, RecursionError):
        return ("The request body must be JSON nested at most a few hundred levels deep. Got "
                "deeper nesting.")
    if isinstance(cause, UnicodeDecodeError):
        return (f"The request body must be UTF-8 JSON. Got the byte "
                f"0x{cause.object[cause.start]:02x} at position {cause.start}, which is not "
                "UTF-8.")
    return f"The request body must be JSON. It could not be read ({type(cause).__name__})."


def _too_large_message(limit: int) -> str:
    return f"The request body must be at most {limit} bytes (max_request_bytes). It is larger."


def install_error_handlers(
    app: FastAPI, max_request_bytes: int, unbounded_prefixes: Sequence[str] = ()
) -> None:
    """Give ``app`` the JSON error shapes above (the 500 one is :class:`InternalErrorMiddleware`).

    :class:`RequestSizeMiddleware` bounds request bodies, except on paths starting with one of
    ``unbounded_prefixes`` (routes that stream their body to disk, such as blob uploads).
    """
    app.add_exception_handler(ModelyardError, _on_modelyard_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ValidationError, _on_domain_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(OverflowError, _VALUE_OUT_OF_RANGE)
    app.add_exception_handler(sa_exc.DataError, _VALUE_OUT_OF_RANGE)
    app.add_exception_handler(sa_exc.IntegrityError, _CONFLICT)
    app.add_exception_handler(sa_exc.OperationalError, _on_database_unavailable)
    app.add_exception_handler(sa_exc.InterfaceError, _on_database_unavailable)
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(RequestSizeMiddleware, max_request_bytes=max_request_bytes,
                       unbounded_prefixes=tuple(unbounded_prefixes))


class RequestSizeMiddleware:
    """413 as the JSON error for a body over ``max_request_bytes``: at once when the declared
    ``Content-Length`` is over, else as soon as the bytes read so far are (chunked uploads).
    Paths under ``unbounded_prefixes`` are not counted: their routes stream the body to disk."""

    def __init__(self, app: ASGIApp, max_request_bytes: int,
                 unbounded_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = max_request_bytes
        self.unbounded = unbounded_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.unbounded and scope["path"].startswith(self.unbounded)):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            response = error_response(413, "too_large", _too_large_message(self.limit))
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # an HTTPException passes FastAPI's body parsing unchanged -> JSON 413
                    raise StarletteHTTPException(413, _too_large_message(self.limit))
            return message

        await self.app(scope, counting_receive, send)


class InternalErrorMiddleware:
    """Turn an unexpected exception into ``500 {"error": "internal", "id": …}``.

    Sits inside Starlette's own ServerErrorMiddleware, so the exception is logged once (with
    its id) and not raised again; a response already under way is cut off instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            error_id = str(uuid.uuid4())
            logger.exception(
                "internal error %s on %s %s", error_id, scope.get("method"), scope.get("path")
            )
            if started:
                raise
            body = orjson.dumps(
                {
                    "error": "internal",
                    "id": error_id,
                    "message": f"Internal server error (id {error_id}).",
                }
            )
            response = Response(body, status_code=500, media_type="application/json")
            await response(scope, receive, send)
