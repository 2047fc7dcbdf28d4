"""The role x action matrix over real HTTP, on the REST server and on the model server: each
user (viewer, editor, approver, admin, an editor scoped to ``loans*``, a disabled user, an
expired token, a revoked token) tries a representative action of each permission, and gets
exactly allowed, 403 or 401 as the table in the README says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from modelyard.errors import Forbidden

from .conftest import TEAM, Team, remote

OK, FORBIDDEN, UNAUTHORIZED = "ok", 403, 401
ROLES = ["viewer", "editor", "approver", "admin", "loans-editor"]
REFUSED = ["disabled", "expired", "revoked"]

# action -> (method, path, body); {user} is replaced by the user's name
REST: dict[str, tuple[str, str, Any]] = {
    "read models": ("GET", "/api/v1/models", None),
    "read a version": ("GET", "/api/v1/models/churn/versions/1", None),
    "read runs (POST)": ("POST", "/api/v1/runs/search", {}),
    "write: tag loans": ("PUT", "/api/v1/models/loans/tags/team", {"value": "{user}"}),
    "write: tag churn": ("PUT", "/api/v1/models/churn/tags/team", {"value": "{user}"}),
    "write: journal of loans": ("POST", "/api/v1/models/loans/journal", {"text": "by {user}"}),
    "write: an experiment": ("POST", "/api/v1/experiments", {"name": "exp-{user}"}),
    "write: move churn@staging": ("PUT", "/api/v1/models/churn/aliases/staging",
                                  {"version": 1}),
    "approve: move protected loans@production": ("PUT",
                                                 "/api/v1/models/loans/aliases/production",
                                                 {"version": 2}),
    "admin: list users": ("GET", "/api/v1/users", None),
    "admin: list tokens": ("GET", "/api/v1/tokens", None),
    "admin: add a user": ("POST", "/api/v1/users", {"name": "new-{user}"}),
}

# what each role may do (stated here, not derived from the code under test)
ALLOWED: dict[str, set[str]] = {
    "viewer": {"read models", "read a version", "read runs (POST)"},
    "editor": {"read models", "read a version", "read runs (POST)", "write: tag loans",
               "write: tag churn", "write: journal of loans", "write: an experiment",
               "write: move churn@staging"},
    "approver": {"read models", "read a version", "read runs (POST)",
                 "approve: move protected loans@production"},
    "admin": set(REST),
    "loans-editor": {"read models", "read a version", "read runs (POST)", "write: tag loans",
                     "write: journal of loans", "write: an experiment"},
}


def _expected(user: str, action: str, allowed: dict[str, set[str]]) -> Any:
    if user in REFUSED:
        return UNAUTHORIZED
    return OK if action in allowed[user] else FORBIDDEN


def _check(r: httpx.Response, expected: Any, user: str, action: str) -> None:
    got = r.status_code
    if expected == OK:
        assert got < 400, (user, action, got, r.text)
    else:
        assert got == expected, (user, action, got, r.text)
        assert r.json()["error"] == ("forbidden" if expected == 403 else "unauthorized")


def _fill(value: Any, user: str) -> Any:
    if isinstance(value, str):
        return value.replace("{user}", user)
    if isinstance(value, dict):
        return {k: _fill(v, user) for k, v in value.items()}
    return value


@pytest.mark.parametrize("user", ROLES + REFUSED)
def test_the_rest_server_enforces_the_table(team: Team, user: str) -> None:
    with httpx.Client(base_url=team.api, timeout=60, headers=team.headers(user)) as http:
        for action, (method, path, body) in REST.items():
            r = http.request(method, _fill(path, user), json=_fill(body, user))
            _check(r, _expected(user, action, ALLOWED), user, action)


def test_no_token_is_401_on_both_servers(team: Team) -> None:
    assert httpx.get(f"{team.api}/api/v1/models").status_code == 401
    assert httpx.post(f"{team.serve}/predict/loans",
                      json={"records": [{"x": 1.0}]}).status_code == 401


SERVE: dict[str, tuple[str, str, Any]] = {
    "read: predict": ("POST", "/predict/loans", {"records": [{"x": 1.0}]}),
    "read: endpoints": ("GET", "/endpoints", None),
    "write: feedback": ("POST", "/feedback", {"prediction_id": "{prediction}", "label": 1}),
    "admin: declare an endpoint": ("PUT", "/endpoints/extra-{user}",
                                   {"routes": [{"model": "churn/1"}]}),
    "admin: delete it": ("DELETE", "/endpoints/extra-{user}", None),
}
SERVE_ALLOWED: dict[str, set[str]] = {
    "viewer": {"read: predict", "read: endpoints"},
    "editor": {"read: predict", "read: endpoints", "write: feedback"},
    "approver": {"read: predict", "read: endpoints"},
    "admin": set(SERVE),
    "loans-editor": {"read: predict", "read: endpoints", "write: feedback"},
}


@pytest.mark.parametrize("user", ROLES + REFUSED)
def test_the_model_server_enforces_the_same_table(team: Team, user: str) -> None:
    with httpx.Client(base_url=team.serve, timeout=120) as http:
        answer = http.post("/predict/loans", json={"records": [{"x": 2.0}]},
                           headers=team.headers("admin"))
        prediction = answer.json()["ids"][0]
        for action, (method, path, body) in SERVE.items():
            body = _fill(body, user)
            if isinstance(body, dict) and body.get("prediction_id") == "{prediction}":
                body["prediction_id"] = prediction
            r = http.request(method, _fill(path, user), json=body, headers=team.headers(user))
            _check(r, _expected(user, action, SERVE_ALLOWED), user, action)


def test_a_scoped_editor_adds_data_only_in_scope(team: Team, tmp_path: Path) -> None:
    """Through the SDK over HTTP: the dataset's name is checked against ``loans*`` (the
    blob upload before it names no dataset and is allowed)."""
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    yard = remote(team, "loans-editor", tmp_path)
    try:
        assert yard.datasets.add("loans_features", df).version == 1
        with pytest.raises(Forbidden, match="needs permission 'write' on 'churn_features'"):
            yard.datasets.add("churn_features", df)
    finally:
        yard.close()
    viewer = remote(team, "viewer", tmp_path)
    try:
        with pytest.raises(Forbidden, match="needs permission 'write'"):
            viewer.datasets.add("loans_features", df)
    finally:
        viewer.close()


def test_revocation_and_disabling_count_on_the_next_request_on_both_servers(
    team: Team,
) -> None:
    team.yard.backend.users.add("temp", roles=["viewer"])
    token = team.yard.backend.auth.create("temp")
    headers = {"Authorization": f"Bearer {token}"}
    row = {"records": [{"x": 1.0}]}
    assert httpx.get(f"{team.api}/api/v1/models", headers=headers).status_code == 200
    assert httpx.post(f"{team.serve}/predict/loans", json=row, headers=headers).status_code \
        == 200
    team.yard.backend.users.disable("temp")
    assert httpx.get(f"{team.api}/api/v1/models", headers=headers).status_code == 401
    assert httpx.post(f"{team.serve}/predict/loans", json=row, headers=headers).status_code \
        == 401
    team.yard.backend.users.enable("temp")
    team.yard.backend.users.revoke_role("temp", "viewer")  # no role: authenticated, may not
    assert httpx.get(f"{team.api}/api/v1/models", headers=headers).status_code == 403
    team.yard.backend.auth.revoke("temp")
    assert httpx.get(f"{team.api}/api/v1/models", headers=headers).status_code == 401
    assert httpx.post(f"{team.serve}/predict/loans", json=row, headers=headers).status_code \
        == 401


def test_the_team_covers_every_kind_of_user() -> None:
    assert set(TEAM) == set(ROLES) | set(REFUSED)
