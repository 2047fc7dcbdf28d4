"""Blobs addressed by sha256 on any fsspec URL (local folder, ``memory://``, s3, gcs …).

Layout: ``{root}/blobs/sha256/ab/abcdef…``. A write streams to a temporary name while it is
hashed (:class:`BlobWriter`), is fsync'd (on a local folder), then renamed into place, so a
reader never sees half a blob and a crash never leaves a renamed blob whose bytes were not on
disk; the same content is stored once. Every read checks the digest and raises
:class:`~modelyard.errors.IntegrityError` on a mismatch, after moving the corrupt file to
``{root}/quarantine/`` so that the next upload of the same content stores it again (and a
write that finds a stored blob checks it before trusting it). Files that are not blobs
(Parquet datasets, prediction-log partitions) live under other prefixes of the same root and
are reached with :meth:`ArtifactStore.path`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol, Self

from ..errors import IntegrityError, InvalidParameter, NotFound
from ..ids import new_id

if TYPE_CHECKING:
    import fsspec

__all__ = [
    "CHUNK",
    "ArtifactStore",
    "BlobWriter",
    "ProgressHook",
    "no_progress",
    "open_artifact_store",
    "sha256_file",
]

CHUNK = 1 << 20
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_REL_PATH = re.compile(r"^[A-Za-z0-9_.=\-]+(/[A-Za-z0-9_.=\-]+)*$")


class ProgressHook(Protocol):
    """``with hook("upload model.skops", total_bytes) as advance: advance(n)``: told about the
    bytes of a long transfer (the CLI draws a progress bar)."""

    def __call__(
        self, description: str, total: int | None
    ) -> contextlib.AbstractContextManager[Callable[[int], None]]: ...


@contextlib.contextmanager
def no_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A :class:`ProgressHook` that shows nothing."""
    yield lambda n: None


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidParameter(
            f"digest must be 64 lowercase hex characters (sha256). Got {digest!r} instead.",
            field="digest",
        )
    return digest


def check_relative_path(path: str, *, field: str = "path") -> str:
    """A path under the store built from names we were given: no '..', no absolute paths."""
    if not isinstance(path, str) or not _REL_PATH.fullmatch(path) or any(
        part in ("", ".", "..") for part in path.split("/")
    ):
        raise InvalidParameter(
            f"{field} must be a relative path of letters, digits and '._-=' separated by '/'. "
            f"Got {path!r} instead.",
            field=field,
        )
    return path


