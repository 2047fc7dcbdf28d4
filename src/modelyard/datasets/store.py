"""``DatasetStore``: dataset versions, their fragments, profiles and data dictionary in SQL.

The SDK (:mod:`.datasets`) writes a version's Parquet fragments as blobs first, then commits
the manifest here in one transaction (:meth:`DatasetStore.commit_version`): the store checks the
blobs exist, checks an append's schema, gives the version its number and content digest (or
returns the existing version when the content is the same), and merges the fragments' profile
sketches into the version's profile. Every method marked ``@endpoint`` is also a REST route.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..artifacts.store import ArtifactStore, check_digest
from ..clock import Clock, to_utc
from ..config import Settings
from ..errors import InvalidParameter, NotFound, SchemaMismatch
from ..store import audit
from ..store.base import DomainStore
from ..store.database import Database
from ..store.names import check_name as _check_name
from ..store.schema.datasets import (
    DatasetColumnRow,
    DatasetFragmentRow,
    DatasetRow,
    DatasetVersionRow,
)
from ..transport import endpoint
from .entities import (
    ColumnInfo,
    ColumnSchema,
    DatasetInfo,
    DatasetVersion,
    Fragment,
    NewFragment,
    Profile,
)
from .profile import build_profile, merge_sketches
from .snapshot import version_digest

__all__ = ["DatasetStore", "check_append_schema", "check_name", "schema_differences"]

_SKETCH_CACHE = 2048  # parsed fragment sketches kept per store
_MERGED_CACHE = 64  # merged sketches of recent versions (the next append starts from one)
_V = DatasetVersionRow.__table__.c
_VERSION_COLUMNS = [c for c in DatasetVersionRow.__table__.c if c.name != "profile"]
# Core tables, not the ORM classes: a statement on an ORM attribute configures every mapper of
# every domain on its first use in a process (a tenth of a second), and this store needs none
_DATASETS = DatasetRow.__table__
_FRAGMENTS = DatasetFragmentRow.__table__
_COLUMNS = DatasetColumnRow.__table__
_VERSIONS = DatasetVersionRow.__table__


def check_name(name: str, *, field: str = "name") -> str:
    """A dataset name: the shared name rule of every store (``store.names``)."""
    return _check_name(name, field=field)


def schema_differences(expected: list[ColumnSchema], got: list[ColumnSchema]) -> list[str]:
    """Human-readable differences in column names and types (order does not matter)."""
    want = {c.name: c.type for c in expected}
    have = {c.name: c.type for c in got}
    out = []
    for name, kind in want.items():
        if name not in have:
            out.append(f"{name!r}: missing (expected {kind})")
        elif have[name] != kind and have[name] != "null":
            out.append(f"{name!r}: expected {kind}, got {have[name]}")
    for name, kind in have.items():
        if name not in want:
            out.append(f"{name!r}: not in the dataset (got {kind})")
    return out


def check_append_schema(base: DatasetVersion, got: list[ColumnSchema]) -> None:
    """Raise :class:`SchemaMismatch` listing the differing columns unless ``got`` fits ``base``."""
    diffs = schema_differences(base.schema, got)
    if diffs:
        raise SchemaMismatch(
            f"rows appended to dataset {base.name!r} must have the columns and types of version "
            f"{base.version}. Differing columns: {'; '.join(diffs)}.",
            field="source",
        )


class DatasetStore(DomainStore):
    """Dataset versions over the metadata database (see the module docstring)."""

    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings,
                 clock: Clock) -> None:
        super().__init__(db, artifacts, settings, clock)
        self._sketch_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._merged: OrderedDict[str, dict[str, Any]] = OrderedDict()  # by version digest
        self._sketch_lock = threading.Lock()

    # ---- writes ----------------------------------------------------------------------------
    @endpoint("POST", "/datasets/{name}/versions", status_code=201, permission="write",
              resource="name")
    def commit_version(
        self,
        name: str,
        schema: list[ColumnSchema],
        fragments: list[NewFragment],
        mode: str = "add",
        time_column: str | None = None,
        key_columns: list[str] | None = None,
        source_uri: str | None = None,
        parents: list[str] | None = None,
        transform: str | None = None,
        code_commit: str | None = None,
        description: str | None = None,
        ingested_at: datetime | None = None,
    ) -> DatasetVersion:
        """Record a version made of uploaded fragments (``mode`` "add" or "append").
        ``ingested_at`` (a backfill) is when its new rows became known, instead of now: not in
        the future, and not before the latest version, so knowledge time only moves forward."""
        check_name(name)
        if mode not in ("add", "append"):
            raise InvalidParameter(f"mode must be 'add' or 'append'. Got {mode!r} instead.",
                                   field="mode")
        if not fragments or sum(f.n_rows for f in fragments) == 0:
            raise InvalidParameter(f"dataset {name!r} must have at least one row. Got 0 rows.",
                                   field="source")
        columns = [c.name for c in schema]
        for f in fragments:
            check_digest(f.digest)
            if not self.artifacts.exists(f.digest):
                raise NotFound(f"No blob with digest {f.digest}: upload the fragment first.",
                               field="fragments")
            if sorted(f.sketch.get("columns", {})) != sorted(columns):
                raise InvalidParameter(
                    f"fragment {f.digest} must have a sketch of the columns {columns}.",
                    field="fragments",
                )
        for column in ([time_column] if time_column else []) + list(key_columns or []):
            if column not in columns:
                raise InvalidParameter(
                    f"time and key columns must be among {columns}. Got {column!r} instead.",
                    field="time_column",
                )
        now = self.clock.now()
        when = now if ingested_at is None else to_utc(ingested_at)
        if when > now:
            raise InvalidParameter(
                f"ingested_at must not be in the future (now is {now.isoformat()}). Got "
                f"{when.isoformat()} instead.",
                field="ingested_at",
            )
        created_by = self.actor
        with self.db.write() as conn:
            dataset = self._lock_dataset(conn, name)
            latest = self._latest(conn, name) if dataset is not None else None
            if ingested_at is None:  # "now" is when the lock is ours: a version committed by
                # a concurrent writer meanwhile (or on a host whose clock runs ahead) is not later
                now = self.clock.now()
                when = now if latest is None else max(now, to_utc(latest.created_at))
            if dataset is None:
                if mode == "append":
                    raise NotFound(
                        f"No dataset named {name!r} to append to; add it first.", field="name"
                    )
                conn.execute(sa.insert(_DATASETS).values(
                    name=name, description=description, time_column=time_column,
                    key_columns=list(key_columns or []), created_at=when, updated_at=now,
                ))
            else:
                if time_column and dataset.time_column and time_column != dataset.time_column:
                    raise InvalidParameter(
                        f"time_column of dataset {name!r} is {dataset.time_column!r}. "
                        f"Got {time_column!r} instead.",
                        field="time_column",
                    )
                time_column = time_column or dataset.time_column
                key_columns = list(key_columns or dataset.key_columns or [])
            known = {f.digest: f for f in latest.fragments} if latest is not None else {}
            if mode == "append":
                assert latest is not None
                check_append_schema(latest, schema)
                schema = _reorder(schema, latest.schema)
                if all(f.digest in known for f in fragments):
                    return latest  # the same rows appended again: nothing new
                manifest = list(latest.fragments) + [
                    Fragment(digest=f.digest, n_rows=f.n_rows, n_bytes=f.n_bytes, ingested_at=when)
                    for f in fragments
                ]
            else:
                manifest = [
                    known.get(f.digest)
                    or Fragment(digest=f.digest, n_rows=f.n_rows, n_bytes=f.n_bytes,
                                ingested_at=when)
                    for f in fragments
                ]
            schema_json = [c.model_dump() for c in schema]
            digest = version_digest(schema_json, [f.digest for f in manifest])
            if latest is not None and latest.digest == digest:
                return latest
            if latest is not None and when < to_utc(latest.created_at):
                raise InvalidParameter(
                    f"ingested_at must be at or after the time of the latest version "
                    f"{latest.ref} ({to_utc(latest.created_at).isoformat()}): knowledge time "
                    f"only moves forward. Got {when.isoformat()} instead.",
                    field="ingested_at",
                )
            self._save_fragments(conn, fragments, now)
            sketches = self._sketches(conn, [f.digest for f in manifest])
            number = (latest.version if latest is not None else 0) + 1
            try:
                merged = merge_sketches(sketches, start=self._merged_of(latest, manifest))
                profile = build_profile(name, number, merged)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                raise InvalidParameter(
                    f"fragment sketches must be as modelyard's datasets SDK writes them "
                    f"(datasets.profile.FragmentProfiler). Got one it cannot merge: {exc!r}",
                    field="fragments",
                ) from exc
            conn.execute(sa.insert(_VERSIONS).values(
                name=name, version=number, digest=digest,
                n_rows=sum(f.n_rows for f in manifest), n_bytes=sum(f.n_bytes for f in manifest),
                schema=schema_json, fragments=[f.model_dump(mode="json") for f in manifest],
                profile=profile.model_dump(mode="json"), source_uri=source_uri,
                created_by=created_by, created_at=when, parents=list(parents or []),
                transform=transform, code_commit=code_commit, time_column=time_column,
                key_columns=list(key_columns or []),
            ))
            self._remember_merged(digest, merged)
            conn.execute(sa.update(_DATASETS).where(_DATASETS.c.name == name).values(
                updated_at=now, time_column=time_column, key_columns=list(key_columns or []),
                **({"description": description} if description is not None else {}),
            ))
            audit.append(conn, action=f"dataset.{mode}", target=f"dataset:{name}/{number}",
                         after={"digest": digest, "n_rows": sum(f.n_rows for f in manifest),
                                "fragments": len(manifest), "source_uri": source_uri,
                                "parents": list(parents or []), "transform": transform,
                                "code_commit": code_commit})
            return self._get(conn, name, number)

    def _lock_dataset(self, conn: Connection, name: str) -> Any:
        query = sa.select(_DATASETS).where(_DATASETS.c.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return conn.execute(query).first()

    def _save_fragments(self, conn: Connection, fragments: list[NewFragment], now: datetime) -> None:
        digests = [f.digest for f in fragments]
        have = set(conn.execute(
            sa.select(_FRAGMENTS.c.digest).where(_FRAGMENTS.c.digest.in_(digests))
        ).scalars())
        seen: set[str] = set()
        for f in fragments:
            if f.digest in have or f.digest in seen:
                continue
            seen.add(f.digest)
            conn.execute(sa.insert(_FRAGMENTS).values(
                digest=f.digest, n_rows=f.n_rows, n_bytes=f.n_bytes, sketch=f.sketch,
                created_at=now,
            ))

    def _sketches(self, conn: Connection, digests: list[str]) -> list[dict[str, Any]]:
        # a fragment's sketch never changes (content-addressed): keep recent ones parsed
        cache = self._sketch_cache
        with self._sketch_lock:
            found = {d: cache[d] for d in digests if d in cache}
        missing = set(digests) - set(found)
        if missing:
            rows = conn.execute(
                sa.select(_FRAGMENTS.c.digest, _FRAGMENTS.c.sketch)
                .where(_FRAGMENTS.c.digest.in_(missing))
            ).all()
            found.update(dict(rows))
        with self._sketch_lock:
            for digest in digests:
                cache[digest] = found[digest]
                cache.move_to_end(digest)
            while len(cache) > _SKETCH_CACHE:
                cache.popitem(last=False)
        return [found[d] for d in digests]

    def _merged_of(self, latest: DatasetVersion | None, manifest: list[Fragment]
                   ) -> dict[str, Any] | None:
        """The merged sketch of ``latest`` if this store made it and ``manifest`` starts with
        its fragments (an append): merging then only folds in the new fragments."""
        if latest is None or [f.digest for f in manifest[: len(latest.fragments)]] != [
            f.digest for f in latest.fragments
        ]:
            return None
        with self._sketch_lock:
            return self._merged.get(latest.digest)

    def _remember_merged(self, digest: str, merged: dict[str, Any]) -> None:
        with self._sketch_lock:
            self._merged[digest] = merged
            self._merged.move_to_end(digest)
            while len(self._merged) > _MERGED_CACHE:
                self._merged.popitem(last=False)

    @endpoint("PUT", "/datasets/{name}/columns/{column}", permission="write", resource="name")
    def describe_column(
        self,
        name: str,
        column: str,
        description: str | None = None,
        unit: str | None = None,
        owner: str | None = None,
        sensitivity: str | None = None,
        valid_min: float | str | None = None,
        valid_max: float | str | None = None,
        max_null_rate: float | str | None = None,
    ) -> ColumnInfo:
        """Set the data-dictionary entry of a column (fields left None keep their value;
        an empty string clears one). ``valid_min``/``valid_max`` (the range of values) and
        ``max_null_rate`` are what validation's data checks hold the training data to."""
        now = self.clock.now()
        with self.db.write() as conn:
            latest = self._latest(conn, name)
            if column not in latest.columns:
                raise InvalidParameter(
                    f"column must be one of the columns of {name!r} {latest.columns}. "
                    f"Got {column!r} instead.",
                    field="column",
                )
            key = (_COLUMNS.c.name == name) & (_COLUMNS.c.column == column)
            current = conn.execute(sa.select(_COLUMNS).where(key)).first()
            values: dict[str, Any] = {"updated_at": now, "updated_by": self.actor}
            for field, value in (("description", description), ("unit", unit),
                                 ("owner", owner), ("sensitivity", sensitivity)):
                if value is not None:
                    values[field] = value or None
            for field, number in (("valid_min", valid_min), ("valid_max", valid_max),
                                  ("max_null_rate", max_null_rate)):
                if number is not None:
                    values[field] = _expectation(field, number)
            low = values.get("valid_min", None if current is None else current.valid_min)
            high = values.get("valid_max", None if current is None else current.valid_max)
            if low is not None and high is not None and low > high:
                raise InvalidParameter(
                    f"valid_min must not be above valid_max. Got {low} > {high} instead.",
                    field="valid_min")
            if current is None:
                conn.execute(sa.insert(_COLUMNS).values(name=name, column=column, **values))
            else:
                conn.execute(sa.update(_COLUMNS).where(key).values(**values))
            fields = ("description", "unit", "owner", "sensitivity", "valid_min", "valid_max",
                      "max_null_rate")
            audit.append(conn, action="dataset.describe", target=f"dataset:{name}#{column}",
                         before=None if current is None else {f: current._mapping[f]
                                                               for f in fields},
                         after={f: values[f] for f in fields if f in values})
            row = conn.execute(sa.select(_COLUMNS).where(key)).one()
        return _column_info(row)

    # ---- reads -----------------------------------------------------------------------------
    @endpoint("GET", "/datasets", permission="read")
    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset with its latest version."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_DATASETS).order_by(_DATASETS.c.name)).all()
            latest = {
                r.name: (r.version, r.n_rows) for r in conn.execute(
                    sa.select(_V.name, _V.version, _V.n_rows).where(
                        sa.tuple_(_V.name, _V.version).in_(
                            sa.select(_V.name, sa.func.max(_V.version)).group_by(_V.name)
                        )
                    )
                )
            }
        return [_dataset_info(r, *latest.get(r.name, (None, None))) for r in rows]

    @endpoint("GET", "/datasets/{name}", permission="read", resource="name")
    def get_dataset(self, name: str) -> DatasetInfo:
        """One dataset with its latest version."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_DATASETS).where(_DATASETS.c.name == name)
            ).first()
            if row is None:
                raise NotFound(f"No dataset named {name!r}.", field="name")
            latest = self._latest(conn, name)
        return _dataset_info(row, latest.version, latest.n_rows)

    @endpoint("GET", "/datasets/{name}/versions", permission="read", resource="name")
    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(*_VERSION_COLUMNS).where(_V.name == name).order_by(_V.version)
            ).all()
        if not rows:
            raise NotFound(f"No dataset named {name!r}.", field="name")
        return [_version(r) for r in rows]

    @endpoint("GET", "/datasets/{name}/versions/{version}", permission="read", resource="name")
    def get_version(self, name: str, version: int) -> DatasetVersion:
        """One version of a dataset."""
        with self.db.read() as conn:
            return self._get(conn, name, version)

    @endpoint("GET", "/datasets/{name}/latest", permission="read", resource="name")
    def latest_version(self, name: str) -> DatasetVersion:
        """The newest version of a dataset."""
        with self.db.read() as conn:
            return self._latest(conn, name)

    @endpoint("GET", "/datasets/{name}/as-of", permission="read", resource="name")
    def version_as_of(self, name: str, at: datetime, up_to: int | None = None) -> DatasetVersion:
        """The newest version created at or before ``at`` (among versions <= ``up_to``)."""
        at = to_utc(at)
        query = sa.select(*_VERSION_COLUMNS).where(_V.name == name, _V.created_at <= at)
        if up_to is not None:
            query = query.where(_V.version <= up_to)
        with self.db.read() as conn:
            row = conn.execute(query.order_by(_V.version.desc()).limit(1)).first()
            if row is None:
                first = conn.execute(
                    sa.select(sa.func.min(_V.created_at)).where(_V.name == name)
                ).scalar()
        if row is None:
            if first is None:
                raise NotFound(f"No dataset named {name!r}.", field="name")
            raise NotFound(
                f"Dataset {name!r} had no version at {at.isoformat()}: its first version was "
                f"added at {to_utc(first).isoformat()}.",
                field="as_of",
            )
        return _version(row)

    @endpoint("GET", "/datasets/{name}/versions/{version}/profile", permission="read",
              resource="name")
    def get_profile(self, name: str, version: int) -> Profile:
        """The profile computed when the version was added (the drift reference)."""
        with self.db.read() as conn:
            value = conn.execute(
                sa.select(_V.profile).where(_V.name == name, _V.version == version)
            ).scalar()
        if value is None:
            raise NotFound(f"No version {version} of dataset {name!r}.", field="version")
        return Profile.model_validate(value)

    @endpoint("GET", "/datasets/{name}/columns", permission="read", resource="name")
    def get_dictionary(self, name: str) -> list[ColumnInfo]:
        """The data dictionary of a dataset, in the column order of its latest version."""
        with self.db.read() as conn:
            latest = self._latest(conn, name)
            rows = conn.execute(
                sa.select(_COLUMNS).where(_COLUMNS.c.name == name)
            ).all()
        by_column = {r.column: _column_info(r) for r in rows}
        return [by_column.get(c) or ColumnInfo(dataset=name, column=c) for c in latest.columns]

    @endpoint("GET", "/dataset-versions/{digest}", permission="read")
    def find_versions(self, digest: str) -> list[DatasetVersion]:
        """The versions (of any dataset) with this content digest."""
        check_digest(digest)
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(*_VERSION_COLUMNS).where(_V.digest == digest).order_by(_V.id)
            ).all()
        return [_version(r) for r in rows]

    # ---- helpers ---------------------------------------------------------------------------
    def _get(self, conn: Connection, name: str, version: int) -> DatasetVersion:
        row = conn.execute(
            sa.select(*_VERSION_COLUMNS).where(_V.name == name, _V.version == version)
        ).first()
        if row is None:
            exists = conn.execute(sa.select(_DATASETS.c.name).where(_DATASETS.c.name == name)).first()
            if exists is None:
                raise NotFound(f"No dataset named {name!r}.", field="name")
            raise NotFound(f"No version {version} of dataset {name!r}.", field="version")
        return _version(row)

    def _latest(self, conn: Connection, name: str) -> DatasetVersion:
        row = conn.execute(
            sa.select(*_VERSION_COLUMNS).where(_V.name == name)
            .order_by(_V.version.desc()).limit(1)
        ).first()
        if row is None:
            raise NotFound(f"No dataset named {name!r}.", field="name")
        return _version(row)


def _reorder(schema: list[ColumnSchema], like: list[ColumnSchema]) -> list[ColumnSchema]:
    by_name = {c.name: c for c in schema}
    return [by_name[c.name] for c in like]


def _version(row: Any) -> DatasetVersion:
    return DatasetVersion(
        name=row.name, version=row.version, digest=row.digest, n_rows=row.n_rows,
        n_bytes=row.n_bytes, schema=row.schema, fragments=row.fragments,
        source_uri=row.source_uri, created_by=row.created_by, created_at=row.created_at,
        parents=row.parents or [], transform=row.transform, code_commit=row.code_commit,
        time_column=row.time_column, key_columns=row.key_columns or [],
    )


def _dataset_info(row: Any, version: int | None, n_rows: int | None) -> DatasetInfo:
    return DatasetInfo(
        name=row.name, description=row.description, time_column=row.time_column,
        key_columns=row.key_columns or [], latest_version=version, n_rows=n_rows,
        created_at=row.created_at, updated_at=row.updated_at,
    )


def _expectation(field: str, value: float | str) -> float | None:
    """A number of the data dictionary: '' clears it; anything else must be a finite number
    (a null rate within 0..1)."""
    if isinstance(value, str):
        if value.strip() == "":
            return None
        try:
            value = float(value)
        except ValueError:
            raise InvalidParameter(f"{field} must be a number or '' to clear it. "
                                   f"Got {value!r} instead.", field=field) from None
    number = float(value)
    if not math.isfinite(number):
        raise InvalidParameter(f"{field} must be a finite number. Got {value!r} instead.",
                               field=field)
    if field == "max_null_rate" and not 0.0 <= number <= 1.0:
        raise InvalidParameter(f"max_null_rate must be within 0 and 1. Got {number} instead.",
                               field=field)
    return number


def _column_info(row: Any) -> ColumnInfo:
    return ColumnInfo(
        dataset=row.name, column=row.column, description=row.description, unit=row.unit,
        owner=row.owner, sensitivity=row.sensitivity, valid_min=row.valid_min,
        valid_max=row.valid_max, max_null_rate=row.max_null_rate, updated_at=row.updated_at,
        updated_by=row.updated_by,
    )
