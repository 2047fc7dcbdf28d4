"""Content-addressed blobs: stored once, atomic, verified on read, paths validated."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from modelyard.artifacts.store import check_relative_path, open_artifact_store
from modelyard.errors import IntegrityError, InvalidParameter, NotFound


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return open_artifact_store(str(tmp_path / "art"))
    return open_artifact_store(f"memory://yard-{tmp_path.name}")


def test_same_content_stored_once(store) -> None:
    d1 = store.put_bytes(b"abc")
    d2 = store.put_bytes(b"abc")
    assert d1 == d2 == hashlib.sha256(b"abc").hexdigest()
    blobs = store.fs.find(f"{store.root}/blobs")
    assert len(blobs) == 1


def test_put_stream_and_file_roundtrip(store, tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000
    digest, size = store.put_stream(io.BytesIO(data))
    assert size == len(data)
    assert store.get_bytes(digest) == data
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    assert store.put_file(src) == digest
    out = store.get_file(digest, tmp_path / "out" / "f.bin")
    assert out.read_bytes() == data


def test_corrupt_blob_is_refused(store, tmp_path: Path) -> None:
    digest = store.put_bytes(b"genuine")
    with store.fs.open(store.blob_path(digest), "wb") as fh:
        fh.write(b"tampered")
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get_bytes(digest)
    with pytest.raises(IntegrityError):
        store.get_file(digest, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


def test_missing_blob_is_not_found(store) -> None:
    with pytest.raises(NotFound, match="No blob"):
        store.get_bytes("0" * 64)


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs", "a//b", "a/../b", "a b", ""])
def test_relative_paths_are_validated(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="relative path"):
        check_relative_path(bad)


def test_bad_digest_rejected(store) -> None:
    with pytest.raises(InvalidParameter, match="64 lowercase hex"):
        store.blob_path("../../x")
