"""Content-addressed blobs over HTTP, streamed both ways.

    PUT  /api/v1/blobs/{digest}   body: the bytes; stored only if they hash to {digest} (422 if not)
    GET  /api/v1/blobs/{digest}   the bytes, streamed; header ``X-Content-SHA256``
    HEAD /api/v1/blobs/{digest}   200 with Content-Length if stored, 404 if not

An upload is streamed to a temporary file while it is hashed, so memory stays bounded; a body
over ``Settings.max_request_bytes`` is 413.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ...artifacts.store import ArtifactStore, check_digest
from ...errors import InvalidParameter, NotFound
from ..errors import ERROR_RESPONSES

__all__ = ["DIGEST_HEADER", "router"]

DIGEST_HEADER = "X-Content-SHA256"
_DIGEST = Path(..., description="sha256 of the content, 64 lowercase hex characters")

router = APIRouter(prefix="/blobs", tags=["blobs"])


def _artifacts(request: Request) -> ArtifactStore:
    return request.app.state.backend.artifacts  # type: ignore[no-any-return]


class _Upload:
    """A request body spooled to a temporary file while it is hashed."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="modelyard-upload-")
        self.fh = os.fdopen(fd, "wb")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        self.fh.write(chunk)
        self.size += len(chunk)

    def discard(self) -> None:
        self.fh.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


@router.put(
    "/{digest}",
    status_code=201,
    operation_id="blobs_put",
    summary="Upload a blob (streamed; checked against its digest)",
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_blob(request: Request, digest: str = _DIGEST) -> dict[str, Any]:
    check_digest(digest)
    store = _artifacts(request)
    upload = _Upload()
    try:
        async for chunk in request.stream():
            if chunk:
                upload.write(chunk)
        upload.fh.close()
        actual = upload.sha.hexdigest()
        if actual != digest:
            raise InvalidParameter(
                f"The uploaded content must hash to {digest}. Got {actual} instead "
                f"({upload.size} bytes).",
                field="digest",
            )
        if not await run_in_threadpool(store.exists, digest):
            await run_in_threadpool(store.put_file, upload.path)
    finally:
        upload.discard()
    return {"digest": digest, "size": upload.size}


@router.head(
    "/{digest}",
    operation_id="blobs_exists",
    summary="Whether a blob is stored, and its size",
    responses=ERROR_RESPONSES,
)
async def head_blob(request: Request, digest: str = _DIGEST) -> Response:
    check_digest(digest)
    store = _artifacts(request)
    size = await run_in_threadpool(store.size, digest)  # NotFound -> 404
    return Response(
        status_code=200,
        headers={"Content-Length": str(size), DIGEST_HEADER: digest, "ETag": f'"{digest}"'},
    )


@router.get(
    "/{digest}",
    operation_id="blobs_get",
    summary="Download a blob (streamed)",
    responses={
        **ERROR_RESPONSES,
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        },
    },
    response_class=StreamingResponse,
)
async def get_blob(request: Request, digest: str = _DIGEST) -> StreamingResponse:
    check_digest(digest)
    store = _artifacts(request)
    try:
        size = await run_in_threadpool(store.size, digest)
    except NotFound:
        raise NotFound(f"No blob with digest {digest}.", field="digest") from None
    return StreamingResponse(
        store.iter_chunks(digest),  # a sync iterator: Starlette runs it in a worker thread
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), DIGEST_HEADER: digest, "ETag": f'"{digest}"'},
    )
