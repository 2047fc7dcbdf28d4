"""Who did something is a fact the server records from the authenticated principal (the OS
user in the embedded mode), never a field a client sends."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import modelyard as my
from modelyard.registry.entities import Manifest

LiveServer = Any


def _manifest(yard: my.Yard, content: bytes) -> Manifest:
    digest = yard.backend.blobs.put_bytes(content)
    return Manifest(flavor="pyfunc", options={"class": "m:C"}, files={"state.json": digest})


def _remote(srv: LiveServer, token: str | None, home: Path) -> my.Yard:
    return my.connect(srv.url, token=token, settings=my.Settings.load({}, home=home))


def test_the_server_records_each_tokens_principal(
    local_yard: my.Yard, server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    srv = server_factory(local_yard, auth=True)
    alice = _remote(srv, local_yard.backend.auth.create("alice", "writer"), tmp_path / "a")
    bob = _remote(srv, local_yard.backend.auth.create("bob", "writer"), tmp_path / "b")
    v1 = alice.backend.registry.create_model_version(name="m", manifest=_manifest(alice, b"1"))
    v2 = bob.backend.registry.create_model_version(name="m", manifest=_manifest(bob, b"2"))
    assert (v1.created_by, v2.created_by) == ("alice", "bob")
    alice.models.set_alias("m", "production", 1, reason="first")
    bob.models.set_alias("m", "production", 2, reason="better")
    alice.models.delete_alias("m", "production", reason="incident")
    assert [e.moved_by for e in local_yard.models.alias_history("m")] == ["alice", "bob", "alice"]
    assert bob.models.journal("m", "why v2").author == "bob"
    with alice.start_run("e") as run:
        pass
    assert local_yard.runs.get(run.id).user == "alice"
    dv = alice.datasets.add("d", pd.DataFrame({"x": [1, 2, 3]}))
    assert local_yard.datasets.get("d").created_by == "alice" == dv.created_by
    assert bob.datasets.describe("d", "x", description="a count").updated_by == "bob"
    alice.close()
    bob.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/models/m/journal", {"text": "x", "author": "mallory"}, "author"),
        ("PUT", "/api/v1/models/m/aliases/prod", {"version": 1, "moved_by": "mallory"},
         "moved_by"),
        ("DELETE", "/api/v1/models/m/aliases/prod?moved_by=mallory", None, "moved_by"),
        ("POST", "/api/v1/models/m/versions",
         {"manifest": {"flavor": "pyfunc", "files": {}}, "created_by": "mallory"}, "created_by"),
        ("POST", "/api/v1/runs", {"environment": {"user": "mallory"}}, "environment.user"),
        ("POST", "/api/v1/datasets/d/versions",
         {"schema": [], "fragments": [], "created_by": "mallory"}, "created_by"),
        ("PUT", "/api/v1/datasets/d/columns/x", {"updated_by": "mallory"}, "updated_by"),
    ],
)
def test_a_who_field_in_a_request_is_refused_naming_it(
    local_yard: my.Yard, server_factory: Callable[..., LiveServer], method: str, path: str,
    body: dict[str, Any] | None, field: str,
) -> None:
    srv = server_factory(local_yard, auth=True)
    r = httpx.request(method, srv.url + path, json=body, timeout=60,
                      headers={"Authorization": f"Bearer {srv.token}"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


def test_a_server_without_token_checks_records_anonymous(
    local_yard: my.Yard, server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    remote = _remote(server_factory(local_yard), None, tmp_path / "c")
    remote.backend.registry.create_model_version(name="m", manifest=_manifest(remote, b"1"))
    remote.models.set_alias("m", "production", 1)
    assert local_yard.models.alias_history("m")[0].moved_by == "anonymous"
    assert local_yard.models.get("m/1").created_by == "anonymous"
    remote.close()


def test_the_embedded_mode_records_the_os_user(yard: my.Yard) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    yard.backend.registry.create_model_version(name="m", manifest=_manifest(yard, b"1"))
    yard.models.set_alias("m", "production", 1)
    with yard.start_run("e") as run:
        pass
    assert yard.runs.get(run.id).user == me
    assert yard.models.get("m/1").created_by == me
    assert yard.models.alias_history("m")[0].moved_by == me
    assert yard.models.journal("m", "note").author == me
    assert yard.datasets.add("d", pd.DataFrame({"x": [1]})).created_by == me
    assert yard.datasets.describe("d", "x", unit="count").updated_by == me
