"""The prediction log: a durable write-ahead log with group commit on the serving path,
compacted into Parquet partitioned by endpoint and date (see ``writer``, ``compactor``,
``reader``).

Readers: ``reader.scan(yard, endpoint, start, end)`` (polars LazyFrame), ``reader.batches``
(Arrow record batches), ``reader.get(yard, prediction_id)``; or ``yard.predictions``.
"""

from .entities import CompactionResult, PredictionRecord

__all__ = ["CompactionResult", "PredictionRecord"]
