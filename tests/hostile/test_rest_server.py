"""Hostile input against ``modelyard server`` (the REST API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import modelyard as my

from .conftest import HTTP, Raw, assert_refused, state


@pytest.fixture
def api(hostile_yard: my.Yard, server_factory: Callable[..., Any]) -> Any:
    return server_factory(hostile_yard, auth=True)


def _auth(api: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token}"}


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b", "a//b",
                                  "./x", "a\\..\\b", "x\x00y"])
def test_artifact_paths_cannot_leave_the_run(api: Any, hostile_yard: my.Yard,
                                             path: str) -> None:
    run = hostile_yard.runs.start(experiment="hostile")
    digest = hostile_yard.backend.blobs.put_bytes(b"hello")
    before = state(hostile_yard)
    r = HTTP.post(f"{api.url}/api/v1/runs/{run.id}/artifacts",
                   json={"path": path, "digest": digest}, headers=_auth(api))
    assert_refused(r, 422, "path", field="path")
    assert state(hostile_yard) == before
    assert hostile_yard.runs.get(run.id).id == run.id


@pytest.mark.parametrize("raw_path", [
    "/api/v1/datasets/..%2F..%2Fx/columns/income",
    "/api/v1/datasets/../../x/columns/income",
    "/api/v1/datasets/..%5Cx/columns/income",
    "/api/v1/datasets/.hidden/columns/income",
    "/api/v1/datasets/a%00b/columns/income",
])
def test_dataset_names_that_would_reach_a_path_are_refused(api: Any, hostile_yard: my.Yard,
                                                          raw: Raw, raw_path: str) -> None:
    before = state(hostile_yard)
    r = raw("PUT", api.url, raw_path, json={"description": "x"}, headers=_auth(api))
    assert_refused(r, (404, 422), "name" if "%2F" not in raw_path and "../" not in raw_path
                   else "route")
    assert state(hostile_yard) == before


@pytest.mark.parametrize("raw_path", [
    "/api/v1/blobs/..%2F..%2Fmodelyard.db", "/api/v1/blobs/../../modelyard.db",
    "/api/v1/blobs/" + "a" * 63 + "%00", "/api/v1/blobs/ZZ" + "0" * 62])
def test_blob_digests_that_are_not_digests_are_refused(api: Any, hostile_yard: my.Yard,
                                                       raw: Raw, raw_path: str) -> None:
    before = state(hostile_yard)
    for method in ("GET", "PUT"):
        r = raw(method, api.url, raw_path, content=b"x", headers=_auth(api))
        assert_refused(r, (404, 422))
    assert state(hostile_yard) == before


@pytest.mark.parametrize("days", [{"../../x": 1}, {"a/b": 1}, {"": 1}])
def test_retention_endpoint_names_are_checked(api: Any, hostile_yard: my.Yard,
                                              days: dict[str, int]) -> None:
    before = state(hostile_yard)
    r = HTTP.post(f"{api.url}/api/v1/predictions/retention", json={"retention_days": days},
                   headers=_auth(api))
    assert_refused(r, 422, "endpoint", field="retention_days")
    assert state(hostile_yard) == before


@pytest.mark.parametrize("filter_", [
    "metrics.auc > 0 or 1=1; DROP TABLE runs --",
    "params.x = '' OR '1'='1'",
    "metrics.`auc` > 0 UNION SELECT * FROM api_tokens",
    "tags.\"x\" = 'a') OR (1=1",
])
def test_search_filters_are_parsed_not_pasted(api: Any, hostile_yard: my.Yard,
                                             filter_: str) -> None:
    hostile_yard.runs.start(experiment="hostile").end()
    r = HTTP.post(f"{api.url}/api/v1/runs/search", json={"filter": filter_},
                   headers=_auth(api))
    assert_refused(r, 400, "filter")
    ok = HTTP.post(f"{api.url}/api/v1/runs/search", json={"filter": ""}, headers=_auth(api))
    assert ok.status_code == 200 and len(ok.json()) == 1  # the table is still there


@pytest.mark.parametrize("name", ["x'; DROP TABLE models;--", "a b", "../loans", "loans\r\n",
                                  "%00", "a" * 200])
def test_names_with_injection_are_refused_naming_the_rule(api: Any, hostile_yard: my.Yard,
                                                          name: str) -> None:
    before = state(hostile_yard)
    r = HTTP.post(f"{api.url}/api/v1/models", json={"name": name}, headers=_auth(api))
    assert_refused(r, 422, "name", field="name")
    assert state(hostile_yard) == before
    assert [m.name for m in hostile_yard.models.list()] == ["loans"]


def test_deeply_nested_json_is_a_400_not_a_crash(api: Any, hostile_yard: my.Yard) -> None:
    for body in (b'{"filter": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                 b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        r = HTTP.post(f"{api.url}/api/v1/runs/search", content=body,
                       headers={**_auth(api), "content-type": "application/json"})
        assert_refused(r, 400, "nested", field="body")
    assert HTTP.get(f"{api.url}/healthz").status_code == 200


def test_a_body_that_is_not_utf8_is_a_400_naming_the_byte(api: Any) -> None:
    r = HTTP.post(f"{api.url}/api/v1/runs/search", content=b'{"filter": "\xff\xfe"}',
                   headers={**_auth(api), "content-type": "application/json"})
    assert_refused(r, 400, "UTF-8", "0xff", field="body")


def test_an_oversized_body_is_a_413(hostile_yard: my.Yard,
                                    server_factory: Callable[..., Any]) -> None:
    hostile_yard.settings.max_request_bytes = 10_000
    api = server_factory(hostile_yard, auth=True)
    before = state(hostile_yard)
    r = HTTP.post(f"{api.url}/api/v1/models", json={"name": "x", "description": "y" * 20_000},
                   headers=_auth(api))
    assert_refused(r, 413, "at most 10000 bytes")
    assert state(hostile_yard) == before
