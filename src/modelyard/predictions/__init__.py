"""The prediction log as the domain reads it: ``yard.predictions`` (:class:`Predictions`),
the REST store (:class:`~modelyard.predictions.store.PredictionStore`) and the reader API.

Readers: ``reader.scan(yard, endpoint, start, end)`` (polars LazyFrame), ``reader.batches``
(Arrow record batches), ``reader.get(yard, prediction_id)``, ``reader.window(...)`` (a
monitoring window read once, one row group at a time). The segment format, the writer and the
compactor are ground: :mod:`modelyard.wal`.
"""

from .entities import CompactionResult, PredictionRecord

__all__ = ["CompactionResult", "PredictionRecord"]
