"""Bearer tokens: hashed at rest, checked in constant time, roles enforced by the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request

import modelyard as my
from modelyard.errors import AlreadyExists, Forbidden, InvalidParameter, NotFound, Unauthorized
from modelyard.governance.tokens import Principal, TokenStore, hash_token

LiveServer = Any


def test_a_token_verifies_to_its_name_and_role(yard: my.Yard) -> None:
    store: TokenStore = yard.backend.auth
    token = store.create("ci", "writer")
    assert token.startswith("my_") and len(token) > 40
    assert store.verify(token) == Principal(name="ci", role="writer")


def test_only_the_hash_is_stored(yard: my.Yard) -> None:
    token = yard.backend.auth.create("ci", "admin")
    with yard.backend.db.read() as conn:
        rows = conn.execute(sa.text("SELECT * FROM api_tokens")).all()
    dump = repr([tuple(r) for r in rows])
    assert token not in dump and token[3:] not in dump
    assert hash_token(token) in dump


@pytest.mark.parametrize("bad", [None, "", "my_wrong", "Bearer x", "not-a-token"])
def test_an_unknown_token_is_refused(local_yard: my.Yard, bad: str | None) -> None:
    local_yard.backend.auth.create("ci", "reader")
    with pytest.raises(Unauthorized):
        local_yard.backend.auth.verify(bad)


def test_a_revoked_token_stops_working_and_is_listed_as_revoked(local_yard: my.Yard) -> None:
    store: TokenStore = local_yard.backend.auth
    token = store.create("ci", "reader")
    revoked = store.revoke("ci")
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthorized):
        store.verify(token)
    assert store.list() == []
    assert [t.name for t in store.list(include_revoked=True)] == ["ci"]
    with pytest.raises(NotFound, match="No active token named 'ci'"):
        store.revoke("ci")
    store.create("ci", "reader")  # the name is free again


def test_names_of_active_tokens_are_unique_and_roles_checked(local_yard: my.Yard) -> None:
    store: TokenStore = local_yard.backend.auth
    store.create("ci", "reader")
    with pytest.raises(AlreadyExists, match="'ci'"):
        store.create("ci", "writer")
    with pytest.raises(
        InvalidParameter,
        match=r"role must be one of viewer, editor, approver, admin \(or the former reader, "
              r"writer\). Got 'root'",
    ):
        store.create("x", "root")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="user name"):
        store.create("  ", "reader")
    with pytest.raises(InvalidParameter, match="token name"):
        store.create("ci", name="  ")


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("GET", "/api/v1/runs/x", "read"),
        ("HEAD", "/api/v1/blobs/" + "0" * 64, "read"),
        ("PUT", "/api/v1/blobs/" + "0" * 64, "write"),
        ("POST", "/api/v1/runs", "write"),
        ("POST", "/api/v1/runs/search", "read"),  # a read carried by POST
        ("POST", "/api/v1/runs/by-ids", "read"),
        ("DELETE", "/api/v1/models/m/aliases/a", "write"),
        ("GET", "/api/v1/tokens", "admin"),
        ("DELETE", "/api/v1/tokens/ci", "admin"),
        ("GET", "/api/v1/no-such-route", None),  # nothing runs: the router answers 404
    ],
)
def test_each_operation_declares_its_permission(
    local_yard: my.Yard, method: str, path: str, permission: str | None
) -> None:
    """Whatever the verb, a reader may do exactly the reads and a writer everything but admin;
    a path no route serves is answered by the router (404/405), never run."""
    from fastapi.testclient import TestClient

    from modelyard.api.app import create_app

    settings = local_yard.settings.model_copy(update={"auth_enabled": True})
    client = TestClient(create_app(local_yard, settings), raise_server_exceptions=False)
    for role, holds in (("reader", {"read"}), ("writer", {"read", "write"})):
        token = local_yard.backend.auth.create(role, role)  # type: ignore[arg-type]
        r = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        if permission is None:
            assert r.status_code in (404, 405)
        elif permission in holds:
            assert r.status_code != 403, (role, r.text)
        else:
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (role, r.text)
            assert f"needs permission {permission!r}" in r.json()["message"]


def test_the_permission_is_in_the_openapi_spec(local_yard: my.Yard) -> None:
    from modelyard.api.app import create_app

    spec = create_app(local_yard).openapi()
    assert spec["paths"]["/api/v1/runs/search"]["post"]["x-modelyard-permission"] == "read"
    assert spec["paths"]["/api/v1/tokens"]["post"]["x-modelyard-permission"] == "admin"


@pytest.fixture
def auth_server(local_yard: my.Yard, server_factory: Callable[..., LiveServer]) -> LiveServer:
    """Token storage runs on both databases above; the HTTP checks need only one."""
    return server_factory(local_yard, auth=True)


def _get(http: httpx.Client, srv: LiveServer, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(srv.url + path, headers=headers)


def test_without_a_token_the_server_answers_401_json(
    http: httpx.Client, auth_server: LiveServer
) -> None:
    r = _get(http, auth_server, "/api/v1/experiments", None)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_wrong_token_is_401(http: httpx.Client, auth_server: LiveServer) -> None:
    assert _get(http, auth_server, "/api/v1/experiments", "my_" + "x" * 43).status_code == 401


def test_health_and_the_spec_are_public(http: httpx.Client, auth_server: LiveServer) -> None:
    assert _get(http, auth_server, "/healthz", None).status_code == 200
    assert _get(http, auth_server, "/openapi.json", None).status_code == 200


def test_a_reader_may_read_but_not_write(http: httpx.Client, auth_server: LiveServer) -> None:
    token = auth_server.yard.backend.auth.create("dash", "reader")
    assert _get(http, auth_server, "/api/v1/experiments", token).status_code == 200
    r = http.post(
        auth_server.url + "/api/v1/experiments",
        json={"name": "e"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert "POST /api/v1/experiments needs permission 'write'" in r.json()["message"]


def test_a_writer_may_write_but_not_manage_tokens(auth_server: LiveServer, tmp_path) -> None:
    token = auth_server.yard.backend.auth.create("ci", "writer")
    remote = my.connect(auth_server.url, token=token, settings=my.Settings.load({}, home=tmp_path))
    assert remote.backend.tracking.create_experiment("e").name == "e"
    with pytest.raises(Forbidden, match="needs permission 'admin'"):
        remote.backend.auth.list()
    remote.close()


def test_an_admin_manages_tokens_over_http(
    http: httpx.Client, auth_server: LiveServer, tmp_path
) -> None:
    remote = my.connect(
        auth_server.url, token=auth_server.token, settings=my.Settings.load({}, home=tmp_path)
    )
    token = remote.backend.auth.create("ci", "reader")
    assert "ci" in [t.name for t in remote.backend.auth.list()]
    assert _get(http, auth_server, "/api/v1/experiments", token).status_code == 200
    remote.backend.auth.revoke("ci")
    assert _get(http, auth_server, "/api/v1/experiments", token).status_code == 401
    remote.close()


def test_verify_is_not_a_route(http: httpx.Client, auth_server: LiveServer) -> None:
    spec = _get(http, auth_server, "/openapi.json", None).json()
    assert not any(
        op["operationId"].startswith("auth_") and "verify" in op["operationId"]
        for p in spec["paths"].values() for op in p.values()
    )


def test_the_token_may_come_in_a_cookie(http: httpx.Client, auth_server: LiveServer) -> None:
    r = http.get(
        auth_server.url + "/api/v1/experiments", cookies={"modelyard_token": auth_server.token}
    )
    assert r.status_code == 200


def test_the_principal_is_known_to_the_code_serving_the_request(
    http: httpx.Client, local_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> None:
    from modelyard.access import current_principal, requires

    def whoami_route(app: FastAPI) -> None:
        @app.get("/api/v1/whoami")
        @requires("read")
        def whoami(request: Request) -> dict[str, str | None]:
            p = current_principal.get()
            return {"context": p.name if p else None, "state": request.state.principal.name}

    srv = server_factory(local_yard, auth=True, extensions=[whoami_route])
    token = local_yard.backend.auth.create("alice", "reader")
    assert _get(http, srv, "/api/v1/whoami", token).json() == {"context": "alice", "state": "alice"}
    assert _get(http, srv, "/api/v1/whoami", None).status_code == 401


def test_a_browser_without_a_token_is_sent_to_the_login_page(
    http: httpx.Client, local_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> None:
    from modelyard.access import requires

    def pages(app: FastAPI) -> None:
        @app.get("/ui/login")
        def login() -> dict[str, bool]:
            return {"login": True}

        @app.get("/ui/runs")
        @requires("read")
        def runs() -> dict[str, bool]:
            return {"runs": True}

    srv = server_factory(
        local_yard,
        auth=True,
        extensions=[pages],
        public_paths={"/ui/login"},
        login_path="/ui/login",
    )
    page = http.get(f"{srv.url}/ui/runs", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    assert http.get(f"{srv.url}/ui/login").json() == {"login": True}
    api = http.get(f"{srv.url}/api/v1/experiments", headers={"Accept": "text/html"})
    assert api.status_code == 401  # the API never redirects
    assert http.get(f"{srv.url}/ui/runs").status_code == 401  # nor does a script


def test_a_reader_may_search_runs_though_the_search_is_a_post(
    http: httpx.Client, auth_server: LiveServer
) -> None:
    auth_server.yard.runs.start(experiment="e").end()
    token = auth_server.yard.backend.auth.create("dash", "reader")
    headers = {"Authorization": f"Bearer {token}"}
    found = http.post(auth_server.url + "/api/v1/runs/search", json={"filter": ""},
                      headers=headers)
    assert found.status_code == 200 and len(found.json()) == 1
    by_ids = http.post(auth_server.url + "/api/v1/runs/by-ids",
                       json={"run_ids": [found.json()[0]["id"]]}, headers=headers)
    assert by_ids.status_code == 200 and len(by_ids.json()) == 1


def test_a_route_that_declares_no_permission_is_admin_only(
    http: httpx.Client, local_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> None:
    from modelyard.access import requires

    def routes(app: FastAPI) -> None:
        @app.get("/api/v1/undeclared")
        def undeclared() -> dict[str, bool]:
            return {"ran": True}

        @app.post("/api/v1/declared")
        @requires("read")
        def declared() -> dict[str, bool]:
            return {"ran": True}

    srv = server_factory(local_yard, auth=True, extensions=[routes])
    reader = local_yard.backend.auth.create("r", "reader")
    writer = local_yard.backend.auth.create("w", "writer")
    for token in (reader, writer):
        r = _get(http, srv, "/api/v1/undeclared", token)
        assert r.status_code == 403 and "needs permission 'admin'" in r.json()["message"]
    assert _get(http, srv, "/api/v1/undeclared", srv.token).json() == {"ran": True}
    ok = http.post(srv.url + "/api/v1/declared", headers={"Authorization": f"Bearer {reader}"})
    assert ok.json() == {"ran": True}


def test_a_store_endpoint_without_a_permission_is_refused_when_the_app_is_built(
    local_yard: my.Yard,
) -> None:
    from modelyard.api.app import create_app
    from modelyard.transport import endpoint

    class Careless:
        @endpoint("GET", "/careless")
        def careless(self) -> int:
            return 0

    import sys
    import types

    module = types.ModuleType("careless_store")
    module.Careless = Careless  # type: ignore[attr-defined]
    sys.modules["careless_store"] = module
    try:
        with pytest.raises(TypeError, match="declare the permission it needs"):
            create_app(local_yard, store_classes={"careless": "careless_store:Careless"})
    finally:
        del sys.modules["careless_store"]
