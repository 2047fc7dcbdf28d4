"""Blobs over HTTP: streamed both ways, digest checked on upload and on download."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.errors import IntegrityError, InvalidParameter, NotFound, RemoteError

LiveServer = Any


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_then_get_and_head(http: httpx.Client, server: LiveServer) -> None:
    data = os.urandom(10_000)
    digest = _sha(data)
    url = f"{server.url}/api/v1/blobs/{digest}"
    assert http.head(url).status_code == 404
    r = http.put(url, content=data)
    assert r.status_code == 201 and r.json() == {"digest": digest, "size": len(data)}
    head = http.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    got = http.get(url)
    assert got.content == data and got.headers["x-content-sha256"] == digest
    assert server.yard.backend.artifacts.get_bytes(digest) == data


def test_an_upload_that_does_not_hash_to_its_digest_is_422_and_not_stored(
    http: httpx.Client,
    server: LiveServer,
) -> None:
    claimed = _sha(b"something else")
    r = http.put(f"{server.url}/api/v1/blobs/{claimed}", content=b"the real bytes")
    assert r.status_code == 422
    assert r.json()["field"] == "digest" and _sha(b"the real bytes") in r.json()["message"]
    assert not server.yard.backend.artifacts.exists(claimed)


def test_a_malformed_digest_is_422(http: httpx.Client, server: LiveServer) -> None:
    r = http.get(f"{server.url}/api/v1/blobs/abc")
    assert r.status_code == 422 and r.json()["field"] == "digest"


def test_an_unknown_blob_is_404_json(http: httpx.Client, server: LiveServer) -> None:
    r = http.get(f"{server.url}/api/v1/blobs/{'0' * 64}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


@pytest.fixture
def small_limit_server(
    local_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> LiveServer:
    local_yard.settings = local_yard.settings.model_copy(update={"max_request_bytes": 4096})
    return server_factory(local_yard)


def test_an_upload_over_the_limit_is_413(
    http: httpx.Client, small_limit_server: LiveServer
) -> None:
    data = os.urandom(5000)
    r = http.put(f"{small_limit_server.url}/api/v1/blobs/{_sha(data)}", content=data)
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_a_chunked_upload_over_the_limit_is_413(
    http: httpx.Client, small_limit_server: LiveServer
) -> None:
    data = os.urandom(5000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield data[:3000]
        yield data[3000:]

    r = http.put(f"{small_limit_server.url}/api/v1/blobs/{_sha(data)}", content=chunks())
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert not small_limit_server.yard.backend.artifacts.exists(_sha(data))


# ---- the HTTP blob store of a remote yard ------------------------------------------------------
def test_remote_blobs_round_trip_bytes_files_and_streams(
    remote_yard: my.Yard, tmp_path: Path
) -> None:
    blobs = remote_yard.backend.blobs
    digest = blobs.put_bytes(b"hello")
    assert digest == _sha(b"hello") and blobs.exists(digest) and blobs.size(digest) == 5
    assert blobs.get_bytes(digest) == b"hello"

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks
    d2 = blobs.put_file(big)
    assert d2 == _sha(big.read_bytes())
    out = blobs.get_file(d2, tmp_path / "out" / "big.bin")
    assert out.read_bytes() == big.read_bytes()
    assert b"".join(blobs.iter_chunks(d2)) == big.read_bytes()

    with open(big, "rb") as fh:
        assert blobs.put_stream(fh) == (d2, big.stat().st_size)


def test_remote_blobs_report_progress(remote_yard: my.Yard, tmp_path: Path) -> None:
    import contextlib

    seen: dict[str, int] = {}

    @contextlib.contextmanager
    def hook(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        seen[description.split()[0]] = 0

        def advance(n: int) -> None:
            seen[description.split()[0]] += n

        yield advance

    blobs = remote_yard.backend.blobs
    blobs.progress = hook
    f = tmp_path / "f.bin"
    f.write_bytes(os.urandom(2_500_000))
    digest = blobs.put_file(f)
    blobs.get_bytes(digest)
    assert seen == {"upload": 2_500_000, "download": 2_500_000}


def test_remote_unknown_blob_raises_not_found(remote_yard: my.Yard, tmp_path: Path) -> None:
    blobs = remote_yard.backend.blobs
    assert not blobs.exists("f" * 64)
    with pytest.raises(NotFound):
        blobs.size("f" * 64)
    with pytest.raises(NotFound):
        blobs.get_file("f" * 64, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(InvalidParameter, match="64 lowercase hex"):
        blobs.exists("nope")


def test_a_corrupt_blob_on_the_server_is_refused_and_nothing_is_written(
    server: LiveServer, remote_yard: my.Yard, tmp_path: Path
) -> None:
    artifacts = server.yard.backend.artifacts
    data = os.urandom(2 * 1024 * 1024 + 5)
    digest = artifacts.put_bytes(data)
    with open(artifacts.blob_path(digest), "r+b") as fh:  # flip one byte at rest
        fh.seek(1000)
        fh.write(bytes([data[1000] ^ 0xFF]))
    with pytest.raises((IntegrityError, RemoteError)):
        remote_yard.backend.blobs.get_file(digest, tmp_path / "model.bin")
    assert list(tmp_path.glob("*model.bin*")) == []


def test_a_blob_found_corrupt_on_the_server_is_replaced_by_the_next_upload(
    server: LiveServer, remote_yard: my.Yard, tmp_path: Path
) -> None:
    artifacts = server.yard.backend.artifacts
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    digest = remote_yard.backend.blobs.put_file(src)
    with open(artifacts.blob_path(digest), "r+b") as fh:  # flip one byte at rest
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises((IntegrityError, RemoteError)):
        remote_yard.backend.blobs.get_bytes(digest)
    assert remote_yard.backend.blobs.put_file(src) == digest  # uploaded again, not skipped
    out = remote_yard.backend.blobs.get_file(digest, tmp_path / "out.bin")
    assert out.read_bytes() == src.read_bytes()
