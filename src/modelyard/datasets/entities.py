"""What the datasets domain stores and returns.

A dataset is a name with a history of versions. A version is a manifest: the schema plus an
ordered list of fragments, each one a Parquet file stored as a content-addressed blob with its
row count and the time its rows became known to the yard (``ingested_at``). Appending makes a
new manifest with the old fragments plus the new ones, so only the new rows are stored.

These pydantic models are the one shape of each concept in the SDK, the REST API and the CLI.
:class:`DatasetVersion` also reads its rows (``to_pandas``, ``to_arrow`` …) once the SDK has
bound it to a yard (every version the SDK hands out is bound).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from ..clock import to_utc
from ..errors import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from .timetravel import DatasetView

__all__ = [
    "CategoryCount",
    "ColumnInfo",
    "ColumnKind",
    "ColumnProfile",
    "ColumnSchema",
    "DatasetInfo",
    "DatasetVersion",
    "Fragment",
    "Histogram",
    "NewFragment",
    "Profile",
]

ColumnKind = Literal["numeric", "categorical", "datetime", "other"]


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


class ColumnSchema(BaseModel):
    """One column of a version: its Arrow type, nullability and (for categoricals) categories."""

    name: str
    type: str
    nullable: bool = True
    categories: list[str] | None = None


class Fragment(BaseModel):
    """One Parquet file of a version: a blob, its size, and when its rows became known."""

    digest: str
    n_rows: int
    n_bytes: int
    ingested_at: datetime

    utc_times = field_validator("ingested_at")(_aware)


class NewFragment(BaseModel):
    """A fragment the SDK has uploaded and asks the store to add, with its profile sketch
    (see :mod:`modelyard.datasets.profile`): the store merges sketches into the version profile
    without reading old rows again."""

    digest: str
    n_rows: int
    n_bytes: int
    sketch: dict[str, Any]


class DatasetInfo(BaseModel):
    """A dataset: its name, event-time column, key columns and latest version."""

    name: str
    description: str | None = None
    time_column: str | None = None
    key_columns: list[str] = Field(default_factory=list)
    latest_version: int | None = None
    n_rows: int | None = None
    created_at: datetime
    updated_at: datetime

    utc_times = field_validator("created_at", "updated_at")(_aware)


class ColumnInfo(BaseModel):
    """The data-dictionary entry of a column, kept across versions."""

    dataset: str
    column: str
    description: str | None = None
    unit: str | None = None
    owner: str | None = None
    sensitivity: str | None = None
    valid_min: float | None = None  # values below are a data-check failure
    valid_max: float | None = None  # values above are a data-check failure
    max_null_rate: float | None = None  # a larger share of nulls is a data-check failure
    updated_at: datetime | None = None
    updated_by: str | None = None

    utc_times = field_validator("updated_at")(_aware)


class Histogram(BaseModel):
    """Counts of the values in ``[edges[i], edges[i+1])`` (the last bin is closed)."""

    edges: list[float]
    counts: list[int]


class CategoryCount(BaseModel):
    value: str
    count: int


class ColumnProfile(BaseModel):
    """Summary of one column of a version: the drift reference of monitoring.

    Numbers: ``min``/``max`` exact, ``mean``/``std`` exact (population std, streamed with
    Chan's merge), ``quantiles`` approximate (from a uniform row sample of at most 65,536 rows
    per fragment, merged across fragments as a mixture of their distributions: the rank error is
    below 1%), ``histogram`` exact counts on aligned power-of-two-width bins.
    Categoricals (strings, booleans, dictionary columns): ``top`` values with exact counts while
    a fragment has at most 1,000 distinct values (``approximate`` says otherwise).
    Datetimes: ``min``/``max`` as ISO-8601 strings.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    name: str
    type: str
    kind: ColumnKind
    count: int
    nulls: int
    nan: int = 0
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[float, float] = Field(default_factory=dict)
    histogram: Histogram | None = None
    top: list[CategoryCount] = Field(default_factory=list)
    n_distinct: int | None = None
    approximate: bool = False

    def quantile(self, q: float) -> float:
        """The ``q``-quantile, interpolated between the stored levels (0, 0.01, …, 1)."""
        if not self.quantiles:
            raise InvalidParameter(
                f"column {self.name!r} has no quantiles (kind {self.kind}).", field="column"
            )
        import numpy as np

        levels = sorted(self.quantiles)
        return float(np.interp(q, levels, [self.quantiles[k] for k in levels]))


