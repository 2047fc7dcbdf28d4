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


def _leftovers(server: LiveServer) -> list[Path]:
    """Files under the artifact store (temporary ones included), blobs aside."""
    root = Path(server.yard.backend.artifacts.root)
    return [p for p in root.rglob("*") if p.is_file() and "sha256" not in p.parts]


def test_a_blob_larger_than_the_request_limit_streams_through(
    small_limit_server: LiveServer, tmp_path: Path
) -> None:
    """The request limit (4 KiB here) bounds JSON bodies, not blobs: an upload of 24 MiB goes
    through over real HTTP, hashed while it streams, and is never held whole in memory."""
    import tracemalloc

    src = tmp_path / "big.bin"
    sha = hashlib.sha256()
    with open(src, "wb") as fh:
        for _ in range(24):
            chunk = os.urandom(1 << 20)
            sha.update(chunk)
            fh.write(chunk)
    client = my.connect(small_limit_server.url,
                        settings=my.Settings.load({}, home=tmp_path / "client"))
    tracemalloc.start()
    try:
        digest = client.backend.blobs.put_file(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    assert digest == sha.hexdigest()
    assert peak < 8 << 20, f"{peak:,} bytes held at once for a 24 MiB upload"
    artifacts = small_limit_server.yard.backend.artifacts
    assert artifacts.size(digest) == 24 << 20 and artifacts.verified(digest)
    assert _leftovers(small_limit_server) == []


def test_a_chunked_blob_upload_has_no_size_cap_either(
    http: httpx.Client, small_limit_server: LiveServer
) -> None:
    data = os.urandom(300_000)

    def chunks() -> Iterator[bytes]:  # no Content-Length
        for i in range(0, len(data), 7_000):
            yield data[i : i + 7_000]

    r = http.put(f"{small_limit_server.url}/api/v1/blobs/{_sha(data)}", content=chunks())
    assert r.status_code == 201 and r.json() == {"digest": _sha(data), "size": len(data)}
    assert small_limit_server.yard.backend.artifacts.get_bytes(_sha(data)) == data


def test_other_bodies_over_the_limit_are_still_413(
    http: httpx.Client, small_limit_server: LiveServer
) -> None:
    r = http.post(f"{small_limit_server.url}/api/v1/datasets/x/versions",
                  content=b"[" + b" " * 5000 + b"]", headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_a_large_upload_that_does_not_hash_to_its_digest_leaves_nothing(
    http: httpx.Client, small_limit_server: LiveServer
) -> None:
    data = os.urandom(200_000)
    claimed = _sha(b"not these bytes")

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 50_000):
            yield data[i : i + 50_000]

    r = http.put(f"{small_limit_server.url}/api/v1/blobs/{claimed}", content=chunks())
    assert r.status_code == 422 and r.json()["field"] == "digest"
    assert _sha(data) in r.json()["message"]
    artifacts = small_limit_server.yard.backend.artifacts
    assert not artifacts.exists(claimed) and not artifacts.exists(_sha(data))
    assert _leftovers(small_limit_server) == []


def test_an_upload_cut_off_midway_leaves_nothing(small_limit_server: LiveServer) -> None:
    import socket
    import time
    from urllib.parse import urlsplit

    data = os.urandom(100_000)
    url = urlsplit(small_limit_server.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            f"PUT /api/v1/blobs/{_sha(data)} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
            .encode() + data[:60_000]
        )
        deadline = time.monotonic() + 10
        while not _leftovers(small_limit_server) and time.monotonic() < deadline:
            time.sleep(0.02)  # the upload has started when its temporary file exists
    deadline = time.monotonic() + 10
    while _leftovers(small_limit_server) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _leftovers(small_limit_server) == []
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
