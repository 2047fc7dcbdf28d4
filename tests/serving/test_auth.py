"""The model server authenticates and authorises with the REST server's implementation: the
same permission table and error codes, and no token cache (a revocation takes effect on the
next request)."""

from __future__ import annotations

from typing import Any

import httpx

import modelyard as my

from .conftest import ServerFactory, iris_rows


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_revoked_token_fails_on_the_next_request(
    model_server: ServerFactory, iris: Any, serving_yard: my.Yard
) -> None:
    token = serving_yard.backend.auth.create("app", role="reader")
    row = iris_rows(iris, 1)
    with model_server("iris@production", auth_enabled=True) as url:
        ok = httpx.post(f"{url}/predict/iris", json={"records": row}, headers=_bearer(token))
        assert ok.status_code == 200
        serving_yard.backend.auth.revoke("app")
        again = httpx.post(f"{url}/predict/iris", json={"records": row}, headers=_bearer(token))
        assert again.status_code == 401 and again.json()["error"] == "unauthorized"


def test_permissions_and_error_codes_are_the_rest_servers(
    model_server: ServerFactory, serving_yard: my.Yard
) -> None:
    reader = serving_yard.backend.auth.create("dash", role="viewer")
    writer = serving_yard.backend.auth.create("ci", role="editor")
    admin = serving_yard.backend.auth.create("ops", role="admin")
    spec = {"routes": [{"model": "iris/2"}]}
    with model_server("iris@production", auth_enabled=True) as url:
        for token in (reader, writer):  # declaring an endpoint is an admin's
            denied = httpx.put(f"{url}/endpoints/tree", json=spec, headers=_bearer(token))
            assert denied.status_code == 403
            assert denied.json()["error"] == "forbidden"
            assert "needs permission 'admin' on 'tree'" in denied.json()["message"]
        assert httpx.get(f"{url}/endpoints", headers=_bearer(reader)).status_code == 200
        put = httpx.put(f"{url}/endpoints/tree", json=spec, headers=_bearer(admin))
        assert put.status_code == 200
