"""What the registry stores and returns: registered models, versions, aliases, their history,
journal entries and signatures.

These pydantic models are the one shape of each concept in the SDK, the REST API and the CLI.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator

from ..clock import to_utc

__all__ = [
    "COLUMN_TYPES",
    "Alias",
    "AliasEvent",
    "ColumnSpec",
    "ColumnType",
    "JournalEntry",
    "Manifest",
    "ModelVersion",
    "RegisteredModel",
    "ServingUse",
    "Signature",
    "manifest_digest",
]

ColumnType = Literal["int", "float", "bool", "string", "datetime", "category"]
COLUMN_TYPES: tuple[str, ...] = ("int", "float", "bool", "string", "datetime", "category")


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


class ColumnSpec(BaseModel):
    """One column of a signature.

    ``nullable``: missing values (None, NaN) are allowed; inferred from the example (a
    column with a missing value in the example is nullable), so a null the model never saw
    is refused by name instead of failing inside the model. ``categories``: the allowed values of a ``category`` column, in the model's order.
    """

    name: str
    type: ColumnType
    nullable: bool = False
    categories: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _categories_only_for_category(self) -> ColumnSpec:
        if self.categories is not None and self.type != "category":
            raise ValueError(
                f"categories are only allowed on 'category' columns. Column {self.name!r} "
                f"has type {self.type!r}."
            )
        return self


class Signature(BaseModel):
    """The columns a model takes (``inputs``) and gives (``outputs``), in order."""

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = Field(default_factory=list)
    # what ``signature.enforce`` derives from ``inputs`` once (dtypes, indexers)
    _plan: Any = PrivateAttr(default=None)

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def __eq__(self, other: object) -> bool:
        # the cached plan is not part of what a signature is
        if not isinstance(other, Signature):
            return NotImplemented
        return self.inputs == other.inputs and self.outputs == other.outputs

    __hash__ = None  # type: ignore[assignment]

    @field_validator("inputs")
    @classmethod
    def _unique_names(cls, value: list[ColumnSpec]) -> list[ColumnSpec]:
        seen: set[str] = set()
        for col in value:
            if col.name in seen:
                raise ValueError(f"column names must be unique. Got {col.name!r} twice.")
            seen.add(col.name)
        return value


class Manifest(BaseModel):
    """Everything needed to load a version: the flavor, its options, the files (name ->
    sha256 of the blob), the signature and the library versions it was saved with.

    The version's ``digest`` is the sha256 of this manifest's canonical JSON
    (:func:`manifest_digest`), so the digest pins every byte of the model.
    """

    format: int = 1
    flavor: str
    options: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str]
    signature: Signature | None = None
    requirements: dict[str, str] = Field(default_factory=dict)


def manifest_digest(manifest: Manifest) -> str:
    """sha256 of the canonical JSON of ``manifest`` (sorted keys, no spaces, UTF-8)."""
    data = orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


class RegisteredModel(BaseModel):
    """A named model: a line of versions plus the aliases that point into it."""

    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None

    utc_times = field_validator("created_at", "updated_at")(_aware)


class ModelVersion(BaseModel):
    """One registered version of a model.

    ``digest`` is the sha256 of the manifest (flavor, options, files, signature,
    requirements); ``files`` maps each file of the version to the sha256 of its blob;
    ``requirements`` maps each library the flavor needs (and numpy, python) to the version the
    model was saved with. Lineage: ``run_id`` (the run that made it), ``code_commit``,
    ``source_version`` (the "name/3" a reproduction re-creates).
    """

    name: str
    version: int
    flavor: str
    digest: str
    run_id: str | None = None
    signature: Signature | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    status: str = "READY"
    code_commit: str | None = None
    source_version: str | None = None
    created_at: datetime
    created_by: str | None = None
    aliases: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    requirements: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    utc_times = field_validator("created_at")(_aware)

    @property
    def ref(self) -> str:
        """``"name/3"``: the reference that always means this version."""
        return f"{self.name}/{self.version}"

    def manifest(self) -> Manifest:
        """The manifest this version was registered with (its digest is ``self.digest``)."""
        return Manifest(
            flavor=self.flavor,
            options=self.options,
            files=self.files,
            signature=self.signature,
            requirements=self.requirements,
        )


class Alias(BaseModel):
    """A movable name (``production``, ``champion``) pointing at one version of a model."""

    name: str
    alias: str
    version: int
    updated_at: datetime

    utc_times = field_validator("updated_at")(_aware)


class AliasEvent(BaseModel):
    """One move of an alias, kept forever. ``new_version`` is None when the alias was deleted;
    ``old_version`` is None when it was created."""

    id: int
    name: str
    alias: str
    old_version: int | None = None
    new_version: int | None = None
    moved_at: datetime
    moved_by: str | None = None
    reason: str | None = None

    utc_times = field_validator("moved_at")(_aware)


class ServingUse(BaseModel):
    """A route of an endpoint that serves a version now (as its model server last recorded)."""

    endpoint: str
    route: str
    source: str  # "config" (YAML/CLI) or "api"
    updated_at: datetime

    utc_times = field_validator("updated_at")(_aware)


class JournalEntry(BaseModel):
    """Free text on a model (``version`` None) or one of its versions; append-only."""

    id: int
    name: str
    version: int | None = None
    text: str
    author: str | None = None
    created_at: datetime

    utc_times = field_validator("created_at")(_aware)

