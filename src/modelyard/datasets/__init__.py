"""Versioned datasets: content-addressed Parquet fragments, event time and time travel,
streamed profiles, a data dictionary (``yard.datasets``)."""

from .entities import (
    CategoryCount,
    ColumnInfo,
    ColumnProfile,
    ColumnSchema,
    DatasetInfo,
    DatasetVersion,
    Fragment,
    Histogram,
    Profile,
)

__all__ = [
    "CategoryCount",
    "ColumnInfo",
    "ColumnProfile",
    "ColumnSchema",
    "DatasetInfo",
    "DatasetVersion",
    "Fragment",
    "Histogram",
    "Profile",
]
