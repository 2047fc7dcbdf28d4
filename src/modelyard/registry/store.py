"""The registry over the database: registered models, versions, aliases with the history of
every move, tags, descriptions and the append-only journal.

Each method marked with :func:`~modelyard.transport.endpoint` is also a REST route of
``modelyard server`` (under ``/api/v1``) and a method of the remote client. Every write is one
transaction. Version numbers are allocated inside the write transaction (max + 1, with the
model's row locked on PostgreSQL and the database locked by ``BEGIN IMMEDIATE`` on SQLite); the
unique constraint on (name, version) is the safety net, and a conflict is retried.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..artifacts.store import check_digest, check_relative_path
from ..errors import AlreadyExists, InvalidParameter, NotFound
from ..store import audit
from ..store.base import DomainStore
from ..store.schema.registry import (
    AliasEventRow,
    AliasRow,
    JournalEntryRow,
    ModelVersionRow,
    RegisteredModelRow,
)
from ..store.schema.serving import ServingEndpointRow
from ..store.schema.tracking import RunRow
from ..transport import endpoint
from .entities import (
    Alias,
    AliasEvent,
    JournalEntry,
    Manifest,
    ModelVersion,
    RegisteredModel,
    ServingUse,
    manifest_digest,
)
from .refs import LATEST, check_alias, check_model_name, check_version, parse_ref

__all__ = ["RegistryStore"]

_MODELS = RegisteredModelRow.__table__
_VERSIONS = ModelVersionRow.__table__
_ALIASES = AliasRow.__table__
_EVENTS = AliasEventRow.__table__
_JOURNAL = JournalEntryRow.__table__
_ENDPOINTS = ServingEndpointRow.__table__
_RETRIES = 8


def _check_tags(tags: Mapping[str, Any] | None, *, field: str = "tags") -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidParameter(f"{field} must be a mapping of str to str. Got {tags!r} instead.",
                               field=field)
    for key, value in tags.items():
        _check_tag(key, value, field=field)
    return dict(tags)


def _check_tag(key: object, value: object, *, field: str = "tags") -> None:
    if not isinstance(key, str) or not 0 < len(key) <= 256:
        raise InvalidParameter(f"A tag key must be a string of 1-256 characters. Got {key!r} "
                               "instead.", field=field)
    if not isinstance(value, str):
        raise InvalidParameter(f"Tag {key!r} must have a string value. Got {value!r} instead.",
                               field=field)


def _check_text(text: object, *, field: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter(f"{field} must be non-empty text. Got {text!r} instead.",
                               field=field)
    return text


class RegistryStore(DomainStore):
    """Registered models, versions, aliases and journal entries in one database.

    Build it as ``RegistryStore(db, artifacts, settings, clock)`` (``backend.registry``); the
    constructor only stores its arguments.
    """

    # ---- registered models ---------------------------------------------------------------
    @endpoint("POST", "/models", status_code=201, permission="write", resource="name")
    def create_registered_model(self, name: str, description: str | None = None,
                                tags: dict[str, str] | None = None) -> RegisteredModel:
        """Create a registered model (an empty line of versions)."""
        check_model_name(name)
        tags = _check_tags(tags)
        now = self.clock.now()
        with self.db.write() as conn:
            if self._model_exists(conn, name):
                raise AlreadyExists(f"A registered model named {name!r} already exists.",
                                    field="name")
            conn.execute(_MODELS.insert().values(name=name, description=description, tags=tags,
                                                 created_at=now, updated_at=now))
            audit.append(conn, action="model.create", target=f"model:{name}",
                         after={"description": description, "tags": tags})
        return RegisteredModel(name=name, description=description, tags=tags, created_at=now,
                               updated_at=now)

    @endpoint("GET", "/models/{name}", permission="read", resource="name")
    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its aliases and latest version."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_MODELS).where(_MODELS.c.name == name)).first()
            if row is None:
                raise self._no_model(conn, name)
            return self._model_entities(conn, [row])[0]

    @endpoint("GET", "/models", permission="read")
    def list_registered_models(self, limit: int = 1000, offset: int = 0) -> list[RegisteredModel]:
        """Registered models in name order."""
        query = sa.select(_MODELS).order_by(_MODELS.c.name).limit(limit).offset(offset)
        with self.db.read() as conn:
            return self._model_entities(conn, conn.execute(query).all())

    @endpoint("GET", "/search/models", permission="read")
    def search_registered_models(self, query: str = "", tag: str | None = None,
                                 limit: int = 100) -> list[RegisteredModel]:
        """Registered models whose name or description contains ``query`` (any case) and, with
        ``tag="key=value"`` (or just ``"key"``), that carry that tag."""
        stmt = sa.select(_MODELS).order_by(_MODELS.c.name)
        if query:
            pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            stmt = stmt.where(sa.or_(
                sa.func.lower(_MODELS.c.name).like(pattern, escape="\\"),
                sa.func.lower(sa.func.coalesce(_MODELS.c.description, "")).like(pattern,
                                                                                  escape="\\"),
            ))
        key, has_value, value = (tag or "").partition("=")
        with self.db.read() as conn:
            rows = [
                row for row in conn.execute(stmt).all()
                if not tag or (key.strip() in (row.tags or {})
                               and (not has_value or row.tags[key.strip()] == value.strip()))
            ]
            return self._model_entities(conn, rows[:limit])

    @endpoint("PATCH", "/models/{name}", permission="write", resource="name")
    def set_model_description(self, name: str, description: str | None) -> RegisteredModel:
        """Set (or with None clear) the description of a registered model."""
        with self.db.write() as conn:
            old = self._lock_model(conn, name)
            conn.execute(_MODELS.update().where(_MODELS.c.name == name).values(
                description=description, updated_at=self.clock.now()))
            audit.append(conn, action="model.describe", target=f"model:{name}",
                         before={"description": old.description},
                         after={"description": description})
        return self.get_registered_model(name)

    @endpoint("PUT", "/models/{name}/tags/{key}", permission="write", resource="name")
    def set_model_tag(self, name: str, key: str, value: str) -> RegisteredModel:
        """Set one tag of a registered model."""
        _check_tag(key, value, field="key")
        with self.db.write() as conn:
            tags = dict(self._lock_model(conn, name).tags or {})
            before = tags.get(key)
            tags[key] = value
            conn.execute(_MODELS.update().where(_MODELS.c.name == name).values(
                tags=tags, updated_at=self.clock.now()))
            audit.append(conn, action="model.tag.set", target=f"model:{name}",
                         before={key: before}, after={key: value})
        return self.get_registered_model(name)

    @endpoint("DELETE", "/models/{name}/tags/{key}", permission="write", resource="name")
    def delete_model_tag(self, name: str, key: str) -> RegisteredModel:
        """Remove one tag of a registered model."""
        with self.db.write() as conn:
            tags = dict(self._lock_model(conn, name).tags or {})
            if key not in tags:
                raise NotFound(f"Model {name!r} has no tag {key!r}; its tags are "
                               f"{sorted(tags) or 'none'}.", field="key")
            before = tags.pop(key)
            conn.execute(_MODELS.update().where(_MODELS.c.name == name).values(
                tags=tags, updated_at=self.clock.now()))
            audit.append(conn, action="model.tag.delete", target=f"model:{name}",
                         before={key: before})
        return self.get_registered_model(name)

    # ---- versions ------------------------------------------------------------------------
    @endpoint("POST", "/models/{name}/versions", status_code=201, permission="write",
              resource="name")
    def create_model_version(
        self,
        name: str,
        manifest: Manifest,
        run_id: str | None = None,
        code_commit: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        source_version: str | None = None,
    ) -> ModelVersion:
        """Register a new version of ``name`` (created on first use) from files already in the
        blob store; the next version number is allocated atomically."""
        check_model_name(name)
        tags = _check_tags(tags)
        self._check_manifest(manifest)
        if source_version is not None:
            source_version = str(parse_ref(source_version))
        digest = manifest_digest(manifest)
        manifest_json = manifest.model_dump(mode="json")
        created_by = self.actor
        for attempt in range(_RETRIES):
            now = self.clock.now()
            try:
                with self.db.write() as conn:
                    self._ensure_model(conn, name, now)
                    if run_id is not None and conn.execute(
                        sa.select(RunRow.id).where(RunRow.id == run_id)
                    ).first() is None:
                        raise NotFound(f"No run with id {run_id!r}.", field="run_id")
                    version = conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(_VERSIONS.c.version), 0) + 1)
                        .where(_VERSIONS.c.name == name)
                    ).scalar_one()
                    conn.execute(_VERSIONS.insert().values(
                        name=name, version=version, flavor=manifest.flavor, digest=digest,
                        run_id=run_id, manifest=manifest_json, description=description,
                        tags=tags, status="READY", code_commit=code_commit,
                        source_version=source_version, created_at=now, created_by=created_by,
                    ))
                    conn.execute(_MODELS.update().where(_MODELS.c.name == name)
                                 .values(updated_at=now))
                    audit.append(conn, action="model.version.create",
                                 target=f"model:{name}/{version}", after={
                                     "digest": digest, "flavor": manifest.flavor,
                                     "run_id": run_id, "code_commit": code_commit,
                                     "source_version": source_version, "files": manifest.files})
            except sa.exc.IntegrityError:
                # Two writers took the same number (only possible if the lock was bypassed):
                # the unique constraint refused the second; take the next number.
                if attempt == _RETRIES - 1:
                    raise
                continue
            return ModelVersion(
                name=name, version=version, flavor=manifest.flavor, digest=digest,
                run_id=run_id, signature=manifest.signature, description=description, tags=tags,
                status="READY", code_commit=code_commit, source_version=source_version,
                created_at=now, created_by=created_by, files=manifest.files,
                requirements=manifest.requirements, options=manifest.options,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    @endpoint("GET", "/models/{name}/versions/{version}", permission="read", resource="name")
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version of a model."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(_VERSIONS).where(
                _VERSIONS.c.name == name, _VERSIONS.c.version == version)).first()
            if row is None:
                raise self._no_version(conn, name, version)
            return self._version_entities(conn, [row])[0]

    @endpoint("GET", "/models/{name}/versions", permission="read", resource="name")
    def list_model_versions(self, name: str, limit: int = 1000,
                            offset: int = 0) -> list[ModelVersion]:
        """The versions of a model, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(_VERSIONS).where(_VERSIONS.c.name == name)
                .order_by(_VERSIONS.c.version).limit(limit).offset(offset)
            ).all()
            if not rows and not self._model_exists(conn, name):
                raise self._no_model(conn, name)
            return self._version_entities(conn, rows)

    @endpoint("GET", "/model-versions", permission="read")
    def search_model_versions(self, run_id: str | None = None, digest: str | None = None,
                              limit: int = 1000) -> list[ModelVersion]:
        """Versions made by a run and/or with a given manifest digest, newest first."""
        stmt = sa.select(_VERSIONS).order_by(_VERSIONS.c.created_at.desc(),
                                             _VERSIONS.c.id.desc()).limit(limit)
        if run_id is not None:
            stmt = stmt.where(_VERSIONS.c.run_id == run_id)
        if digest is not None:
            stmt = stmt.where(_VERSIONS.c.digest == digest)
        with self.db.read() as conn:
            return self._version_entities(conn, conn.execute(stmt).all())

    @endpoint("GET", "/model-versions/resolve", permission="read")
    def resolve(self, ref: str) -> ModelVersion:
        """The version a reference means: "name/3", "name@alias" or "name" (the latest)."""
        parsed = parse_ref(ref)
        if parsed.version is not None:
            return self.get_model_version(parsed.name, parsed.version)
        with self.db.read() as conn:
            if parsed.alias is not None:
                version = conn.execute(sa.select(_ALIASES.c.version).where(
                    _ALIASES.c.name == parsed.name, _ALIASES.c.alias == parsed.alias)).scalar()
                if version is None:
                    raise self._no_alias(conn, parsed.name, parsed.alias)
            else:
                version = conn.execute(sa.select(sa.func.max(_VERSIONS.c.version)).where(
                    _VERSIONS.c.name == parsed.name)).scalar()
                if version is None:
                    if not self._model_exists(conn, parsed.name):
                        raise self._no_model(conn, parsed.name)
                    raise NotFound(f"Model {parsed.name!r} has no versions yet.", field="ref")
            row = conn.execute(sa.select(_VERSIONS).where(
                _VERSIONS.c.name == parsed.name, _VERSIONS.c.version == version)).one()
            return self._version_entities(conn, [row])[0]

    @endpoint("PATCH", "/models/{name}/versions/{version}", permission="write", resource="name")
    def set_version_description(self, name: str, version: int,
                                description: str | None) -> ModelVersion:
        """Set (or with None clear) the description of one version."""
        with self.db.write() as conn:
            old = self._lock_version(conn, name, version)
            conn.execute(_VERSIONS.update().where(
                _VERSIONS.c.name == name, _VERSIONS.c.version == version
            ).values(description=description))
            audit.append(conn, action="model.version.describe",
                         target=f"model:{name}/{version}", before={"description": old.description},
                         after={"description": description})
        return self.get_model_version(name, version)

    @endpoint("PUT", "/models/{name}/versions/{version}/tags/{key}", permission="write",
              resource="name")
    def set_version_tag(self, name: str, version: int, key: str, value: str) -> ModelVersion:
        """Set one tag of a version."""
        _check_tag(key, value, field="key")
        with self.db.write() as conn:
            tags = dict(self._lock_version(conn, name, version).tags or {})
            before = tags.get(key)
            tags[key] = value
            conn.execute(_VERSIONS.update().where(
                _VERSIONS.c.name == name, _VERSIONS.c.version == version).values(tags=tags))
            audit.append(conn, action="model.version.tag.set",
                         target=f"model:{name}/{version}", before={key: before},
                         after={key: value})
        return self.get_model_version(name, version)

    @endpoint("DELETE", "/models/{name}/versions/{version}/tags/{key}", permission="write",
              resource="name")
    def delete_version_tag(self, name: str, version: int, key: str) -> ModelVersion:
        """Remove one tag of a version."""
        with self.db.write() as conn:
            tags = dict(self._lock_version(conn, name, version).tags or {})
            if key not in tags:
                raise NotFound(f"Version {name}/{version} has no tag {key!r}; its tags are "
                               f"{sorted(tags) or 'none'}.", field="key")
            before = tags.pop(key)
            conn.execute(_VERSIONS.update().where(
                _VERSIONS.c.name == name, _VERSIONS.c.version == version).values(tags=tags))
            audit.append(conn, action="model.version.tag.delete",
                         target=f"model:{name}/{version}", before={key: before})
        return self.get_model_version(name, version)

    # ---- aliases -------------------------------------------------------------------------
    @endpoint("PUT", "/models/{name}/aliases/{alias}", permission="write|approve",
              resource="name")
    def set_alias(self, name: str, alias: str, version: int, reason: str | None = None,
                  override: bool = False) -> Alias:
        """Point ``alias`` at ``version`` (atomic; the move is recorded in the alias history).
        Pointing it where it already points changes nothing and records nothing. Moving an
        alias needs ``write`` on the model, a protected one ``approve``. A protected alias
        (``validation``) moves only to a version whose latest validation report passed, or with
        ``override=True`` and a ``reason`` (recorded); a four-eyes alias only through an
        approved promotion request (``registry/promotions.py``)."""
        check_alias(alias)
        if alias == LATEST:
            raise InvalidParameter(f"The alias {LATEST!r} is reserved: 'name@latest' always "
                                   "means the newest version. Choose another alias.",
                                   field="alias")
        check_version(version)
        _alias_guard()  # imported before the transaction
        with self.db.write() as conn:
            return self._move_alias(conn, name, alias, version, reason=reason, override=override)

    def _move_alias(self, conn: Connection, name: str, alias: str, version: int, *,
                   reason: str | None = None, override: bool = False,
                   approved_by: str | None = None) -> Alias:
        """Point ``alias`` at ``version`` inside the caller's write transaction: the checks
        (four-eyes, the ``approve`` permission on a protected alias, the validation gate), the
        move, its history and audit record. ``approved_by``: the move of an approved promotion
        request (``registry.promotions``, the one caller outside this class)."""
        now = self.clock.now()
        moved_by = self.actor
        self._lock_version(conn, name, version)
        current = conn.execute(sa.select(_ALIASES).where(
            _ALIASES.c.name == name, _ALIASES.c.alias == alias).with_for_update()).first()
        # who may move it does not depend on where it points now
        _promotion_guard()(conn, model=name, alias=alias, approved=approved_by is not None)
        if current is not None and current.version == version:
            return Alias(name=name, alias=alias, version=version, updated_at=current.updated_at)
        _alias_guard()(conn, model=name, alias=alias, version=version, override=override,
                       reason=reason, moved_by=moved_by, now=now)
        if current is None:
            conn.execute(_ALIASES.insert().values(name=name, alias=alias, version=version,
                                                  updated_at=now))
        else:
            conn.execute(_ALIASES.update().where(
                _ALIASES.c.name == name, _ALIASES.c.alias == alias
            ).values(version=version, updated_at=now))
        conn.execute(_EVENTS.insert().values(
            name=name, alias=alias, old_version=None if current is None else current.version,
            new_version=version, moved_at=now, moved_by=moved_by, reason=reason))
        after: dict[str, Any] = {"version": version, "reason": reason}
        if approved_by is not None:
            after["approved_by"] = approved_by
        audit.append(conn, action="alias.set", target=f"alias:{name}@{alias}",
                     before=None if current is None else {"version": current.version},
                     after=after)
        conn.execute(_MODELS.update().where(_MODELS.c.name == name).values(updated_at=now))
        return Alias(name=name, alias=alias, version=version, updated_at=now)

    @endpoint("DELETE", "/models/{name}/aliases/{alias}", permission="write|approve",
              resource="name")
    def delete_alias(self, name: str, alias: str, reason: str | None = None,
                     override: bool = False) -> AliasEvent:
        """Remove an alias; the deletion is recorded in the alias history (returned). A
        protected alias needs ``override=True`` and a ``reason``."""
        guard_alias_move = _alias_guard()
        now = self.clock.now()
        moved_by = self.actor
        with self.db.write() as conn:
            self._lock_model(conn, name)
            current = conn.execute(sa.select(_ALIASES).where(
                _ALIASES.c.name == name, _ALIASES.c.alias == alias).with_for_update()).first()
            if current is None:
                raise self._no_alias(conn, name, alias)
            _promotion_guard()(conn, model=name, alias=alias, approved=False, deleting=True)
            guard_alias_move(conn, model=name, alias=alias, version=None, override=override,
                             reason=reason, moved_by=moved_by, now=now)
            conn.execute(_ALIASES.delete().where(_ALIASES.c.name == name,
                                                 _ALIASES.c.alias == alias))
            event_id = conn.execute(_EVENTS.insert().values(
                name=name, alias=alias, old_version=current.version, new_version=None,
                moved_at=now, moved_by=moved_by, reason=reason).returning(_EVENTS.c.id)
            ).scalar_one()
            audit.append(conn, action="alias.delete", target=f"alias:{name}@{alias}",
                         before={"version": current.version}, after={"reason": reason})
            conn.execute(_MODELS.update().where(_MODELS.c.name == name).values(updated_at=now))
        return AliasEvent(id=event_id, name=name, alias=alias, old_version=current.version,
                          new_version=None, moved_at=now, moved_by=moved_by, reason=reason)

    @endpoint("GET", "/models/{name}/aliases", permission="read", resource="name")
    def list_aliases(self, name: str) -> list[Alias]:
        """The aliases of a model, in alias order."""
        with self.db.read() as conn:
            if not self._model_exists(conn, name):
                raise self._no_model(conn, name)
            rows = conn.execute(sa.select(_ALIASES).where(_ALIASES.c.name == name)
                                .order_by(_ALIASES.c.alias)).all()
        return [Alias(name=r.name, alias=r.alias, version=r.version, updated_at=r.updated_at)
                for r in rows]

    @endpoint("GET", "/models/{name}/alias-history", permission="read", resource="name")
    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases (or of one alias), oldest first, deletions
        included."""
        stmt = sa.select(_EVENTS).where(_EVENTS.c.name == name).order_by(_EVENTS.c.id)
        if alias is not None:
            stmt = stmt.where(_EVENTS.c.alias == alias)
        with self.db.read() as conn:
            if not self._model_exists(conn, name):
                raise self._no_model(conn, name)
            rows = conn.execute(stmt).all()
        return [AliasEvent(id=r.id, name=r.name, alias=r.alias, old_version=r.old_version,
                           new_version=r.new_version, moved_at=r.moved_at, moved_by=r.moved_by,
                           reason=r.reason) for r in rows]

    # ---- journal -------------------------------------------------------------------------
    @endpoint("POST", "/models/{name}/journal", status_code=201, permission="write",
              resource="name")
    def add_journal_entry(self, name: str, text: str, version: int | None = None) -> JournalEntry:
        """Append a free-text entry to the journal of a model or one of its versions. Entries
        are never edited or deleted."""
        _check_text(text, field="text")
        now = self.clock.now()
        author = self.actor
        with self.db.write() as conn:
            if version is None:
                self._lock_model(conn, name)
            else:
                self._lock_version(conn, name, version)
            entry_id = conn.execute(_JOURNAL.insert().values(
                name=name, version=version, text=text, author=author, created_at=now
            ).returning(_JOURNAL.c.id)).scalar_one()
            audit.append(conn, action="journal.add",
                         target=f"model:{name}" + ("" if version is None else f"/{version}"),
                         after={"id": entry_id, "text": text})
        return JournalEntry(id=entry_id, name=name, version=version, text=text, author=author,
                            created_at=now)

    @endpoint("GET", "/models/{name}/journal", permission="read", resource="name")
    def list_journal_entries(self, name: str, version: int | None = None) -> list[JournalEntry]:
        """The journal of a model (every entry, on the model and on its versions) or of one
        version, oldest first."""
        stmt = sa.select(_JOURNAL).where(_JOURNAL.c.name == name).order_by(_JOURNAL.c.id)
        if version is not None:
            stmt = stmt.where(_JOURNAL.c.version == version)
        with self.db.read() as conn:
            if version is None:
                if not self._model_exists(conn, name):
                    raise self._no_model(conn, name)
            elif conn.execute(sa.select(_VERSIONS.c.id).where(
                    _VERSIONS.c.name == name, _VERSIONS.c.version == version)).first() is None:
                raise self._no_version(conn, name, version)
            rows = conn.execute(stmt).all()
        return [JournalEntry(id=r.id, name=r.name, version=r.version, text=r.text,
                             author=r.author, created_at=r.created_at) for r in rows]

    # ---- serving -------------------------------------------------------------------------
    @endpoint("GET", "/models/{name}/versions/{version}/endpoints", permission="read",
              resource="name")
    def serving_endpoints(self, name: str, version: int) -> list[ServingUse]:
        """The endpoint routes serving version ``version`` of ``name`` now, as the model
        servers recorded what they serve (endpoint order)."""
        label = f"{name}/{version}"
        with self.db.read() as conn:
            self._require_version(conn, name, version)
            rows = conn.execute(sa.select(_ENDPOINTS.c.name, _ENDPOINTS.c.source,
                                          _ENDPOINTS.c.served, _ENDPOINTS.c.updated_at)
                                .order_by(_ENDPOINTS.c.name)).all()
        return [ServingUse(endpoint=r.name, route=route, source=r.source,
                           updated_at=r.updated_at)
                for r in rows for route, served in sorted((r.served or {}).items())
                if served == label]

    # ---- helpers -------------------------------------------------------------------------
    def _require_version(self, conn: Connection, name: str, version: int) -> None:
        found = conn.execute(sa.select(_VERSIONS.c.id).where(
            _VERSIONS.c.name == name, _VERSIONS.c.version == version)).first()
        if found is None:
            raise self._no_version(conn, name, version)

    def _check_manifest(self, manifest: Manifest) -> None:
        if not manifest.files:
            raise InvalidParameter("A model version needs at least one file. Got none.",
                                   field="manifest")
        for file_name, blob in manifest.files.items():
            check_relative_path(file_name, field="manifest.files")
            check_digest(blob)
            if not self.artifacts.exists(blob):
                raise NotFound(
                    f"Model file {file_name!r} refers to blob {blob}, which is not in the "
                    "artifact store; upload the files before registering the version.",
                    field="manifest.files",
                )

    def _ensure_model(self, conn: Connection, name: str, now: Any) -> None:
        """Create the registered model if missing, then lock its row (PostgreSQL) so version
        numbers are taken one writer at a time."""
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)
        conn.execute(insert(_MODELS).values(name=name, description=None, tags={},
                                            created_at=now, updated_at=now)
                     .on_conflict_do_nothing(index_elements=["name"]))
        conn.execute(sa.select(_MODELS.c.name).where(_MODELS.c.name == name).with_for_update())

    def _lock_model(self, conn: Connection, name: str) -> Any:
        row = conn.execute(sa.select(_MODELS).where(_MODELS.c.name == name)
                           .with_for_update()).first()
        if row is None:
            raise self._no_model(conn, name)
        return row

    def _lock_version(self, conn: Connection, name: str, version: int) -> Any:
        row = conn.execute(sa.select(_VERSIONS).where(
            _VERSIONS.c.name == name, _VERSIONS.c.version == version).with_for_update()).first()
        if row is None:
            raise self._no_version(conn, name, version)
        return row

    @staticmethod
    def _model_exists(conn: Connection, name: str) -> bool:
        return conn.execute(sa.select(_MODELS.c.name).where(_MODELS.c.name == name)).first() \
            is not None

    @staticmethod
    def _no_model(conn: Connection, name: str) -> NotFound:
        return NotFound(f"No registered model named {name!r}.", field="name")

    def _no_version(self, conn: Connection, name: str, version: int) -> NotFound:
        if not self._model_exists(conn, name):
            return self._no_model(conn, name)
        low, high = conn.execute(sa.select(sa.func.min(_VERSIONS.c.version),
                                           sa.func.max(_VERSIONS.c.version))
                                 .where(_VERSIONS.c.name == name)).one()
        known = "it has no versions yet" if high is None else (
            f"its only version is {low}" if low == high else f"versions are {low}..{high}")
        return NotFound(f"Model {name!r} has no version {version}; {known}.", field="version")

    def _no_alias(self, conn: Connection, name: str, alias: str) -> NotFound:
        if not self._model_exists(conn, name):
            return self._no_model(conn, name)
        aliases = conn.execute(sa.select(_ALIASES.c.alias).where(_ALIASES.c.name == name)
                               .order_by(_ALIASES.c.alias)).scalars().all()
        known = f"its aliases are {', '.join(aliases)}" if aliases else "it has no aliases"
        return NotFound(f"Model {name!r} has no alias {alias!r}; {known}.", field="alias")

    @staticmethod
    def _model_entities(conn: Connection, rows: Iterable[Any]) -> list[RegisteredModel]:
        rows = list(rows)
        names = [r.name for r in rows]
        if not names:
            return []
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        for r in conn.execute(sa.select(_ALIASES.c.name, _ALIASES.c.alias, _ALIASES.c.version)
                              .where(_ALIASES.c.name.in_(names)).order_by(_ALIASES.c.alias)):
            aliases[r.name][r.alias] = r.version
        latest = dict(conn.execute(
            sa.select(_VERSIONS.c.name, sa.func.max(_VERSIONS.c.version))
            .where(_VERSIONS.c.name.in_(names)).group_by(_VERSIONS.c.name)
        ).tuples().all())
        return [
            RegisteredModel(name=r.name, description=r.description, tags=r.tags or {},
                            created_at=r.created_at, updated_at=r.updated_at,
                            aliases=aliases.get(r.name, {}), latest_version=latest.get(r.name))
            for r in rows
        ]

    @staticmethod
    def _version_entities(conn: Connection, rows: Iterable[Any]) -> list[ModelVersion]:
        rows = list(rows)
        if not rows:
            return []
        names = sorted({r.name for r in rows})
        aliases: dict[tuple[str, int], list[str]] = defaultdict(list)
        for r in conn.execute(sa.select(_ALIASES.c.name, _ALIASES.c.alias, _ALIASES.c.version)
                              .where(_ALIASES.c.name.in_(names)).order_by(_ALIASES.c.alias)):
            aliases[(r.name, r.version)].append(r.alias)
        out = []
        for r in rows:
            manifest = Manifest.model_validate(r.manifest)
            out.append(ModelVersion(
                name=r.name, version=r.version, flavor=r.flavor, digest=r.digest,
                run_id=r.run_id, signature=manifest.signature, description=r.description,
                tags=r.tags or {}, status=r.status, code_commit=r.code_commit,
                source_version=r.source_version, created_at=r.created_at,
                created_by=r.created_by, aliases=aliases.get((r.name, r.version), []),
                files=manifest.files, requirements=manifest.requirements,
                options=manifest.options,
            ))
        return out


def _alias_guard() -> Any:
    """``validation.gate.guard_alias_move``, imported on the first alias move (before the
    transaction): the validation package pulls in monitoring (polars, scipy), which loading a
    model must not pay for."""
    from ..validation.gate import guard_alias_move

    return guard_alias_move


def _promotion_guard() -> Any:
    """``registry.promotions.guard_alias``: four-eyes aliases and the ``approve`` permission
    that moving a protected alias needs."""
    from .promotions import guard_alias

    return guard_alias
