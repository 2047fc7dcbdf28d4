"""Bad input at volume against both servers: random bytes and truncated JSON as request bodies
on every route that takes one, bodies cut short on the wire, and bytes that are not HTTP at
all. Not one 500, and each server healthy and answering afterwards.

Schema-driven fuzzing of every route from the OpenAPI specs, with every role, is
``tests/api/test_api_fuzz.py`` and the servers' schemathesis tests."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import modelyard as my

from .conftest import iris_rows
from .harness import serving


def _bodies(rng: random.Random, valid: bytes, n: int) -> Iterator[tuple[bytes, str]]:
    """Random bytes, the valid body cut at a random point, and the valid body with random
    bytes flipped; each with a JSON or an odd content type."""
    for i in range(n):
        kind = i % 3
        if kind == 0:
            body = rng.randbytes(rng.randrange(0, 2048))
        elif kind == 1:
            body = valid[:rng.randrange(0, max(len(valid), 1))]
        else:
            flipped = bytearray(valid)
            for _ in range(rng.randrange(1, 8)):
                if flipped:
                    flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            body = bytes(flipped)
        yield body, rng.choice(["application/json", "application/octet-stream", "text/plain"])


def _cut_on_the_wire(url: str, method: str, path: str, rng: random.Random, n: int) -> None:
    """Requests whose body ends before its Content-Length (the client goes away), and bytes
    that are not HTTP at all."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    for i in range(n):
        with socket.create_connection(address, timeout=10) as s:
            if i % 2 == 0:
                s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                          f"\r\nContent-Length: 4096\r\n\r\n".encode() + b'{"records": [')
            else:
                s.sendall(rng.randbytes(rng.randrange(1, 512)) + b"\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)  # whatever it answers, or nothing
            except OSError:
                pass


def _pound(url: str, routes: list[tuple[str, str, bytes]], seed: int, per_route: int
           ) -> dict[int, int]:
    """Every bad body on every route; the count of each status (a 5xx fails the test)."""
    rng = random.Random(seed)
    counts: dict[int, int] = {}
    server_errors = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for method, path, valid in routes:
            for body, ctype in _bodies(rng, valid, per_route):
                r = c.request(method, path, content=body, headers={"content-type": ctype})
                counts[r.status_code] = counts.get(r.status_code, 0) + 1
                if r.status_code >= 500 and r.status_code != 503:
                    server_errors.append((method, path, body[:80], r.status_code, r.text[:300]))
            _cut_on_the_wire(url, method, path, rng, 4)
    assert server_errors == [], server_errors[:5]
    return counts


@pytest.mark.timeout(600)
def test_the_model_server_takes_garbage_without_a_500(serving_yard: my.Yard, iris: Any) -> None:
    record = json.dumps({"records": iris_rows(iris, 2)}).encode()
    infer = json.dumps({"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [1.0]}
                                   for c in iris[0].columns]}).encode()
    routes = [("POST", "/predict/iris", record), ("POST", "/v2/models/iris/infer", infer),
              ("PUT", "/endpoints/other", b'{"routes": [{"model": "iris/2"}]}'),
              ("POST", "/endpoints/iris/canary", b'{"model": "iris/2", "steps": [50]}'),
              ("POST", "/feedback", b'{"prediction_id": "x", "label": 1}'),
              ("POST", "/predict/nope", record)]
    with serving(serving_yard) as url:
        counts = _pound(url, routes, seed=16, per_route=60)
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200
        r = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 2)})
        assert r.status_code == 200 and len(r.json()["ids"]) == 2
    assert sum(counts.values()) == len(routes) * 60


def _rest_routes(spec: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """Every operation of the REST API that takes a JSON body, its path parameters filled in
    with names that exist (or not: a 404 is fine too)."""
    fill = {"name": "iris", "version": "1", "alias": "prod", "run_id": "r", "experiment_id": "1",
            "id": "x", "key": "k", "digest": "0" * 64}
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" not in content:
                continue
            filled = path
            for key, value in fill.items():
                filled = filled.replace("{" + key + "}", value)
            while "{" in filled:  # any other parameter
                start, end = filled.index("{"), filled.index("}")
                filled = filled[:start] + "x" + filled[end + 1:]
            out.append((method.upper(), filled, b'{"name": "iris", "value": 1, "version": 1}'))
    return out


@pytest.mark.timeout(600)
def test_the_rest_server_takes_garbage_without_a_500(
        serving_yard: my.Yard, server_factory: Callable[..., Any], tmp_path: Path) -> None:
    srv = server_factory(serving_yard)
    spec = httpx.get(f"{srv.url}/openapi.json", timeout=60).json()
    routes = _rest_routes(spec)
    assert len(routes) >= 20, routes
    counts = _pound(srv.url, routes, seed=17, per_route=15)
    assert httpx.get(f"{srv.url}/healthz").status_code == 200
    remote = my.connect(srv.url, settings=my.Settings.load({}, home=tmp_path / "client"))
    assert remote.models.get("iris@production").version == 1
    remote.close()
    assert sum(counts.values()) == len(routes) * 15
