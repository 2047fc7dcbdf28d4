"""Blobs of a remote yard: the methods the domain uses on ``ArtifactStore``, over HTTP.

Uploads and downloads are streamed (memory stays bounded); every download is checked against
its digest, and a mismatch raises :class:`~modelyard.errors.IntegrityError` with nothing left at
the destination. ``progress`` (set by the CLI) is told about every transfer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from ..artifacts.store import (
    CHUNK,
    ArtifactStore,
    ProgressHook,
    check_digest,
    no_progress,
    sha256_file,
)
from ..errors import IntegrityError, NotFound
from .rpc import HttpTransport

__all__ = ["HttpBlobStore", "ProgressHook"]


class HttpBlobStore:
    """Content-addressed blobs on ``modelyard server`` (``/api/v1/blobs/{digest}``)."""

    is_local = False

    def __init__(self, transport: HttpTransport, progress: ProgressHook | None = None) -> None:
        self.transport = transport
        self.progress = progress

    @property
    def url(self) -> str:
        return f"{self.transport.base_url}/api/v1/blobs"

    def _progress(
        self, description: str, total: int | None
    ) -> contextlib.AbstractContextManager[Callable[[int], None]]:
        return (self.progress or no_progress)(description, total)

    # ---- writes ---------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self.transport.request(
                "PUT",
                f"/blobs/{digest}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        return digest

    def scratch_dir(self) -> Path | None:
        """None: files meant to become blobs are uploaded, never renamed into place."""
        return None

    def put_file(self, path: str | os.PathLike[str], *, move: bool = False,
                 progress: Callable[[int], None] | None = None) -> str:
        """Upload a local file (streamed; the server checks it against its digest). ``move``:
        the file is removed once stored. ``progress`` replaces the store's own bar."""
        src = Path(path)
        if not src.is_file():
            raise NotFound(f"No file at {str(src)!r}.", field="path")
        digest = sha256_file(src)
        if not self.exists(digest):
            self._upload(src, digest, progress)
        if move:
            src.unlink()
        return digest

    def _upload(self, src: Path, digest: str, progress: Callable[[int], None] | None) -> None:
        size = src.stat().st_size
        bar = self._progress(f"upload {src.name}", size) if progress is None \
            else contextlib.nullcontext(progress)
        with bar as advance, open(src, "rb") as fh:

            def chunks() -> Iterator[bytes]:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    advance(len(chunk))
                    yield chunk

            self.transport.request(
                "PUT",
                f"/blobs/{digest}",
                content=chunks(),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )

    def put_stream(self, stream: BinaryIO | IO[bytes]) -> tuple[str, int]:
        """Store everything read from ``stream``; returns (digest, size). Spooled to a temporary
        file first: the digest names the upload, so it must be known before it starts."""
        with tempfile.NamedTemporaryFile(prefix="modelyard-", delete=False) as tmp:
            size = 0
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                tmp.write(chunk)
                size += len(chunk)
        try:
            return self.put_file(tmp.name), size
        finally:
            os.unlink(tmp.name)

    # ---- reads ----------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        check_digest(digest)
        try:
            self.transport.request("HEAD", f"/blobs/{digest}")
        except NotFound:
            return False
        return True

    def size(self, digest: str) -> int:
        check_digest(digest)
        try:
            response = self.transport.request("HEAD", f"/blobs/{digest}")
        except NotFound:
            raise NotFound(f"No blob with digest {digest}.", field="digest") from None
        return int(response.headers["content-length"])

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        """Stream a blob; the digest is checked when the last chunk has been read."""
        check_digest(digest)
        h = hashlib.sha256()
        with self.transport.stream("GET", f"/blobs/{digest}") as response:
            total = int(response.headers.get("content-length", 0)) or None
            with self._progress(f"download {digest[:12]}", total) as advance:
                for chunk in response.iter_bytes(CHUNK):
                    h.update(chunk)
                    advance(len(chunk))
                    yield chunk
        if h.hexdigest() != digest:
            raise IntegrityError(
                f"Blob {digest} arrived corrupt: its content hashes to {h.hexdigest()}."
            )

    def get_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_chunks(digest))

    # The same code as the local store's: it only reads through ``self.iter_chunks`` /
    # ``self.get_bytes``, so downloads are verified and atomic here too.
    get_file = ArtifactStore.get_file
    open_stream = ArtifactStore.open_stream
