"""Bearer tokens: hashed at rest, checked in constant time, roles enforced by the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request

import modelyard as my
from modelyard.api.auth import needed_role
from modelyard.errors import AlreadyExists, InvalidParameter, NotFound, Unauthorized
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
        InvalidParameter, match="role must be one of reader, writer, admin. Got 'root'"
    ):
        store.create("x", "root")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="token name"):
        store.create("  ", "reader")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/api/v1/runs/x", "reader"),
        ("HEAD", "/api/v1/blobs/x", "reader"),
        ("POST", "/api/v1/runs", "writer"),
        ("DELETE", "/api/v1/models/m/aliases/a", "writer"),
        ("GET", "/api/v1/tokens", "admin"),
        ("DELETE", "/api/v1/tokens/ci", "admin"),
    ],
)
def test_needed_role(method: str, path: str, role: str) -> None:
    assert needed_role(method, path, ["/api/v1/tokens"]) == role


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
    assert r.json()["error"] == "unauthorized" and "needs role writer" in r.json()["message"]


def test_a_writer_may_write_but_not_manage_tokens(auth_server: LiveServer, tmp_path) -> None:
    token = auth_server.yard.backend.auth.create("ci", "writer")
    remote = my.connect(auth_server.url, token=token, settings=my.Settings.load({}, home=tmp_path))
    assert remote.backend.tracking.create_experiment("e").name == "e"
    with pytest.raises(Unauthorized, match="needs role admin"):
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
        "verify" in op["operationId"] for p in spec["paths"].values() for op in p.values()
    )


def test_the_token_may_come_in_a_cookie(http: httpx.Client, auth_server: LiveServer) -> None:
    r = http.get(
        auth_server.url + "/api/v1/experiments", cookies={"modelyard_token": auth_server.token}
    )
    assert r.status_code == 200


def test_the_principal_is_known_to_the_code_serving_the_request(
    http: httpx.Client, local_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> None:
    from modelyard.governance.tokens import current_principal

    def whoami_route(app: FastAPI) -> None:
        @app.get("/api/v1/whoami")
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
    def pages(app: FastAPI) -> None:
        @app.get("/ui/login")
        def login() -> dict[str, bool]:
            return {"login": True}

        @app.get("/ui/runs")
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
