"""One way in for every kind of table a user hands us: pandas, polars (eager or lazy), Arrow,
a Parquet/CSV path or a dict of columns. Columns are converted one at a time, so a large
pandas or lazy input never exists twice in memory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import InvalidParameter

__all__ = ["Table", "as_table"]


class Table:
    """A read-only view of columns by name, each returned as a polars Series."""

    def __init__(self, obj: Any, *, field: str) -> None:
        self.field = field
        self._pl: pl.DataFrame | None = None
        self._lazy: pl.LazyFrame | None = None
        self._pandas: Any = None
        self._arrow: Any = None
        module = type(obj).__module__
        if isinstance(obj, pl.DataFrame):
            self._pl = obj
        elif isinstance(obj, pl.LazyFrame):
            self._lazy = obj
        elif module.startswith("pandas"):
            if not hasattr(obj, "columns"):
                raise self._bad(obj)
            self._pandas = obj
        elif module.startswith("pyarrow"):
            if not hasattr(obj, "column_names"):
                raise self._bad(obj)
            self._arrow = obj
        elif isinstance(obj, (str, Path)):
            path = str(obj)
            if path.endswith(".csv"):
                self._lazy = pl.scan_csv(path)
            elif path.endswith((".parquet", ".pq")) or Path(path).is_dir():
                self._lazy = pl.scan_parquet(path)
            else:
                raise InvalidParameter(
                    f"{field} must be a .parquet or .csv path. Got {path!r} instead.", field=field
                )
        elif isinstance(obj, Mapping):
            try:
                self._pl = pl.DataFrame(dict(obj))
            except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
                raise InvalidParameter(
                    f"{field} as a dict must map column names to equal-length sequences: {exc}",
                    field=field,
                ) from exc
        else:
            raise self._bad(obj)

    def _bad(self, obj: Any) -> InvalidParameter:
        return InvalidParameter(
            f"{self.field} must be a pandas, polars or Arrow table, a polars LazyFrame, a "
            f"Parquet/CSV path or a dict of columns. Got {type(obj).__name__} instead.",
            field=self.field,
        )

    @property
    def columns(self) -> list[str]:
        if self._pl is not None:
            return list(self._pl.columns)
        if self._lazy is not None:
            return list(self._lazy.collect_schema().names())
        if self._pandas is not None:
            return [str(c) for c in self._pandas.columns]
        return list(self._arrow.column_names)

    @property
    def height(self) -> int:
        if self._pl is not None:
            return self._pl.height
        if self._lazy is not None:
            return int(self._lazy.select(pl.len()).collect().item())
        if self._pandas is not None:
            return len(self._pandas)
        return int(self._arrow.num_rows)

    def column(self, name: str) -> pl.Series:
        if self._pl is not None:
            return self._pl.get_column(name)
        if self._lazy is not None:
            return self._lazy.select(pl.col(name)).collect().to_series()
        if self._pandas is not None:
            key = name if name in self._pandas.columns else _pandas_key(self._pandas, name)
            return pl.from_pandas(self._pandas[key]).rename(name)
        col = self._arrow.column(name)
        s = pl.from_arrow(col)
        assert isinstance(s, pl.Series)
        return s.rename(name)


def _pandas_key(df: Any, name: str) -> Any:
    for c in df.columns:
        if str(c) == name:
            return c
    raise KeyError(name)


def as_table(obj: Any, *, field: str) -> Table:
    return obj if isinstance(obj, Table) else Table(obj, field=field)
