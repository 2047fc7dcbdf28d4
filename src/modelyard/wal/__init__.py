"""The write-ahead log of predictions (ground): the segment format (``segments``), the writer
with group commit on the serving path (``writer``), and the compactor that turns sealed
segments into Parquet partitioned by endpoint and date (``compactor``, ``partitions``).

Reading the log is the domain's job: see :mod:`modelyard.predictions`.
"""

from .compactor import CompactionResult, Compactor, compact
from .writer import LogUnavailable, WalWriter

__all__ = ["CompactionResult", "Compactor", "LogUnavailable", "WalWriter", "compact"]
