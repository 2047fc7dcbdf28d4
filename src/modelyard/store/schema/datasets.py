"""Tables of the datasets domain (migration branch ``datasets``).

A version is a manifest (``dataset_versions.fragments``: an ordered list of fragment digests
with the time each fragment's rows became known). Fragments are content-addressed Parquet
blobs; ``dataset_fragments`` keeps, once per digest, their row count, size and profile sketch,
so a new version's profile merges sketches instead of reading old rows again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONType, UTCDateTime


class DatasetRow(Base):
    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    time_column: Mapped[str | None] = mapped_column(sa.String(256))
    key_columns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        sa.UniqueConstraint("name", "version", name="uq_dataset_versions_name_version"),
        sa.Index("ix_dataset_versions_name_digest", "name", "digest"),
        sa.Index("ix_dataset_versions_name_created_at", "name", "created_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.ForeignKey("datasets.name", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(sa.Integer)
    digest: Mapped[str] = mapped_column(sa.String(64))  # sha256 of schema + fragment digests
    n_rows: Mapped[int] = mapped_column(sa.BigInteger)
    n_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    schema: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # [{"digest", "n_rows", "n_bytes", "ingested_at"}], in row order
    fragments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType)
    time_column: Mapped[str | None] = mapped_column(sa.String(256))
    key_columns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    source_uri: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str | None] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    parents: Mapped[list[str]] = mapped_column(JSONType, default=list)  # "name/version"
    transform: Mapped[str | None] = mapped_column(sa.Text)
    code_commit: Mapped[str | None] = mapped_column(sa.String(64))


class DatasetFragmentRow(Base):
    """A Parquet fragment, once per content digest (shared by versions and datasets)."""

    __tablename__ = "dataset_fragments"

    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    n_rows: Mapped[int] = mapped_column(sa.BigInteger)
    n_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sketch: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatasetColumnRow(Base):
    """The data dictionary: what a column means, kept across versions."""

    __tablename__ = "dataset_columns"

    name: Mapped[str] = mapped_column(
        sa.ForeignKey("datasets.name", ondelete="CASCADE"), primary_key=True
    )
    column: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    unit: Mapped[str | None] = mapped_column(sa.String(64))
    owner: Mapped[str | None] = mapped_column(sa.String(256))
    sensitivity: Mapped[str | None] = mapped_column(sa.String(64))
    # the owner's expectations, checked by validation's data checks
    valid_min: Mapped[float | None] = mapped_column(sa.Float)
    valid_max: Mapped[float | None] = mapped_column(sa.Float)
    max_null_rate: Mapped[float | None] = mapped_column(sa.Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(sa.String(256))
