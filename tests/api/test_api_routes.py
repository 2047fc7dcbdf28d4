"""Routes are generated from @endpoint methods: locations, status codes, OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import modelyard as my
from modelyard.api.app import create_app
from modelyard.api.contract import describe_endpoint
from modelyard.api.rpc import load_store_classes, stores_router
from modelyard.backend import STORE_CLASSES
from modelyard.transport import endpoint, endpoints_of


def test_every_store_is_mounted(local_yard: my.Yard) -> None:
    app = create_app(local_yard)
    assert app.state.skipped_stores == []
    assert app.state.mounted_stores == sorted(STORE_CLASSES)
    operation_ids = {
        op["operationId"]
        for path in TestClient(app).get("/openapi.json").json()["paths"].values()
        for op in path.values()
    }
    for name in STORE_CLASSES:
        cls = load_store_classes({name: STORE_CLASSES[name]})[0][name]
        for _fn, spec in endpoints_of(cls):
            assert f"{name}_{spec.name}" in operation_ids


def test_a_missing_store_module_is_skipped_other_import_errors_raise() -> None:
    classes, skipped = load_store_classes(
        {"toy": "toystore:ToyStore", "later": "modelyard.not_written_yet.store:Later"}
    )
    assert list(classes) == ["toy"] and skipped == ["later"]
    with pytest.raises(AttributeError):
        load_store_classes({"bad": "toystore:NoSuchClass"})


def test_body_params_make_a_json_object_and_status_code_is_the_marks(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json={"name": "a", "size": 3, "tags": {"k": "v"}})
    assert r.status_code == 201
    assert r.json()["name"] == "a" and r.json()["size"] == 3 and r.json()["tags"] == {"k": "v"}


def test_defaults_of_the_method_apply_to_a_missing_body_field(toy: TestClient) -> None:
    assert toy.post("/api/v1/things", json={"name": "a"}).json()["size"] == 1


def test_a_param_named_like_a_basemodel_attribute_still_works(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json={"name": "a", "schema": "s1"})
    assert r.status_code == 201 and r.json()["schema_"] == "s1"


def test_path_params_come_from_the_template(toy: TestClient) -> None:
    toy.post("/api/v1/things", json={"name": "a"})
    assert toy.get("/api/v1/things/a").json()["name"] == "a"
    assert toy.put("/api/v1/things/a/size/7").json()["size"] == 7


def test_get_params_are_query_params_lists_and_bools_included(toy: TestClient) -> None:
    for name, size in (("a", 1), ("b", 20), ("c", 30)):
        toy.post("/api/v1/things", json={"name": name, "size": size})
    names = lambda r: sorted(t["name"] for t in r.json())
    assert names(toy.get("/api/v1/things", params={"min_size": 5})) == ["b", "c"]
    assert names(toy.get("/api/v1/things", params={"names": ["a", "c"]})) == ["a", "c"]
    assert names(toy.get("/api/v1/things", params={"big": "false"})) == ["a"]


def test_a_none_return_with_204_has_no_body(toy: TestClient) -> None:
    r = toy.delete("/api/v1/things/a")
    assert r.status_code == 204 and r.content == b""


def test_a_post_without_params_needs_no_body(toy: TestClient) -> None:
    assert toy.post("/api/v1/things/count").json() == 0


def test_unknown_body_keys_are_refused(toy: TestClient) -> None:
    r = toy.post("/api/v1/things", json={"name": "a", "colour": "red"})
    assert r.status_code == 422 and r.json()["field"] == "colour"


def test_a_return_value_of_another_shape_is_validated_into_the_declared_one(
    toy: TestClient,
) -> None:
    toy.post("/api/v1/things", json={"name": "a", "size": 2})
    assert toy.get("/api/v1/as-dicts").json()[0]["size"] == 2


def test_openapi_describes_params_bodies_and_responses(toy: TestClient) -> None:
    spec = toy.get("/openapi.json").json()
    add = spec["paths"]["/api/v1/things"]["post"]
    assert add["operationId"] == "toy_add" and add["summary"] == "Add a thing."
    body_ref = add["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert body["required"] == ["name"] and body["additionalProperties"] is False
    assert body["properties"]["kind"]["enum"] == ["a", "b"]
    assert add["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Thing"
    )
    assert set(add["responses"]) >= {"201", "404", "409", "422"}
    find = spec["paths"]["/api/v1/things"]["get"]
    assert {p["name"]: p["in"] for p in find["parameters"]} == {
        "min_size": "query",
        "names": "query",
        "big": "query",
    }
    get = spec["paths"]["/api/v1/things/{name}"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in get["parameters"]] == [
        ("name", "path", True)
    ]
    assert "/api/v1/blobs/{digest}" in spec["paths"] and "/healthz" in spec["paths"]


def test_docs_are_served(toy: TestClient) -> None:
    assert "swagger" in toy.get("/docs").text.lower()


def test_healthz(toy: TestClient) -> None:
    assert toy.get("/healthz").json() == {"status": "ok", "version": my.__version__}


class _Bad:
    @endpoint("GET", "/bad", permission="read")
    def dict_in_query(self, where: dict[str, str]) -> int:
        return 0

    @endpoint("GET", "/bad/{other}", permission="read")
    def path_not_a_param(self, name: str) -> int:
        return 0

    @endpoint("POST", "/bad", permission="write")
    def kwargs(self, **kw: Any) -> int:
        return 0

    @endpoint("POST", "/bad2", permission="write")
    def unannotated(self, x) -> int:  # type: ignore[no-untyped-def]
        return 0

    @endpoint("POST", "/bad3", permission="write")
    def no_return(self, x: int):  # type: ignore[no-untyped-def]
        return 0


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("dict_in_query", "takes only scalars or lists of scalars"),
        ("path_not_a_param", "which are not parameters"),
        ("kwargs", r"\*args/\*\*kwargs"),
        ("unannotated", "must be annotated"),
        ("no_return", "return value must be annotated"),
    ],
)
def test_a_method_outside_the_contract_is_refused_with_its_name(method: str, message: str) -> None:
    fn, spec = next((f, s) for f, s in endpoints_of(_Bad) if s.name == method)
    with pytest.raises(TypeError, match=message):
        describe_endpoint("bad", fn, spec)
    with pytest.raises(TypeError, match=f"_Bad.{method}"):
        describe_endpoint("bad", fn, spec)


class _Clash:
    @endpoint("GET", "/things/{other}", permission="read")
    def get(self, other: str) -> str:
        return other


def test_two_stores_on_one_route_are_refused() -> None:
    from toystore import ToyStore

    with pytest.raises(TypeError, match="already the route of toy.get"):
        stores_router({"toy": ToyStore, "clash": _Clash}, lambda request, name: None)