class BlobWriter:
    """One blob being written: bytes are hashed as they are written to a temporary file under
    the store's root, and :meth:`commit` checks the digest, fsyncs and renames the file into
    place. Memory stays bounded whatever the size. Use as a context manager: leaving it without
    a commit (or with an error) removes the temporary file, so nothing is left behind.

    A file-like object (``write``, ``tell``, ``closed``, ``flush``): pyarrow's ParquetWriter
    can write straight into it.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.tmp = f"{store.root}/blobs/tmp/.tmp-{new_id()}"
        store.fs.makedirs(f"{store.root}/blobs/tmp", exist_ok=True)
        # held open across write() calls; closed by commit() or abort()
        self._fh: Any = (
            open(self.tmp, "wb") if store.is_local  # noqa: SIM115
            else store.fs.open(self.tmp, "wb")
        )
        self._sha = hashlib.sha256()
        self.size = 0
        self.closed = False
        self.digest: str | None = None

    def write(self, chunk: bytes | bytearray | memoryview) -> int:
        self._sha.update(chunk)
        self._fh.write(chunk)
        n = memoryview(chunk).nbytes
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        """Closing is not committing: :meth:`commit` stores the blob."""
        if not self.closed:
            self.closed = True
            self._fh.close()

    def commit(self, expected: str | None = None) -> str:
        """Store the bytes written as a blob; returns its digest. With ``expected``, bytes that
        hash to anything else raise :class:`InvalidParameter` and nothing is stored."""
        try:
            digest = self._sha.hexdigest()
            if expected is not None and digest != expected:
                raise InvalidParameter(
                    f"The uploaded content must hash to {expected}. Got {digest} instead "
                    f"({self.size} bytes).",
                    field="digest",
                )
            if self.store.verified(digest):
                self.abort()  # the same bytes are stored and intact: keep those
            else:
                if self.store.is_local and not self.closed:
                    self._fh.flush()
                    os.fsync(self._fh.fileno())  # the bytes are on disk before the name is
                self.close()
                self.store._move_into_place(self.tmp, self.store.blob_path(digest))
            self.digest = digest
            return digest
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop what was written (nothing is stored)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            if self.store.is_local:
                os.unlink(self.tmp)
            elif self.store.fs.exists(self.tmp):
                self.store.fs.rm(self.tmp)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.digest is None:
            self.abort()


class ArtifactStore:
    """Content-addressed blob store rooted at ``url``. Build with :func:`open_artifact_store`."""

    def __init__(self, url: str, fs: fsspec.AbstractFileSystem | None, root: str) -> None:
        """``fs`` None: a local folder (fsspec's LocalFileSystem, imported on first use)."""
        self.url = url
        self._fs = fs
        self.root = root.rstrip("/")
        self.is_local = fs is None or _is_local_fs(fs)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fs = LocalFileSystem()
        return self._fs

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
    def writer(self) -> BlobWriter:
        """A :class:`BlobWriter` streaming a new blob into this store."""
        return BlobWriter(self)

    def put_chunks(self, chunks: Iterable[bytes], expected: str | None = None) -> tuple[str, int]:
        """Store the concatenation of ``chunks``; returns (digest, size). With ``expected``,
        content that hashes to anything else is refused and nothing is stored."""
        with self.writer() as out:
            for chunk in chunks:
                out.write(chunk)
            return out.commit(expected), out.size

    def put_bytes(self, data: bytes) -> str:
        return self.put_chunks([data])[0]

    def put_stream(self, stream: BinaryIO | IO[bytes]) -> tuple[str, int]:
        """Store everything read from ``stream``; returns (digest, size). Memory stays bounded."""
        return self.put_chunks(iter(lambda: stream.read(CHUNK), b""))

    def put_file(self, path: str | os.PathLike[str], *, move: bool = False,
                 progress: Callable[[int], None] | None = None) -> str:
        """Store a local file as a blob; returns its digest. ``move``: the file is the
        caller's to give up, so on a local store under :meth:`scratch_dir` it is hashed,
        fsync'd and renamed into place rather than copied (it is gone afterwards).
        ``progress`` is told the bytes stored as they are."""
        src = Path(path)
        if not src.is_file():
            raise NotFound(f"No file at {str(src)!r}.", field="path")
        scratch = self.scratch_dir()
        if move and scratch is not None and src.resolve().parent.is_relative_to(scratch):
            digest = sha256_file(src)
            if self.verified(digest):
                src.unlink()
            else:
                with open(src, "rb+") as fh:
                    os.fsync(fh.fileno())
                self._move_into_place(str(src), self.blob_path(digest))
            if progress is not None:
                progress(self.size(digest))
            return digest
        with open(src, "rb") as fh:
            chunks = iter(lambda: fh.read(CHUNK), b"")
            digest = self.put_chunks(_reporting(chunks, progress) if progress else chunks)[0]
        if move:
            src.unlink()
        return digest

    def scratch_dir(self) -> Path | None:
        """A local folder on the store's own filesystem for files meant to become blobs
        (``put_file(path, move=True)`` renames them instead of copying); None when the store
        is not a local folder."""
        if not self.is_local:
            return None
        folder = Path(self.root) / "blobs" / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_file(self, relative: str, data: bytes) -> str:
        """Write a non-blob file atomically (temporary name, fsync, rename); returns its path."""
        full = self.path(relative)
        self._atomic_write(full, [data])
        return full

    def put_local_file_at(self, local: str | os.PathLike[str], relative: str) -> str:
        """Copy a local file to ``relative`` atomically; returns its full path."""
        full = self.path(relative)
        with open(local, "rb") as fh:
            self._atomic_write(full, iter(lambda: fh.read(CHUNK), b""))
        return full

    def _atomic_write(self, dest: str, chunks: Iterable[bytes]) -> None:
        parent = dest.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{new_id()}"
        try:
            if self.is_local:
                with open(tmp, "wb") as fh:
                    fh.writelines(chunks)
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                with self.fs.open(tmp, "wb") as fh:
                    fh.writelines(chunks)
            self._move_into_place(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                if self.is_local:
                    os.unlink(tmp)
                elif self.fs.exists(tmp):
                    self.fs.rm(tmp)
            raise

    def _move_into_place(self, tmp: str, dest: str) -> None:
        """Rename a complete (and, locally, fsync'd) file to ``dest``; on a local folder the
        directory entry is fsync'd too, so the rename survives a crash."""
        parent = dest.rsplit("/", 1)[0]
        if self.is_local:
            os.makedirs(parent, exist_ok=True)
            os.replace(tmp, dest)
            _fsync_dir(parent)
        else:
            self.fs.makedirs(parent, exist_ok=True)
            self.fs.mv(tmp, dest)

    # ---- reads ----------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.blob_path(digest)))

    def verified(self, digest: str) -> bool:
        """Whether the blob is stored and intact; a corrupt one is quarantined (so this and
        :meth:`exists` answer False until the content is uploaded again)."""
        try:
            for _ in self.iter_chunks(digest):
                pass
        except (NotFound, IntegrityError):
            return False
        return True

    def size(self, digest: str) -> int:
        try:
            return int(self.fs.size(self.blob_path(digest)))
        except FileNotFoundError as exc:
            raise NotFound(f"No blob with digest {digest}.", field="digest") from exc

    def get_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_chunks(digest))

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        """Stream a blob, verified: the last chunk is handed out only once the digest has been
        checked, so a reader (an HTTP client too) never gets the whole of a corrupt blob. A
        corrupt blob is quarantined, then :class:`IntegrityError` raised."""
        h = hashlib.sha256()
        with self._open(digest) as fh:
            identity = _identity(fh) if self.is_local else None
            held = fh.read(CHUNK)
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(held)
                yield held
                held = chunk
        h.update(held)
        if h.hexdigest() != digest:
            raise self.corrupt(digest, h.hexdigest(), identity)
        if held:
            yield held

    def _open(self, digest: str) -> Any:
        path = self.blob_path(digest)
        try:
            return open(path, "rb") if self.is_local else self.fs.open(path, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"No blob with digest {digest}.", field="digest") from exc

    def corrupt(self, digest: str, actual: str, identity: tuple[int, int] | None = None
                ) -> IntegrityError:
        """Quarantine the stored blob ``digest`` whose bytes hash to ``actual``; returns the
        error to raise. ``identity`` (device, inode) of the file that was read keeps a good
        blob renamed into place meanwhile from being moved."""
        path = self.blob_path(digest)
        target = f"{self.root}/quarantine/sha256/{digest}.{new_id()}"
        with contextlib.suppress(FileNotFoundError):
            if self.is_local:
                st = os.stat(path)
                if identity is None or (st.st_dev, st.st_ino) == identity:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.replace(path, target)
            else:
                self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                self.fs.mv(path, target)
        return IntegrityError(
            f"Blob {digest} is corrupt: its content hashes to {actual}. Refusing to use it; "
            f"it was moved to {target} and the next upload of the same content replaces it."
        )

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a blob to a local file, verified; nothing is left at ``dest`` on a mismatch."""
        out = Path(dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{new_id()}")
        try:
            with open(tmp, "wb") as fh:
                fh.writelines(self.iter_chunks(digest))
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
        return out

    def open_stream(self, digest: str) -> io.BytesIO:
        return io.BytesIO(self.get_bytes(digest))


def _reporting(chunks: Iterable[bytes], progress: Callable[[int], None]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        progress(len(chunk))


def _identity(fh: Any) -> tuple[int, int]:
    st = os.fstat(fh.fileno())
    return st.st_dev, st.st_ino


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_local_fs(fs: fsspec.AbstractFileSystem) -> bool:
    from fsspec.implementations.local import LocalFileSystem  # fsspec made ``fs``: loaded

    return isinstance(fs, LocalFileSystem)


def open_artifact_store(url: str) -> ArtifactStore:
    """An artifact store for a local folder or any fsspec URL."""
    if "://" not in url or url.startswith("file://"):
        local = url.removeprefix("file://")
        root = str(Path(local).expanduser().resolve())
        Path(root).mkdir(parents=True, exist_ok=True)
        return ArtifactStore(url, None, root)
    try:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise InvalidParameter(
            f"artifacts must be a folder or an fsspec URL such as 's3://bucket/yard'. "
            f"Got {url!r}: {exc}",
            field="artifacts",
        ) from exc
    return ArtifactStore(url, fs, root or "/")
