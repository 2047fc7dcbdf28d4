"""Hostile input against ``modelyard serve`` (the model server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import endpoint_from_ref
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread

from .conftest import HTTP, Raw, assert_refused, state

ROW = {"income": 0.3, "age": 0.5}


@pytest.fixture
def url(hostile_yard: my.Yard) -> Iterator[str]:
    app = create_app(hostile_yard, [endpoint_from_ref("loans/1")],
                     ServerOptions(max_request_bytes=300_000, poll_interval=0.2))
    with serve_in_thread(app) as u:
        yield u


def test_deeply_nested_json_is_a_400_and_the_server_stays_up(url: str) -> None:
    for body in (b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                 b'{"a":' * 30_000 + b"1" + b"}" * 30_000):
        for path in ("/predict/loans", "/v2/models/loans/infer"):
            r = HTTP.post(f"{url}{path}", content=body, timeout=60)
            assert_refused(r, 400, "JSON", "depth")
    assert HTTP.get(f"{url}/healthz").status_code == 200
    assert HTTP.post(f"{url}/predict/loans", json={"records": [ROW]}).status_code == 200


def test_a_body_that_is_not_utf8_is_a_400(url: str) -> None:
    r = HTTP.post(f"{url}/predict/loans", content=b'{"records": [{"income": "\xff"}]}')
    assert_refused(r, 400, "JSON", "UTF-8")


def test_an_oversized_body_is_a_413_and_nothing_is_logged(url: str,
                                                          hostile_yard: my.Yard) -> None:
    r = HTTP.post(f"{url}/predict/loans", json={"records": [ROW] * 20_000})
    assert_refused(r, 413, "at most 300000 bytes")
    assert hostile_yard.predictions.endpoints() == []


@pytest.mark.parametrize("raw_path", ["/endpoints/..", "/endpoints/..%2F..%2Fx",
                                      "/endpoints/.hidden", "/endpoints/a%00b",
                                      "/endpoints/../../x"])
def test_endpoint_names_that_would_reach_a_path_are_refused(
        url: str, hostile_yard: my.Yard, raw: Raw, raw_path: str) -> None:
    before = state(hostile_yard)
    r = raw("PUT", url, raw_path, json={"routes": [{"model": "loans/1"}]})
    assert_refused(r, (404, 422))
    assert state(hostile_yard) == before
    assert [e["name"] for e in HTTP.get(f"{url}/endpoints").json()] == ["loans"]


@pytest.mark.parametrize("raw_path", ["/predict/..%2F..%2Floans", "/predict/../loans",
                                      "/predict/loans%00"])
def test_predict_paths_with_traversal_find_no_endpoint(url: str, hostile_yard: my.Yard,
                                                       raw: Raw, raw_path: str) -> None:
    r = raw("POST", url, raw_path, json={"records": [ROW]})
    assert_refused(r, 404)
    assert hostile_yard.predictions.endpoints() == []


@pytest.mark.parametrize("key", [7, ["a"], {"a": 1}])
def test_a_request_key_that_is_not_a_string_is_refused(url: str, key: Any) -> None:
    r = HTTP.post(f"{url}/predict/loans", json={"records": [ROW], "request_key": key})
    assert_refused(r, 422, "request_key", field="request_key")


def test_cr_lf_in_a_header_value_is_refused_and_never_echoed(url: str) -> None:
    """A request key sent in a header with a bare CR and a header of its own after it: the
    HTTP parser refuses the request; no injected header comes back."""
    parts = urlsplit(url)
    body = b'{"records": [{"income": 0.3, "age": 0.5}]}'
    request = (b"POST /predict/loans HTTP/1.1\r\nHost: x\r\n"
               b"X-Request-Key: k\rSet-Cookie: evil=1\r\n"
               b"Content-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"evil" not in head.lower()
