"""The registry store on SQLite and PostgreSQL: models, versions, aliases with their history,
tags, descriptions and the append-only journal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

import modelyard as my
from modelyard.access import Principal, current_principal, process_principal
from modelyard.clock import FixedClock
from modelyard.config import Settings
from modelyard.errors import AlreadyExists, InvalidParameter, NotFound
from modelyard.registry.entities import Manifest, ModelVersion, manifest_digest
from modelyard.registry.store import RegistryStore
from modelyard.transport import endpoints_of


def _manifest(yard: my.Yard, content: bytes = b"weights") -> Manifest:
    digest = yard.backend.blobs.put_bytes(content)
    return Manifest(flavor="pyfunc", options={"class": "m:C"}, files={"state.json": digest})


def _register(yard: my.Yard, name: str = "loans", content: bytes = b"weights",
              **kwargs: object) -> ModelVersion:
    return yard.backend.registry.create_model_version(  # type: ignore[no-any-return]
        name=name, manifest=_manifest(yard, content), **kwargs)


def test_create_and_get_registered_model(yard: my.Yard) -> None:
    store = yard.backend.registry
    created = store.create_registered_model(name="loans", description="default risk",
                                            tags={"team": "credit"})
    got = store.get_registered_model(name="loans")
    assert got.name == "loans" and got.description == "default risk"
    assert got.tags == {"team": "credit"}
    assert got.latest_version is None and got.aliases == {}
    assert got.created_at == created.created_at and got.created_at.tzinfo is not None


def test_duplicate_registered_model_is_refused(yard: my.Yard) -> None:
    yard.backend.registry.create_registered_model(name="loans")
    with pytest.raises(AlreadyExists, match="'loans' already exists"):
        yard.backend.registry.create_registered_model(name="loans")


@pytest.mark.parametrize("bad", ["", "a/b", "a@b", "-x", "x" * 257, "sp ace"])
def test_bad_model_names_are_refused(yard: my.Yard, bad: str) -> None:
    with pytest.raises(InvalidParameter, match="model name must be") as info:
        yard.backend.registry.create_registered_model(name=bad)
    assert info.value.field == "name"


def test_unknown_model_is_named(yard: my.Yard) -> None:
    with pytest.raises(NotFound, match="No registered model named 'ghost'"):
        yard.backend.registry.get_registered_model(name="ghost")
    with pytest.raises(NotFound, match="'ghost'"):
        yard.backend.registry.list_model_versions(name="ghost")


def test_versions_are_numbered_from_one_and_create_the_model(yard: my.Yard) -> None:
    v1 = _register(yard, content=b"a")
    v2 = _register(yard, content=b"b", description="second", tags={"stage": "dev"})
    assert (v1.version, v2.version) == (1, 2)
    assert v2.ref == "loans/2" and v2.description == "second" and v2.tags == {"stage": "dev"}
    assert [v.version for v in yard.backend.registry.list_model_versions(name="loans")] == [1, 2]
    assert yard.backend.registry.get_registered_model(name="loans").latest_version == 2


def test_version_round_trips_every_field(yard: my.Yard) -> None:
    created = _register(yard, code_commit="abc123", source_version="loans/1")
    got = yard.backend.registry.get_model_version(name="loans", version=1)
    assert got == created
    assert got.digest == manifest_digest(got.manifest())
    assert got.code_commit == "abc123" and got.source_version == "loans/1"
    assert got.created_by == process_principal().name and got.status == "READY"


def test_unknown_version_names_the_known_range(yard: my.Yard) -> None:
    for content in (b"a", b"b", b"c"):
        _register(yard, content=content)
    with pytest.raises(NotFound, match=r"Model 'loans' has no version 7; versions are 1\.\.3"):
        yard.backend.registry.get_model_version(name="loans", version=7)


def test_version_with_unknown_run_is_refused(yard: my.Yard) -> None:
    with pytest.raises(NotFound, match="No run with id 'nope'"):
        _register(yard, run_id="nope")
    # the model created for the version was rolled back with it
    assert yard.backend.registry.list_registered_models() == []


def test_version_needs_its_blobs_in_the_store(yard: my.Yard) -> None:
    manifest = Manifest(flavor="pyfunc", files={"state.json": "ab" * 32})
    with pytest.raises(NotFound, match="not in the artifact store"):
        yard.backend.registry.create_model_version(name="loans", manifest=manifest)


def test_version_file_names_cannot_escape(yard: my.Yard) -> None:
    digest = yard.backend.blobs.put_bytes(b"x")
    manifest = Manifest(flavor="pyfunc", files={"../evil": digest})
    with pytest.raises(InvalidParameter, match="relative path"):
        yard.backend.registry.create_model_version(name="loans", manifest=manifest)


def test_resolve_version_alias_and_latest(yard: my.Yard) -> None:
    store = yard.backend.registry
    for content in (b"a", b"b", b"c"):
        _register(yard, content=content)
    store.set_alias(name="loans", alias="production", version=2)
    assert store.resolve(ref="loans/1").version == 1
    assert store.resolve(ref="loans@production").version == 2
    assert store.resolve(ref="loans").version == 3
    assert store.resolve(ref="loans@latest").version == 3
    assert store.resolve(ref="loans@production").aliases == ["production"]


@pytest.mark.parametrize("ref", ["loans@", "loans/x", "loans/0", "loans/", "@prod", "a b",
                                 "loans@1abc"])
def test_bad_refs_explain_the_forms(yard: my.Yard, ref: str) -> None:
    with pytest.raises(InvalidParameter, match="'name/3'.*'name@alias'") as info:
        yard.backend.registry.resolve(ref=ref)
    assert info.value.field == "ref"


def test_unknown_alias_lists_the_known_ones(yard: my.Yard) -> None:
    _register(yard)
    with pytest.raises(NotFound, match="Model 'loans' has no alias 'prod'; it has no aliases"):
        yard.backend.registry.resolve(ref="loans@prod")
    yard.backend.registry.set_alias(name="loans", alias="staging", version=1)
    with pytest.raises(NotFound, match="its aliases are staging"):
        yard.backend.registry.resolve(ref="loans@prod")


def test_model_without_versions_has_no_latest(yard: my.Yard) -> None:
    yard.backend.registry.create_registered_model(name="empty")
    with pytest.raises(NotFound, match="'empty' has no versions yet"):
        yard.backend.registry.resolve(ref="empty")


def test_alias_moves_are_recorded_with_deletions(yard: my.Yard) -> None:
    store = yard.backend.registry
    for content in (b"a", b"b"):
        _register(yard, content=content)
    store.set_alias(name="loans", alias="production", version=1, reason="first")
    store.set_alias(name="loans", alias="production", version=2, reason="better AUC")
    store.set_alias(name="loans", alias="production", version=2)  # no move: nothing recorded
    store.set_alias(name="loans", alias="staging", version=2)
    deleted = store.delete_alias(name="loans", alias="production", reason="rollback drill")
    history = store.alias_history(name="loans", alias="production")
    assert [(e.old_version, e.new_version, e.reason) for e in history] == [
        (None, 1, "first"), (1, 2, "better AUC"), (2, None, "rollback drill")]
    assert history[0].moved_by == process_principal().name  # the OS user, embedded
    assert deleted == history[-1]
    assert len(store.alias_history(name="loans")) == 4
    assert store.get_registered_model(name="loans").aliases == {"staging": 2}
    assert [a.alias for a in store.list_aliases(name="loans")] == ["staging"]


def test_alias_to_unknown_version_changes_nothing(yard: my.Yard) -> None:
    store = yard.backend.registry
    _register(yard)
    store.set_alias(name="loans", alias="production", version=1)
    with pytest.raises(NotFound, match="no version 5"):
        store.set_alias(name="loans", alias="production", version=5)
    assert store.resolve(ref="loans@production").version == 1
    assert len(store.alias_history(name="loans")) == 1


def test_alias_names_are_checked(yard: my.Yard) -> None:
    _register(yard)
    with pytest.raises(InvalidParameter, match="reserved"):
        yard.backend.registry.set_alias(name="loans", alias="latest", version=1)
    with pytest.raises(InvalidParameter, match="alias must be"):
        yard.backend.registry.set_alias(name="loans", alias="3", version=1)


def test_deleting_an_unknown_alias_is_not_found(yard: my.Yard) -> None:
    _register(yard)
    with pytest.raises(NotFound, match="no alias 'prod'"):
        yard.backend.registry.delete_alias(name="loans", alias="prod")
    assert yard.backend.registry.alias_history(name="loans") == []


def test_alias_move_and_its_event_are_one_transaction(pg_url: str, tmp_path: Path) -> None:
    """If recording the event fails, the alias does not move (PostgreSQL checks the length
    of moved_by, here a principal's name; SQLite does not, so this runs there only)."""
    with my.connect(pg_url, artifacts=str(tmp_path / "a"),
                    settings=Settings.load({}, home=tmp_path / "home")) as yard:
        store = yard.backend.registry
        _register(yard, content=b"a")
        _register(yard, content=b"b")
        store.set_alias(name="loans", alias="production", version=1)
        reset = current_principal.set(Principal(name="x" * 300, role="admin"))
        try:
            with pytest.raises(sa.exc.DBAPIError):
                store.set_alias(name="loans", alias="production", version=2)
        finally:
            current_principal.reset(reset)
        assert store.resolve(ref="loans@production").version == 1
        assert len(store.alias_history(name="loans")) == 1


def test_version_and_model_tags_and_descriptions(yard: my.Yard) -> None:
    store = yard.backend.registry
    _register(yard)
    assert store.set_version_tag(name="loans", version=1, key="validated",
                                 value="yes").tags == {"validated": "yes"}
    assert store.delete_version_tag(name="loans", version=1, key="validated").tags == {}
    with pytest.raises(NotFound, match="has no tag 'validated'"):
        store.delete_version_tag(name="loans", version=1, key="validated")
    assert store.set_model_tag(name="loans", key="team", value="credit").tags == {
        "team": "credit"}
    assert store.delete_model_tag(name="loans", key="team").tags == {}
    assert store.set_version_description(name="loans", version=1,
                                         description="v1").description == "v1"
    assert store.set_model_description(name="loans", description="risk").description == "risk"
    with pytest.raises(NotFound, match="no version 2"):
        store.set_version_tag(name="loans", version=2, key="k", value="v")
    with pytest.raises(InvalidParameter, match="string value"):
        store.set_version_tag(name="loans", version=1, key="k", value=3)


def test_journal_is_append_only_and_ordered(yard: my.Yard) -> None:
    store = yard.backend.registry
    _register(yard)
    first = store.add_journal_entry(name="loans", text="Chose GBM: calibrated.")
    second = store.add_journal_entry(name="loans", text="v1 overfits on 2025 data.", version=1)
    assert second.id > first.id
    assert [e.text for e in store.list_journal_entries(name="loans")] == [
        "Chose GBM: calibrated.", "v1 overfits on 2025 data."]
    assert store.list_journal_entries(name="loans", version=1) == [second]
    assert not any(hasattr(store, verb + "_journal_entry") for verb in ("update", "delete",
                                                                        "edit"))


def test_journal_checks_its_target_and_text(yard: my.Yard) -> None:
    store = yard.backend.registry
    _register(yard)
    with pytest.raises(NotFound, match="no version 4"):
        store.add_journal_entry(name="loans", text="x", version=4)
    with pytest.raises(NotFound, match="'ghost'"):
        store.add_journal_entry(name="ghost", text="x")
    with pytest.raises(InvalidParameter, match="non-empty text"):
        store.add_journal_entry(name="loans", text="  ")


def test_list_and_search_models(yard: my.Yard) -> None:
    store = yard.backend.registry
    store.create_registered_model(name="loans", description="Default risk", tags={"team": "a"})
    store.create_registered_model(name="churn", tags={"team": "b"})
    store.create_registered_model(name="fraud_100", description="card 100% fraud")
    assert [m.name for m in store.list_registered_models()] == ["churn", "fraud_100", "loans"]
    assert [m.name for m in store.list_registered_models(limit=1, offset=1)] == ["fraud_100"]
    assert [m.name for m in store.search_registered_models(query="RISK")] == ["loans"]
    assert [m.name for m in store.search_registered_models(query="100%")] == ["fraud_100"]
    assert [m.name for m in store.search_registered_models(query="_1")] == ["fraud_100"]
    assert [m.name for m in store.search_registered_models(tag="team=b")] == ["churn"]
    assert [m.name for m in store.search_registered_models(tag="team")] == ["churn", "loans"]


def test_search_versions_by_run_and_digest(yard: my.Yard) -> None:
    v1 = _register(yard, content=b"a")
    _register(yard, "other", content=b"b")
    found = yard.backend.registry.search_model_versions(digest=v1.digest)
    assert [v.ref for v in found] == ["loans/1"]
    assert yard.backend.registry.search_model_versions(run_id="none") == []


def test_concurrent_registrations_get_distinct_numbers(yard: my.Yard) -> None:
    """8 threads register at once; every version number is taken exactly once."""
    manifest = _manifest(yard)
    store = yard.backend.registry
    versions: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def register() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                versions.append(store.create_model_version(name="race", manifest=manifest).version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(versions) == list(range(1, 25))


def test_times_come_from_the_injected_clock(db_url: str, tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    settings = Settings.load({}, home=tmp_path / "home")
    with my.connect(db_url, artifacts=str(tmp_path / "a"), settings=settings,
                    clock=clock) as y:
        mv = _register(y)
        clock.advance(60)
        alias = y.backend.registry.set_alias(name="loans", alias="prod", version=1)
        assert mv.created_at == datetime(2026, 3, 1, tzinfo=UTC)
        assert alias.updated_at == datetime(2026, 3, 1, 0, 1, tzinfo=UTC)
        assert y.backend.registry.get_registered_model(name="loans").updated_at == \
            alias.updated_at


def test_every_public_method_is_an_endpoint_with_a_unique_route() -> None:
    marked = endpoints_of(RegistryStore)
    names = {spec.name for _, spec in marked}
    public = {n for n in vars(RegistryStore) if not n.startswith("_")}
    assert public == names
    routes = [(spec.method, spec.path) for _, spec in marked]
    assert len(routes) == len(set(routes))
