"""The tamper-evident audit log: every change has its record in the same transaction, the chain
never forks under concurrent writers, and any edit, deletion, reordering or truncation is
caught and named, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pwd
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

import modelyard as my
from modelyard.errors import IntegrityError, NotFound
from modelyard.governance.audit import AuditStore, export, key_path, verify_export
from modelyard.registry.entities import Manifest
from modelyard.serving.repository import ServingRepository

LiveServer = Any


def _version(yard: my.Yard, content: bytes = b"w", name: str = "loans") -> Any:
    digest = yard.backend.blobs.put_bytes(content)
    manifest = Manifest(flavor="pyfunc", options={"class": "m:C"}, files={"s.json": digest})
    return yard.backend.registry.create_model_version(name=name, manifest=manifest)


def _sql(yard: my.Yard, statement: str, **params: Any) -> None:
    """Tamper with the database directly, as someone holding it could."""
    with yard.backend.db.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def _changes(yard: my.Yard) -> None:
    """A few changes of several kinds (at least 8 records)."""
    _version(yard, b"1")
    _version(yard, b"2")
    yard.models.set_alias("loans", "production", 1, reason="first")
    yard.models.set_alias("loans", "production", 2, reason="better")
    yard.models.journal("loans", "why v2")
    with yard.start_run("e") as run:
        run.set_tags({"stage": "dev"})
    yard.datasets.add("d", pd.DataFrame({"x": [1, 2]}))


def test_every_change_appends_a_record_with_its_actor(yard: my.Yard) -> None:
    _changes(yard)
    yard.backend.auth.create("ci", "writer")
    yard.backend.auth.revoke("ci")
    repo = ServingRepository(yard.backend.db, yard.clock)
    repo.save_endpoint("loans", {"routes": [{"model": "loans@production"}]}, "api")
    canary = repo.start_canary("loans", "canary", "loans/2", {"steps": [0.1, 1.0]}, 0.1)
    repo.advance(canary.id, 0, 1, 1.0, "promote", "healthy", {"errors": 0})
    repo.delete_endpoint("loans")
    records = yard.backend.audit.records(limit=1000)
    actions = [r.action for r in records]
    for action in ("model.version.create", "alias.set", "journal.add", "run.create",
                   "run.tags.set", "run.end", "dataset.add", "token.create", "token.revoke",
                   "endpoint.put", "canary.start", "canary.promote", "endpoint.delete"):
        assert action in actions, action
    assert {r.actor for r in records} == {pwd.getpwuid(os.getuid()).pw_name}
    moved = [r for r in records if r.action == "alias.set"][-1]
    assert moved.target == "alias:loans@production"
    assert (moved.state("before"), moved.state("after")) == (
        {"version": 1}, {"version": 2, "reason": "better"})
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert yard.backend.audit.verify().ok


def test_a_failed_change_leaves_no_record(yard: my.Yard) -> None:
    _version(yard)
    before = yard.backend.audit.head().seq
    with pytest.raises(NotFound):
        yard.models.set_alias("loans", "production", 7)
    assert yard.backend.audit.head().seq == before


def test_no_change_without_its_record(yard: my.Yard) -> None:
    """If the record cannot be written the change does not happen (one transaction)."""
    _version(yard)
    _sql(yard, "DELETE FROM audit_head")
    with pytest.raises(IntegrityError, match="no head row"):
        yard.models.set_alias("loans", "production", 1)
    with pytest.raises(NotFound):
        yard.models.get("loans@production")


def test_concurrent_writers_never_fork_the_chain(yard: my.Yard) -> None:
    _version(yard)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(10):
                yard.models.set_tag("loans", f"k{i}", str(j))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = yard.backend.audit.verify()
    assert result.ok, result.problems
    assert result.records == 1 + 40


# ---- tampering: each caught and named, on both databases ---------------------------------------
def test_an_edited_row_is_named(yard: my.Yard) -> None:
    _changes(yard)
    _sql(yard, "UPDATE audit_log SET after = :a WHERE seq = 3", a='{"reason":"x","version":9}')
    result = yard.backend.audit.verify()
    assert not result.ok and result.first_broken == 3
    assert "record 3" in result.problems[0] and "changed" in result.problems[0]


def test_an_edited_actor_is_named(yard: my.Yard) -> None:
    _changes(yard)
    _sql(yard, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
    assert yard.backend.audit.verify().first_broken == 5


def test_a_deleted_row_is_named(yard: my.Yard) -> None:
    _changes(yard)
    _sql(yard, "DELETE FROM audit_log WHERE seq = 4")
    result = yard.backend.audit.verify()
    assert not result.ok and result.first_broken == 4
    assert "record 4 is missing" in result.problems[0]


def test_two_reordered_rows_are_named(yard: my.Yard) -> None:
    _changes(yard)
    _sql(yard, "UPDATE audit_log SET seq = -1 WHERE seq = 4")
    _sql(yard, "UPDATE audit_log SET seq = 4 WHERE seq = 5")
    _sql(yard, "UPDATE audit_log SET seq = 5 WHERE seq = -1")
    result = yard.backend.audit.verify()
    assert not result.ok and result.first_broken == 4
    assert "record 4 (" in result.problems[0] and "changed" in result.problems[0]


def test_a_rewritten_and_rehashed_row_is_named(yard: my.Yard) -> None:
    """Recomputing the edited row's own hash does not help: the next row chained to the old."""
    from modelyard.store.audit import record_hash

    _changes(yard)
    rec = yard.backend.audit.records(after_seq=2, limit=1)[0]
    forged = rec.model_copy(update={"actor": "mallory"})
    _sql(yard, "UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 3",
         h=record_hash(seq=3, at=forged.at, actor="mallory", action=rec.action,
                       target=rec.target, before=rec.before, after=rec.after,
                       prev=rec.prev_hash))
    result = yard.backend.audit.verify()
    assert result.first_broken == 3 and "rewritten" in result.problems[0]


