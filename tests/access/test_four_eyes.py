"""Four-eyes promotion over real HTTP: a four-eyes alias moves only through a request that a
second person with ``approve`` approves; the request is bound to the version's digest and its
latest validation report; requests, approvals and refusals are audit records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.errors import ApprovalRequired, Forbidden, InvalidParameter

from .conftest import Team, register, remote, report


@pytest.fixture(scope="module")
def people(team: Team) -> Team:
    """alice asks (editor and approver: she could approve, but not her own request), bob
    approves; loans@production needs both."""
    users, tokens = team.yard.backend.users, team.yard.backend.auth
    users.add("alice", roles=["editor", "approver"])
    users.add("bob", display_name="Bob", roles=["approver"])
    team.tokens["alice"] = tokens.create("alice")
    team.tokens["bob"] = tokens.create("bob")
    team.yard.models.require_approval("loans", "production")
    return team

# the tests share one module-scoped yard (its users, versions and aliases): one xdist worker
# runs them all
pytestmark = pytest.mark.xdist_group("four_eyes")


def test_a_second_person_approves_and_the_alias_moves(people: Team, tmp_path: Path) -> None:
    alice, bob = remote(people, "alice", tmp_path), remote(people, "bob", tmp_path)
    try:
        with pytest.raises(ApprovalRequired, match="moves only with a second person's approval"):
            alice.models.set_alias("loans", "production", 2)
        passed = alice.validation.latest_report("loans/2").id
        req = alice.models.promote("loans", "production", 2, reason="better auc")
        assert (req.state, req.requested_by, req.report_id, req.report_status) == (
            "pending", "alice", passed, "passed")
        assert req.digest == alice.models.get("loans/2").digest
        with pytest.raises(Forbidden, match="a second person must approve it"):
            alice.models.approve(req.id)
        assert bob.models.get("loans@production").version == 1  # nothing moved
        done = bob.models.approve(req.id, note="looks right")
        assert (done.state, done.decided_by) == ("approved", "bob")
        assert bob.models.get("loans@production").version == 2
        [event] = [e for e in bob.models.alias_history("loans", "production")
                   if e.new_version == 2]
        assert event.moved_by == "bob" and f"promotion {req.id} requested by alice" in \
            event.reason
        with pytest.raises(InvalidParameter, match="already approved by bob"):
            bob.models.approve(req.id)
        with pytest.raises(ApprovalRequired, match="a promotion request cannot delete it"):
            bob.models.delete_alias("loans", "production", override=True, reason="retire")
    finally:
        alice.close()
        bob.close()
    audit = people.yard.backend.audit
    records = audit.records(target="alias:loans@production", limit=100)
    by_action = {r.action: r for r in records}
    assert by_action["promotion.request"].actor == "alice"
    assert by_action["promotion.approve"].actor == "bob"
    moved = [r for r in records if r.action == "alias.set"][-1]
    assert moved.actor == "bob" and moved.state()["approved_by"] == "bob"
    assert audit.verify().ok


def test_an_editor_without_approve_cannot_decide(people: Team, tmp_path: Path) -> None:
    register(people.yard, "loans")  # loans/3
    report(people.yard, "loans", 3, "passed")
    editor = remote(people, "editor", tmp_path)
    try:
        req = editor.models.promote("loans", "production", 3)
        with pytest.raises(Forbidden, match="needs permission 'approve' on 'loans'"):
            editor.models.approve(req.id)
        with pytest.raises(Forbidden, match="needs permission 'approve'"):
            editor.models.refuse(req.id, "no")
    finally:
        editor.close()
    people.yard.models.refuse(req.id, "not this week")  # tidy: nothing left pending


def test_a_newer_failed_report_or_a_changed_digest_stops_the_approval(
    people: Team, tmp_path: Path
) -> None:
    v = register(people.yard, "loans")
    report(people.yard, "loans", v, "passed")
    before = people.yard.models.get("loans@production").version
    alice, bob = remote(people, "alice", tmp_path), remote(people, "bob", tmp_path)
    try:
        stale = alice.models.promote("loans", "production", v)
        failed = report(people.yard, "loans", v, "failed")
        with pytest.raises(ApprovalRequired, match=f"a newer validation report of loans/{v} "
                                                   f"\\({failed}\\) failed"):
            bob.models.approve(stale.id)
        refused = bob.models.refuse(stale.id, "the newer report failed")
        assert (refused.state, refused.decided_by, refused.note) == (
            "refused", "bob", "the newer report failed")
        report(people.yard, "loans", v, "passed")
        again = alice.models.promote("loans", "production", v)
        with people.yard.backend.db.write() as conn:  # the version's files are swapped
            conn.execute(sa.text("UPDATE model_versions SET digest = :d WHERE name = 'loans' "
                                 "AND version = :v"), {"d": "f" * 64, "v": v})
        with pytest.raises(ApprovalRequired, match=f"the digest of loans/{v} is now f+"):
            bob.models.approve(again.id)
        assert bob.models.get("loans@production").version == before
    finally:
        alice.close()
        bob.close()
    refusals = people.yard.backend.audit.records(action="promotion.refuse", limit=100)
    assert any(r.state()["request"] == stale.id and r.actor == "bob" for r in refusals)


def test_the_cli_lists_promotes_and_approves(people: Team) -> None:
    v = register(people.yard, "loans")
    report(people.yard, "loans", v, "passed")
    runner = CliRunner()

    def cli(user: str, *args: str) -> str:
        result = runner.invoke(app, ["--remote", people.api, "--token", people.tokens[user],
                                     *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    made = json.loads(cli("alice", "models", "promote", "loans", "production", str(v), "--json"))
    pending = json.loads(cli("bob", "models", "requests", "loans", "--state", "pending",
                             "--json"))
    assert made["id"] in [r["id"] for r in pending]
    assert "approved by bob" not in cli("bob", "models", "requests", "loans")
    assert "(approved by bob" in cli("bob", "models", "approve", made["id"])
    assert people.yard.models.get("loans@production").version == v
    # without the requirement (an admin's decision, with a reason), an approver moves it
    people.yard.backend.promotions.drop_approval("loans", "production", reason="pilot over")
    cli("bob", "models", "alias", "set", "loans", "production", "2")
    assert people.yard.models.get("loans@production").version == 2


def test_the_flow_on_both_databases(yard: Any) -> None:
    """The same transaction on SQLite and PostgreSQL (row locks, one audit chain), with the
    two people set as the request's principal the way the servers do."""
    from modelyard.access import Principal, current_principal

    def as_(name: str, role: str) -> Any:
        return current_principal.set(Principal(name=name, role=role))

    register(yard, "loans", 2)
    report(yard, "loans", 2, "passed")
    yard.models.set_alias("loans", "production", 1)
    yard.models.require_approval("loans", "production")
    who = as_("alice", "editor")
    try:
        req = yard.models.promote("loans", "production", 2)
    finally:
        current_principal.reset(who)
    who = as_("bob", "approver")
    try:
        assert yard.models.approve(req.id).decided_by == "bob"
    finally:
        current_principal.reset(who)
    assert yard.models.get("loans@production").version == 2
    assert yard.backend.audit.verify().ok