class Profile(BaseModel):
    """The profile of a dataset version, computed on add and stored with it."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    dataset: str
    version: int
    n_rows: int
    columns: dict[str, ColumnProfile]

    def __getitem__(self, column: str) -> ColumnProfile:
        try:
            return self.columns[column]
        except KeyError:
            raise InvalidParameter(
                f"column must be one of {sorted(self.columns)}. Got {column!r} instead.",
                field="column",
            ) from None


class DatasetVersion(BaseModel):
    """One version of a dataset: a manifest of Parquet fragments plus its schema.

    ``digest`` addresses the content (schema + fragments): adding the same rows again gives the
    same version. Read it with ``to_pandas()``, ``to_polars()``, ``to_arrow()``,
    ``iter_batches()``; travel in time with ``as_of(t)`` and ``window(start, end)``.
    """

    name: str
    version: int
    digest: str
    n_rows: int
    n_bytes: int
    schema_: list[ColumnSchema] = Field(alias="schema")
    fragments: list[Fragment]
    time_column: str | None = None
    key_columns: list[str] = Field(default_factory=list)
    source_uri: str | None = None
    created_by: str | None = None
    created_at: datetime
    parents: list[str] = Field(default_factory=list)
    transform: str | None = None
    code_commit: str | None = None

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    utc_times = field_validator("created_at")(_aware)

    _yard: Any = PrivateAttr(default=None)
    _profile: Profile | None = PrivateAttr(default=None)

    @property
    def schema(self) -> list[ColumnSchema]:  # type: ignore[override]
        return self.schema_

    # A whole version has no event-time window (the attributes a run records for its inputs;
    # ``as_of`` is the time-travel method here and a datetime on a view).
    @property
    def window_start(self) -> None:
        return None

    @property
    def window_end(self) -> None:
        return None

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.schema_]

    def bind(self, yard: Any) -> DatasetVersion:
        """Attach the yard whose blobs hold the fragments (the SDK does this for you)."""
        self._yard = yard
        return self

    # ---- reading ---------------------------------------------------------------------------
    def view(self) -> DatasetView:
        from .timetravel import DatasetView

        return DatasetView(self._bound(), self)

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        return self.view().to_arrow(columns=columns)

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.view().to_pandas(columns=columns)

    def to_polars(self, columns: list[str] | None = None) -> pl.DataFrame:
        return self.view().to_polars(columns=columns)

    def iter_batches(
        self, batch_size: int = 65_536, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        return self.view().iter_batches(batch_size=batch_size, columns=columns)

    def as_of(self, at: str | datetime) -> DatasetView:  # type: ignore[override]
        """The rows known at ``at``: the newest version (up to this one) created by then."""
        return self.view().at(at)

    def window(
        self, start: str | datetime, end: str | datetime, *, as_of: str | datetime | None = None
    ) -> DatasetView:
        """Rows whose event time is in ``[start, end)``, as known now or ``as_of``."""
        return self.view().window(start, end, as_of=as_of)

    @property
    def profile(self) -> Profile:
        """The profile computed when this version was added (the drift reference)."""
        if self._profile is None:
            self._profile = self._bound().backend.datasets.get_profile(self.name, self.version)
        return self._profile

    def _bound(self) -> Any:
        if self._yard is None:
            raise InvalidParameter(
                f"dataset version {self.ref} is not bound to a yard; get it with "
                f"yard.datasets.get({self.name!r}, version={self.version}).",
                field="dataset",
            )
        return self._yard

    def __repr__(self) -> str:
        return (
            f"DatasetVersion({self.ref}, n_rows={self.n_rows}, digest={self.digest[:12]}…, "
            f"created_at={self.created_at.isoformat()})"
        )

    __str__ = __repr__
