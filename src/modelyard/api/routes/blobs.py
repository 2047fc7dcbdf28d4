"""Content-addressed blobs over HTTP, streamed both ways.

    PUT  /api/v1/blobs/{digest}   body: the bytes; stored only if they hash to {digest} (422 if not)
    GET  /api/v1/blobs/{digest}   the bytes, streamed; header ``X-Content-SHA256``
    HEAD /api/v1/blobs/{digest}   200 with Content-Length if stored, 404 if not

An upload is streamed into the artifact store's temporary file while it is hashed, so memory
stays bounded, and is renamed into place only when it hashes to ``{digest}``: a mismatch or a
dropped connection leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ...access import requires
from ...artifacts.store import CHUNK, ArtifactStore, check_digest
from ...errors import NotFound
from ..errors import ERROR_RESPONSES

__all__ = ["DIGEST_HEADER", "router"]

DIGEST_HEADER = "X-Content-SHA256"
_DIGEST = Path(..., description="sha256 of the content, 64 lowercase hex characters")

router = APIRouter(prefix="/blobs", tags=["blobs"])


def _artifacts(request: Request) -> ArtifactStore:
    return request.app.state.backend.artifacts  # type: ignore[no-any-return]


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
@requires("write")
async def put_blob(request: Request, digest: str = _DIGEST) -> dict[str, Any]:
    check_digest(digest)
    store = _artifacts(request)
    writer = await run_in_threadpool(store.writer)
    with writer:  # anything but a commit removes the temporary file
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= CHUNK:
                await run_in_threadpool(writer.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(writer.write, bytes(pending))
        await run_in_threadpool(writer.commit, digest)  # 422 if the bytes hash to another digest
    return {"digest": digest, "size": writer.size}


@router.head(
    "/{digest}",
    operation_id="blobs_exists",
    summary="Whether a blob is stored, and its size",
    responses=ERROR_RESPONSES,
)
@requires("read")
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
@requires("read")
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