def test_a_truncated_tail_after_a_checkpoint_is_named(yard: my.Yard) -> None:
    _changes(yard)
    checkpoint = yard.backend.audit.checkpoint()
    assert checkpoint is not None and checkpoint.size >= 8
    # remove the last three records and make the head row agree, as a careful forger would
    keep = yard.backend.audit.records(after_seq=checkpoint.size - 4, limit=1)[0]
    _sql(yard, "DELETE FROM audit_log WHERE seq > :k", k=keep.seq)
    _sql(yard, "UPDATE audit_head SET seq = :k, hash = :h", k=keep.seq, h=keep.hash)
    result = yard.backend.audit.verify()
    assert not result.ok and result.first_broken == keep.seq + 1
    assert "truncated" in result.problems[0] and f"covers {checkpoint.size}" in result.problems[0]


def test_a_truncated_tail_without_checkpoint_is_named_by_the_head(yard: my.Yard) -> None:
    _changes(yard)
    last = yard.backend.audit.head().seq
    _sql(yard, "DELETE FROM audit_log WHERE seq > :k", k=last - 2)
    result = yard.backend.audit.verify()
    assert result.first_broken == last - 1 and "truncated" in result.problems[0]


# ---- checkpoints, keys, export ---------------------------------------------------------------------
def test_the_checkpoint_key_is_private_and_its_public_half_exportable(local_yard: my.Yard) -> None:
    _version(local_yard)
    cp = local_yard.backend.audit.checkpoint()
    path = key_path(local_yard.settings.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = local_yard.backend.audit.public_key()
    assert key.vkey.startswith(f"modelyard.audit/{local_yard.backend.audit.head().log_id}+")
    assert "PRIVATE" not in key.pem and cp is not None and cp.key_id == key.key_id
    lines = cp.note.splitlines()
    assert lines[0] == key.name and lines[1] == str(cp.size) and lines[4] == ""
    assert lines[5].startswith("\u2014 " + key.name + " ")
    assert local_yard.backend.audit.checkpoint() == cp  # the head did not move


def test_a_checkpoint_signed_by_an_unknown_key_is_not_trusted(local_yard: my.Yard,
                                                              tmp_path: Path) -> None:
    _version(local_yard)
    other = my.connect(local_yard.settings.resolved_database_url,
                       settings=my.Settings.load({}, home=tmp_path / "elsewhere"))
    other.backend.audit.checkpoint()  # the same log, signed with another home's key
    result = local_yard.backend.audit.verify()
    assert not result.ok and "not signed by a trusted key" in result.problems[0]
    assert local_yard.backend.audit.verify(keys=[other.backend.audit.public_key().vkey]).ok
    other.close()


def test_an_export_verifies_offline_and_catches_an_edit(yard: my.Yard, tmp_path: Path) -> None:
    _changes(yard)
    summary = export(yard.backend.audit, tmp_path / "archive")
    key = yard.backend.audit.public_key().vkey
    assert summary["records"] == yard.backend.audit.head().seq
    assert verify_export(tmp_path / "archive", [key]).ok
    lines = (tmp_path / "archive" / "records.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"action":"model.version.create"', '"action":"model.delete"')
    (tmp_path / "archive" / "records.jsonl").write_text("\n".join(lines) + "\n")
    assert verify_export(tmp_path / "archive", [key]).first_broken == 2


def test_the_exported_checkpoint_catches_a_rewrite_of_the_whole_database(
    local_yard: my.Yard, tmp_path: Path
) -> None:
    """A forger who rewrites records, hashes, the head row and deletes the checkpoints in the
    database is caught by the checkpoints exported before."""
    from modelyard.governance.audit import verify_chain
    from modelyard.store.audit import record_hash

    _changes(local_yard)
    export(local_yard.backend.audit, tmp_path / "archive")
    store: AuditStore = local_yard.backend.audit
    prev = "0" * 64
    for rec in store.records(limit=1000):  # rewrite record 2 and re-chain everything after it
        actor = "mallory" if rec.seq == 2 else rec.actor
        digest = record_hash(seq=rec.seq, at=rec.at, actor=actor, action=rec.action,
                             target=rec.target, before=rec.before, after=rec.after, prev=prev)
        _sql(local_yard, "UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h "
                         "WHERE seq = :s", a=actor, p=prev, h=digest, s=rec.seq)
        prev = digest
    _sql(local_yard, "UPDATE audit_head SET hash = :h", h=prev)
    _sql(local_yard, "DELETE FROM audit_checkpoints")
    assert store.verify().ok  # the database alone cannot tell
    exported = [line for line in (tmp_path / "archive" / "checkpoints.jsonl").read_text()
                .splitlines() if line]
    from modelyard.governance.audit import Checkpoint

    result = verify_chain(store.records(limit=1000),
                          [Checkpoint.model_validate_json(x) for x in exported],
                          [store.public_key().vkey], store.head())
    assert not result.ok and "rewritten" in result.problems[0]


# ---- over HTTP and the CLI -----------------------------------------------------------------------
def test_the_server_records_each_tokens_principal_and_guards_the_routes(
    local_yard: my.Yard, server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    srv = server_factory(local_yard, auth=True)
    reader = my.connect(srv.url, token=local_yard.backend.auth.create("dash", "reader"),
                        settings=my.Settings.load({}, home=tmp_path / "r"))
    alice = my.connect(srv.url, token=local_yard.backend.auth.create("alice", "writer"),
                       settings=my.Settings.load({}, home=tmp_path / "a"))
    _version(alice)
    alice.models.set_alias("loans", "production", 1)
    [moved] = reader.backend.audit.records(target="alias:loans@production")
    assert moved.actor == "alice"
    assert [r.actor for r in reader.backend.audit.records(target="model:loans*")] == ["alice"]
    assert reader.backend.audit.verify().ok
    from modelyard.errors import Forbidden

    with pytest.raises(Forbidden, match="needs permission 'admin'"):
        reader.backend.audit.checkpoint()
    admin = my.connect(srv.url, token=srv.token, settings=my.Settings.load({}, home=tmp_path))
    assert admin.backend.audit.checkpoint().size == local_yard.backend.audit.head().seq
    for y in (reader, alice, admin):
        y.close()


def test_the_server_signs_checkpoints_periodically(
    local_yard: my.Yard, server_factory: Callable[..., LiveServer]
) -> None:
    from modelyard.api.app import create_app
    from modelyard.api.server import BackgroundServer

    _version(local_yard)
    settings = local_yard.settings.model_copy(update={"audit_checkpoint_interval": 0.05})
    with BackgroundServer(create_app(local_yard, settings)):
        import time

        deadline = time.monotonic() + 60
        while not local_yard.backend.audit.checkpoints() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert local_yard.backend.audit.checkpoints()


def test_cli_verify_log_and_export(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    home = str(tmp_path / "home")
    with my.connect(settings=my.Settings.load({}, home=Path(home))) as yard:
        _changes(yard)
    runner = CliRunner()
    ok = runner.invoke(app, ["--home", home, "audit", "verify"])
    assert ok.exit_code == 0 and "audit log intact" in ok.output
    log = runner.invoke(app, ["--home", home, "audit", "log", "--target", "alias:*"])
    assert log.exit_code == 0 and "alias.set" in log.output
    out = runner.invoke(app, ["--home", home, "audit", "export", str(tmp_path / "x")])
    assert out.exit_code == 0 and "exported" in out.output
    offline = runner.invoke(app, ["audit", "verify", "--archive", str(tmp_path / "x")])
    assert offline.exit_code == 0, offline.output
    with my.connect(settings=my.Settings.load({}, home=Path(home))) as yard:
        _sql(yard, "DELETE FROM audit_log WHERE seq = 2")
    broken = runner.invoke(app, ["--home", home, "audit", "verify"])
    assert broken.exit_code == 1 and "broken at record 2" in broken.output
