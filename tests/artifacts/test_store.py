"""Content-addressed blobs: stored once, atomic, verified on read, paths validated."""

from __future__ import annotations

import hashlib
import io
import os
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
        store.get_file(digest, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()
    # the corrupt file was moved aside: the blob now reads as missing, not as good
    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.get_bytes(digest)
    assert store.fs.find(f"{store.root}/quarantine")


def _flip_a_byte(store, digest: str) -> None:
    path = store.blob_path(digest)
    with store.fs.open(path, "rb") as fh:
        data = bytearray(fh.read())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    with store.fs.open(path, "wb") as fh:
        fh.write(bytes(data))


def test_a_blob_that_failed_its_digest_on_read_is_replaced_by_the_next_upload(store) -> None:
    data = bytes(range(256)) * 4000
    digest = store.put_bytes(data)
    _flip_a_byte(store, digest)
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get_bytes(digest)
    assert store.put_bytes(data) == digest
    assert store.get_bytes(digest) == data


@pytest.mark.parametrize("put", ["bytes", "stream", "file"])
def test_an_upload_over_a_corrupt_blob_not_yet_read_replaces_it(
    store, tmp_path: Path, put: str
) -> None:
    data = bytes(range(256)) * 4000
    digest = store.put_bytes(data)
    _flip_a_byte(store, digest)
    if put == "bytes":
        store.put_bytes(data)
    elif put == "stream":
        store.put_stream(io.BytesIO(data))
    else:
        src = tmp_path / "again.bin"
        src.write_bytes(data)
        store.put_file(src)
    assert store.get_bytes(digest) == data


def test_local_blobs_and_files_are_fsynced_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes are on disk before the name points at them, and the directory entry after."""
    store = open_artifact_store(str(tmp_path / "art"))
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    src = tmp_path / "f.bin"
    src.write_bytes(b"a file")
    digests = [store.put_bytes(b"some bytes"), store.put_stream(io.BytesIO(b"a stream"))[0],
               store.put_file(src)]
    store.write_file("logs/part.parquet", b"not a blob")
    store.put_local_file_at(src, "logs/copy.bin")
    renames = [c[1] for c in calls if c[0] == "replace"]
    assert len(renames) == 5
    for rename in renames:
        tmp, dest = rename.split(" -> ")
        at = calls.index(("replace", rename))
        assert ("fsync", tmp) in calls[:at], f"{tmp} renamed to {dest} before it was fsync'd"
        assert ("fsync", os.path.dirname(dest)) in calls[at:], f"{dest}'s folder not fsync'd"
    assert all(store.get_bytes(d) for d in digests)


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
