"""Users and their tokens: random, shown once, stored as a hash, expiry, revocation, last use,
disabled users, and the migration of the tokens of earlier releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import modelyard as my
from modelyard.access import Grant, Principal
from modelyard.cli.main import app
from modelyard.errors import AlreadyExists, InvalidParameter, NotFound, Unauthorized


def test_a_user_holds_roles_and_their_tokens_act_as_them(clocked_yard: my.Yard) -> None:
    users, tokens = clocked_yard.backend.users, clocked_yard.backend.auth
    alice = users.add("alice", display_name="Alice A.", roles=["editor:loans*", "approver"])
    assert alice.grants == [Grant(role="editor", pattern="loans*"), Grant(role="approver")]
    token = tokens.create("alice")
    principal = tokens.verify(token)
    assert principal == Principal(name="alice", grants=tuple(alice.grants))
    assert principal.can("write", "loans_v2") and not principal.can("write", "churn")
    assert principal.can("approve", "churn") and not principal.can("admin")
    second = tokens.create("alice", name="alice-laptop")  # a user may hold several tokens
    assert tokens.verify(second).name == "alice"
    assert [t.name for t in tokens.list(user="alice")] == ["alice", "alice-laptop"]


def test_a_token_of_a_missing_user_needs_a_role(local_yard: my.Yard) -> None:
    with pytest.raises(NotFound, match="No user named 'bob'. Add one first"):
        local_yard.backend.auth.create("bob")
    local_yard.backend.auth.create("bob", role="viewer")  # the first step on a new server
    assert local_yard.backend.users.get("bob").roles == "viewer"
    with pytest.raises(InvalidParameter, match="does not hold role admin; grant it first"):
        local_yard.backend.auth.create("bob", role="admin", name="bob-2")


def test_an_expired_token_is_refused(clocked_yard: my.Yard, fixed_clock) -> None:
    tokens = clocked_yard.backend.auth
    token = tokens.create("ci", role="editor", expires="2d")
    assert tokens.verify(token).name == "ci"
    fixed_clock.advance(2 * 86400)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(token)
    with pytest.raises(InvalidParameter, match="expires must be a duration such as 30d"):
        tokens.create("ci", expires="soon", name="ci-2")
    with pytest.raises(InvalidParameter, match="future ISO 8601 time"):
        tokens.create("ci", expires="2020-01-01T00:00:00+00:00", name="ci-2")


def test_last_use_is_recorded_to_the_minute(clocked_yard: my.Yard, fixed_clock) -> None:
    tokens = clocked_yard.backend.auth
    token = tokens.create("ci", role="viewer")
    assert tokens.list()[0].last_used_at is None
    tokens.verify(token)
    first = tokens.list()[0].last_used_at
    assert first == fixed_clock.now()
    fixed_clock.advance(10)
    tokens.verify(token)  # within the minute: not written again
    assert tokens.list()[0].last_used_at == first
    fixed_clock.advance(60)
    tokens.verify(token)
    assert tokens.list()[0].last_used_at == fixed_clock.now()


def test_disabling_a_user_stops_their_tokens_and_enabling_restores_them(
    local_yard: my.Yard,
) -> None:
    users, tokens = local_yard.backend.users, local_yard.backend.auth
    token = tokens.create("bob", role="editor")
    users.disable("bob")
    with pytest.raises(Unauthorized, match="User 'bob' is disabled"):
        tokens.verify(token)
    users.enable("bob")
    assert tokens.verify(token).name == "bob"


def test_a_role_taken_back_counts_from_the_next_check(local_yard: my.Yard) -> None:
    users, tokens = local_yard.backend.users, local_yard.backend.auth
    token = tokens.create("bob", role="editor")
    users.grant("bob", "approver", pattern="loans*")
    assert tokens.verify(token).can("approve", "loans")
    users.revoke_role("bob", "approver", pattern="loans*")
    assert not tokens.verify(token).can("approve", "loans")
    with pytest.raises(NotFound, match="does not hold role approver on 'loans\\*'; their roles "
                                       "are editor"):
        users.revoke_role("bob", "approver", pattern="loans*")
    with pytest.raises(AlreadyExists, match="'bob'"):
        users.add("bob")
    with pytest.raises(InvalidParameter, match="role must be one of viewer, editor"):
        users.grant("bob", "owner")


def test_user_and_token_changes_are_audit_records(local_yard: my.Yard) -> None:
    users, tokens = local_yard.backend.users, local_yard.backend.auth
    users.add("carol", roles=["viewer"])
    tokens.create("carol", expires="30d")
    users.grant("carol", "approver")
    users.revoke_role("carol", "approver")
    users.disable("carol")
    users.enable("carol")
    tokens.revoke("carol")
    actions = [r.action for r in local_yard.backend.audit.records(limit=100)
               if r.target in ("user:carol", "token:carol")]
    assert sorted(actions) == sorted(["user.add", "role.grant", "token.create", "role.grant",
                                      "role.revoke", "user.disable", "user.enable",
                                      "token.revoke"])
    assert local_yard.backend.audit.verify().ok


def test_the_cli_manages_users_and_tokens(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()

    def cli(*args: str) -> object:
        result = runner.invoke(app, [*home, *args])
        assert result.exit_code == 0, result.output
        return result

    cli("users", "add", "alice", "--role", "editor:loans*", "--display-name", "Alice")
    cli("users", "grant", "alice", "approver")
    shown = json.loads(cli("users", "show", "alice", "--json").stdout)
    assert [(g["role"], g["pattern"]) for g in shown["user"]["grants"]] == [
        ("editor", "loans*"), ("approver", "*")]
    created = cli("tokens", "create", "--user", "alice", "--expires", "30d")
    token = created.stdout.strip()
    assert token.startswith("my_") and "expires" in created.stderr
    listed = json.loads(cli("tokens", "list", "--user", "alice", "--json").stdout)
    assert [(t["name"], t["user"]) for t in listed] == [("alice", "alice")]
    assert listed[0]["expires_at"] is not None and token not in json.dumps(listed)
    cli("users", "revoke-role", "alice", "editor", "--on", "loans*")
    cli("users", "disable", "alice")
    table = cli("users", "list").stdout
    assert "alice" in table and "disabled" in table and "approver" in table
    cli("tokens", "revoke", "alice")


def test_tokens_of_an_earlier_release_become_users(tmp_path: Path) -> None:
    """The migration: a token named ci with role writer becomes user ci, an editor, and the
    token keeps working."""
    from alembic import command

    from modelyard.governance.tokens import hash_token
    from modelyard.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "auth_0001")
        rows = [("1", "ci", "writer", "my_old_ci", None),
                ("2", "dash", "reader", "my_old_dash_revoked", "2026-01-02 00:00:00"),
                ("3", "dash", "admin", "my_old_dash", None)]
        for id_, name, role, token, revoked in rows:
            conn.execute(sa.text(
                "INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked_at) "
                "VALUES (:i, :n, :r, :h, '2026-01-01 00:00:00', :v)"),
                {"i": id_, "n": name, "r": role, "h": hash_token(token), "v": revoked})
    engine.dispose()
    yard = my.connect(url, artifacts=str(tmp_path / "artifacts"),
                      settings=my.Settings.load({}, home=tmp_path / "home"))
    try:
        assert yard.backend.auth.verify("my_old_ci") == Principal(name="ci", role="editor")
        assert yard.backend.auth.verify("my_old_dash") == Principal(name="dash", role="admin")
        with pytest.raises(Unauthorized):
            yard.backend.auth.verify("my_old_dash_revoked")
        assert [(u.name, u.roles) for u in yard.backend.users.list()] == [
            ("ci", "editor"), ("dash", "admin")]
    finally:
        yard.close()
