"""Every error is JSON {"error", "message", "field"}; never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any as LiveServer

import httpx
import pytest
from fastapi.testclient import TestClient

import modelyard as my


def test_unknown_model_is_404_with_the_name(http: httpx.Client, server: LiveServer) -> None:

    r = http.get(f"{server.url}/api/v1/models/no-such-model")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "not_found" and "no-such-model" in body["message"]
    assert body["field"] == "name"


def test_a_modelyard_error_keeps_its_code_status_and_field(toy: TestClient) -> None:
    toy.post("/api/v1/things", json={"name": "a"})
    r = toy.post("/api/v1/things", json={"name": "a"})
    assert r.status_code == 409
    assert r.json() == {
        "error": "already_exists",
        "message": "A thing named 'a' exists.",
        "field": "name",
    }


def test_a_bad_body_field_is_422_naming_the_field(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json={"name": "a", "size": "big"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_parameter" and body["field"] == "size"
    assert "'big'" in body["message"]


def test_a_nested_bad_field_is_named_with_dots(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json={"name": "a", "tags": {"k": 3}})
    assert r.status_code == 422 and r.json()["field"] == "tags.k"


def test_a_missing_field_is_422_naming_it(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json={"size": 2})
    assert r.status_code == 422 and r.json()["field"] == "name"


def test_a_bad_query_param_is_422_naming_it(toy: TestClient) -> None:
    r = toy.get("/api/v1/things", params={"min_size": "x"})
    assert r.status_code == 422 and r.json()["field"] == "min_size"


def test_a_bad_path_param_is_422_naming_it(toy: TestClient) -> None:
    r = toy.put("/api/v1/things/a/size/huge")
    assert r.status_code == 422 and r.json()["field"] == "size"


@pytest.mark.parametrize("content", [b"{not json", b'{"name": "a",}', b"\xff\xfe"])
def test_malformed_json_is_400(toy: TestClient, content: bytes) -> None:
    r = toy.post("/api/v1/things", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request" and "JSON" in r.json()["message"]


def test_a_body_without_json_content_type_is_400(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", content=b"name=a", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_json_that_is_not_an_object_is_422(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json=[1, 2])
    assert r.status_code == 422 and r.json()["error"] == "invalid_parameter"


def test_unknown_route_is_404_json(toy: TestClient) -> None:
    r = toy.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found" and "/api/v1/nothing-here" in r.json()["message"]


def test_wrong_method_is_405_json(toy: TestClient) -> None:
    r = toy.patch("/api/v1/things")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_a_body_over_the_limit_is_413(tmp_path, local_yard: my.Yard) -> None:
    from modelyard.api.app import create_app

    settings = local_yard.settings.model_copy(update={"max_request_bytes": 1000})
    client = TestClient(create_app(local_yard, settings))
    r = client.post("/api/v1/experiments", json={"name": "x" * 2000})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert "1000" in r.json()["message"]


def test_a_bug_is_500_with_an_id_and_the_traceback_only_in_the_log(
    toy: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="modelyard.api"):
        r = toy.get("/api/v1/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal" and len(body["id"]) == 36
    assert "hunter2" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if body["id"] in rec.getMessage()]
    assert logged and logged[0].exc_info is not None
