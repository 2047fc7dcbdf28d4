"""Blobs addressed by sha256 on any fsspec URL (local folder, ``memory://``, s3, gcs …).

Layout: ``{root}/blobs/sha256/ab/abcdef…``. A write goes to a temporary name, then is renamed
into place, so a reader never sees half a blob; the same content is stored once. Every read
checks the digest and raises :class:`~modelyard.errors.IntegrityError` on a mismatch.
Files that are not blobs (Parquet datasets, prediction-log partitions) live under other
prefixes of the same root and are reached with :meth:`ArtifactStore.path`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import IntegrityError, InvalidParameter, NotFound
from ..ids import new_id

__all__ = ["ArtifactStore", "open_artifact_store", "sha256_file", "CHUNK"]

CHUNK = 1 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_REL_PATH = re.compile(r"^[A-Za-z0-9_.=\-]+(/[A-Za-z0-9_.=\-]+)*$")


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidParameter(
            f"digest must be 64 lowercase hex characters (sha256). Got {digest!r} instead.",
            field="digest",
        )
    return digest


def check_relative_path(path: str, *, field: str = "path") -> str:
    """A path under the store built from names we were given: no '..', no absolute paths."""
    if not isinstance(path, str) or not _REL_PATH.match(path) or any(
        part in ("", ".", "..") for part in path.split("/")
    ):
        raise InvalidParameter(
            f"{field} must be a relative path of letters, digits and '._-=' separated by '/'. "
            f"Got {path!r} instead.",
            field=field,
        )
    return path


class ArtifactStore:
    """Content-addressed blob store rooted at ``url``. Build with :func:`open_artifact_store`."""

    def __init__(self, url: str, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/")
        self.is_local = isinstance(fs, LocalFileSystem)

    # ---- paths ----------------------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/blobs/sha256/{digest[:2]}/{digest}"

    def path(self, relative: str) -> str:
        """The full path of a non-blob file under the root (validated, never escapes it)."""
        return f"{self.root}/{check_relative_path(relative)}"

    def uri(self, relative: str) -> str:
        """A URL for ``relative`` that fsspec/pyarrow/duckdb can open."""
        full = self.path(relative)
        if self.is_local:
            return full
        protocol = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        return f"{protocol}://{full.lstrip('/')}" if protocol != "memory" else f"memory://{full}"

    # ---- writes ---------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._atomic_write(self.blob_path(digest), [data])
        return digest

    def put_stream(self, stream: BinaryIO | IO[bytes]) -> tuple[str, int]:
        """Store everything read from ``stream``; returns (digest, size). Memory stays bounded."""
        with tempfile.NamedTemporaryFile(prefix="modelyard-", delete=False) as tmp:
            h = hashlib.sha256()
            size = 0
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                h.update(chunk)
                tmp.write(chunk)
                size += len(chunk)
        try:
            digest = h.hexdigest()
            if not self.exists(digest):
                self._put_local_file(tmp.name, self.blob_path(digest))
            return digest, size
        finally:
            if os.path.exists(tmp.name):
                os.unlink(tmp.name)

    def put_file(self, path: str | os.PathLike[str]) -> str:
        src = Path(path)
        if not src.is_file():
            raise NotFound(f"No file at {str(src)!r}.", field="path")
        digest = sha256_file(src)
        if not self.exists(digest):
            self._put_local_file(str(src), self.blob_path(digest), copy=True)
        return digest

    def write_file(self, relative: str, data: bytes) -> str:
        """Write a non-blob file atomically (temporary name, then rename); returns its path."""
        full = self.path(relative)
        self._atomic_write(full, [data])
        return full

    def put_local_file_at(self, local: str | os.PathLike[str], relative: str) -> str:
        """Copy a local file to ``relative`` atomically; returns its full path."""
        full = self.path(relative)
        self._put_local_file(str(local), full, copy=True)
        return full

    def _atomic_write(self, dest: str, chunks: Iterable[bytes]) -> None:
        parent = dest.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{new_id()}"
        with self.fs.open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        self._rename(tmp, dest)

    def _put_local_file(self, src: str, dest: str, copy: bool = False) -> None:
        parent = dest.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{new_id()}"
        if self.is_local:
            shutil.copyfile(src, tmp)
        else:
            self.fs.put_file(src, tmp)
        self._rename(tmp, dest)

    def _rename(self, tmp: str, dest: str) -> None:
        if self.is_local:
            os.replace(tmp, dest)
        else:
            self.fs.mv(tmp, dest)

    # ---- reads ----------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.blob_path(digest)))

    def size(self, digest: str) -> int:
        try:
            return int(self.fs.size(self.blob_path(digest)))
        except FileNotFoundError as exc:
            raise NotFound(f"No blob with digest {digest}.", field="digest") from exc

    def get_bytes(self, digest: str) -> bytes:
        try:
            with self.fs.open(self.blob_path(digest), "rb") as fh:
                data = fh.read()
        except FileNotFoundError as exc:
            raise NotFound(f"No blob with digest {digest}.", field="digest") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(
                f"Blob {digest} is corrupt: its content hashes to {actual}. "
                "Refusing to use it."
            )
        return data

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        """Stream a blob; the digest is checked when the last chunk has been read."""
        h = hashlib.sha256()
        try:
            fh = self.fs.open(self.blob_path(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"No blob with digest {digest}.", field="digest") from exc
        with fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
                yield chunk
        if h.hexdigest() != digest:
            raise IntegrityError(
                f"Blob {digest} is corrupt: its content hashes to {h.hexdigest()}."
            )

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a blob to a local file, verified; nothing is left at ``dest`` on a mismatch."""
        out = Path(dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{new_id()}")
        try:
            with open(tmp, "wb") as fh:
                for chunk in self.iter_chunks(digest):
                    fh.write(chunk)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
        return out

    def open_stream(self, digest: str) -> io.BytesIO:
        return io.BytesIO(self.get_bytes(digest))


def open_artifact_store(url: str) -> ArtifactStore:
    """An artifact store for a local folder or any fsspec URL."""
    if "://" not in url or url.startswith("file://"):
        local = url[len("file://"):] if url.startswith("file://") else url
        root = str(Path(local).expanduser().resolve())
        fs: fsspec.AbstractFileSystem = LocalFileSystem()
        fs.makedirs(root, exist_ok=True)
        return ArtifactStore(url, fs, root)
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise InvalidParameter(
            f"artifacts must be a folder or an fsspec URL such as 's3://bucket/yard'. "
            f"Got {url!r}: {exc}",
            field="artifacts",
        ) from exc
    return ArtifactStore(url, fs, root or "/")
