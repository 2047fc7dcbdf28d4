"""The prediction log: a durable write-ahead log with group commit on the serving path,
compacted into Parquet partitioned by endpoint and date (see ``writer``, ``compactor``,
``reader``)."""

from .entities import CompactionResult, PredictionRecord

__all__ = ["PredictionRecord", "CompactionResult"]
