"""Data for tasks, and training on partitioned data.

A task runs away from the yard, so it gets a :class:`FrozenView`: a dataset view whose
fragment files are already resolved and verified, readable (``to_pandas``, ``iter_batches``
…) with no yard and picklable to any worker that can open those paths (this machine, a
shared file system).

Training on partitions uses the libraries' own distributed algorithms:

    from modelyard.automation.distributed import train_xgboost, train_lightgbm

    view = yard.datasets.window("loans", "2025-01-01", "2026-01-01")
    booster = train_xgboost(executor, view, label="default",
                            params={"objective": "binary:logistic", "max_depth": 6, "seed": 0},
                            num_boost_round=200)
    model = train_lightgbm(executor, view, label="default", params={"n_estimators": 200})

On a :class:`~modelyard.automation.executors.DaskExecutor` the view's fragments (their row
groups when there are fewer fragments than workers) become the partitions of a
``dask.dataframe`` — read on the workers, filtered to the view's window there — and
``xgboost.dask.train`` / ``lightgbm.DaskLGBMClassifier`` train across the workers; on any
other executor the same call trains in this process on the whole view. Both return an
ordinary model (a ``Booster``, an ``LGBMClassifier``/``LGBMRegressor``) to register.

The two give the same model when the histogram bins are exact (every feature has at most
``max_bin`` distinct values, 256 by default): bins of features with more values come from a
sketch merged across workers, which differs slightly from the one-machine sketch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..datasets.entities import DatasetVersion, Fragment
from ..datasets.ingest import TIME_TYPE
from ..datasets.timetravel import DatasetView, fragment_paths
from ..errors import InvalidParameter

if TYPE_CHECKING:
    import pandas as pd

    from .executors import Executor

__all__ = [
    "FrozenView",
    "Partition",
    "freeze",
    "partitions",
    "read_partition",
    "to_dask_frame",
    "train_lightgbm",
    "train_xgboost",
]


class FrozenView(DatasetView):
    """A :class:`~modelyard.datasets.timetravel.DatasetView` with its fragment files resolved:
    it reads without a yard and pickles to other processes (see :func:`freeze`)."""

    def __init__(self, source: DatasetVersion, paths: Sequence[str], *,
                 as_of: datetime | None = None, window_start: datetime | None = None,
                 window_end: datetime | None = None) -> None:
        super().__init__(None, source, as_of=as_of, window_start=window_start,
                         window_end=window_end)
        self.paths = list(paths)

    def _fragments(self) -> Iterator[tuple[Fragment, str]]:
        yield from zip(self.source.fragments, self.paths)

    def at(self, when: str | datetime) -> DatasetView:
        raise InvalidParameter(
            f"a frozen view of {self.name}/{self.version} cannot travel in time (it has no "
            f"yard); freeze the view yard.datasets.get({self.name!r}).as_of({str(when)!r}) "
            "instead.", field="as_of")

    def window(self, start: str | datetime, end: str | datetime, *,
               as_of: str | datetime | None = None) -> FrozenView:
        if as_of is not None:
            self.at(as_of)
        narrowed = super().window(start, end)
        return FrozenView(self.source, self.paths, as_of=self.as_of,
                          window_start=narrowed.window_start, window_end=narrowed.window_end)

    def __reduce__(self) -> Any:
        return (_thaw, (self.source.model_dump(mode="json", by_alias=True), self.paths,
                        self.as_of, self.window_start, self.window_end))


def _thaw(source: dict[str, Any], paths: list[str], as_of: datetime | None,
          window_start: datetime | None, window_end: datetime | None) -> FrozenView:
    return FrozenView(DatasetVersion.model_validate(source), paths, as_of=as_of,
                      window_start=window_start, window_end=window_end)


def freeze(view: Any) -> FrozenView:
    """A :class:`FrozenView` of a dataset version or view (its fragments fetched and verified
    now, on this machine)."""
    if isinstance(view, FrozenView):
        return view
    if isinstance(view, DatasetVersion):
        view = view.view()
    if not isinstance(view, DatasetView):
        raise InvalidParameter(f"data must be a dataset version or view. Got "
                               f"{type(view).__name__} instead.", field="data")
    source = DatasetVersion.model_validate(view.source.model_dump(mode="json", by_alias=True))
    return FrozenView(source, fragment_paths(view._yard, view.source.fragments),
                      as_of=view.as_of, window_start=view.window_start,
                      window_end=view.window_end)


@dataclass(frozen=True)
class Partition:
    """Row groups of one fragment file that a task reads, filtered to ``[start, end)`` of
    ``time_column`` when a window is set."""

    path: str
    row_groups: tuple[int, ...]
    n_rows: int
    time_column: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _in_window(meta: Any, rg: int, column: int | None, view: DatasetView) -> bool:
    if column is None or view.window_start is None or view.window_end is None:
        return True
    stats = meta.row_group(rg).column(column).statistics
    if stats is None or not stats.has_min_max:
        return True
    return bool(_utc(stats.max) >= view.window_start and _utc(stats.min) < view.window_end)


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return pa.scalar(int(value), pa.int64()).cast(TIME_TYPE).as_py()  # type: ignore[no-any-return]


def partitions(view: Any, *, at_least: int = 1) -> list[Partition]:
    """The partitions of a view: one per fragment, or one per row group when there are
    fewer fragments than ``at_least`` (the workers); row groups whose time statistics lie
    outside the view's window are left out."""
    frozen = freeze(view)
    per_file: list[tuple[str, list[tuple[int, int]]]] = []
    for path in frozen.paths:
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        column = names.index(frozen.time_column) if frozen.time_column in names else None
        kept = [(rg, meta.row_group(rg).num_rows) for rg in range(meta.num_row_groups)
                if _in_window(meta, rg, column, frozen)]
        if kept:
            per_file.append((path, kept))
    window = (frozen.time_column, frozen.window_start, frozen.window_end) \
        if frozen.window_start is not None else (None, None, None)
    if len(per_file) >= at_least:
        return [Partition(path, tuple(rg for rg, _ in kept), sum(n for _, n in kept), *window)
                for path, kept in per_file]
    return [Partition(path, (rg,), n, *window) for path, kept in per_file for rg, n in kept]


def read_partition(part: Partition, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One partition as a pandas DataFrame (on a worker)."""
    wanted = list(columns) if columns is not None else None
    read = wanted
    if part.time_column is not None and wanted is not None and part.time_column not in wanted:
        read = [*wanted, part.time_column]
    table = pq.ParquetFile(part.path).read_row_groups(list(part.row_groups), columns=read)
    if part.time_column is not None and part.start is not None and part.end is not None:
        t = table.column(part.time_column)
        keep = pc.and_(pc.greater_equal(t, pa.scalar(part.start, TIME_TYPE)),
                       pc.less(t, pa.scalar(part.end, TIME_TYPE)))
        table = table.filter(keep)
    if wanted is not None:
        table = table.select(wanted)
    return table.to_pandas()


def to_dask_frame(view: Any, columns: Sequence[str] | None = None, *,
                  at_least: int = 1) -> Any:
    """A ``dask.dataframe`` whose partitions are the view's (see :func:`partitions`)."""
    import dask.dataframe as dd

    parts = partitions(view, at_least=at_least)
    if not parts:
        raise InvalidParameter(f"{_describe(view)} has no rows to train on.", field="data")
    cols = list(columns) if columns is not None else None
    meta = read_partition(parts[0], cols).iloc[:0]
    return dd.from_map(read_partition, parts, columns=cols, meta=meta, enforce_metadata=False)


def _describe(view: Any) -> str:
    start = getattr(view, "window_start", None)
    end = getattr(view, "window_end", None)
    name = f"{view.name}/{view.version}"
    return f"{name} [{start.isoformat()}, {end.isoformat()})" if start and end else name


def _features(view: Any, label: str, features: Sequence[str] | None) -> list[str]:
    columns = list(view.columns)
    if label not in columns:
        raise InvalidParameter(f"label must be a column of {view.name} ({columns}). Got "
                               f"{label!r} instead.", field="label")
    if features is not None:
        unknown = [f for f in features if f not in columns]
        if unknown:
            raise InvalidParameter(f"features must be columns of {view.name}. Got {unknown} "
                                   "instead.", field="features")
        return list(features)
    return [c for c in columns if c not in (label, view.time_column)]


def _is_dask(executor: Executor | None) -> bool:
    return executor is not None and getattr(executor, "kind", None) == "dask"


def _has_categories(frame: Any) -> bool:
    return any(str(t) == "category" for t in frame.dtypes)


def train_xgboost(executor: Executor | None, data: Any, *, label: str,
                  params: dict[str, Any] | None = None, num_boost_round: int = 100,
                  features: Sequence[str] | None = None) -> Any:
    """An ``xgboost.Booster`` trained on ``data`` (a dataset version or view): with
    ``xgboost.dask.train`` across the workers of a Dask executor, else ``xgboost.train``
    here. ``features``: default every column but ``label`` and the time column."""
    try:
        import xgboost as xgb
    except ImportError as exc:
        raise InvalidParameter("train_xgboost needs xgboost: pip install "
                               "'modelyard[xgboost]'.", field="executor") from exc
    params = {"tree_method": "hist", **(params or {})}
    view = freeze(data)
    cols = _features(view, label, features)
    if _is_dask(executor):
        import xgboost.dask as xgb_dask

        client = executor.client  # type: ignore[union-attr]
        frame = to_dask_frame(view, [*cols, label], at_least=executor.workers)  # type: ignore[union-attr]
        with client.as_current():  # xgboost.dask asks for the current client as well
            dtrain = xgb_dask.DaskDMatrix(client, frame[cols], frame[label],
                                          enable_categorical=_has_categories(frame._meta))
            out = xgb_dask.train(client, params, dtrain, num_boost_round=num_boost_round)
        return out["booster"]
    frame = view.to_pandas(columns=[*cols, label])
    dtrain = xgb.DMatrix(frame[cols], frame[label], enable_categorical=_has_categories(frame))
    return xgb.train(params, dtrain, num_boost_round=num_boost_round)


def train_lightgbm(executor: Executor | None, data: Any, *, label: str,
                   params: dict[str, Any] | None = None, task: str = "classifier",
                   features: Sequence[str] | None = None) -> Any:
    """An ``LGBMClassifier`` (``task="classifier"``) or ``LGBMRegressor`` trained on ``data``:
    with ``lightgbm.dask`` across the workers of a Dask executor (returned as the local
    model), else here."""
    if task not in ("classifier", "regressor"):
        raise InvalidParameter(f"task must be 'classifier' or 'regressor'. Got {task!r} "
                               "instead.", field="task")
    try:
        import lightgbm as lgb
    except ImportError as exc:
        raise InvalidParameter("train_lightgbm needs lightgbm: pip install "
                               "'modelyard[lightgbm]'.", field="executor") from exc
    params = {"verbose": -1, **(params or {})}
    view = freeze(data)
    cols = _features(view, label, features)
    if _is_dask(executor):
        import lightgbm.dask as lgb_dask

        cls = lgb_dask.DaskLGBMClassifier if task == "classifier" else lgb_dask.DaskLGBMRegressor
        frame = to_dask_frame(view, [*cols, label], at_least=executor.workers)  # type: ignore[union-attr]
        params.pop("n_jobs", None)  # lightgbm.dask sets the threads of each worker itself
        client = executor.client  # type: ignore[union-attr]
        with client.as_current():
            model = cls(client=client, **params)
            model.fit(frame[cols], frame[label])
        return model.to_local()
    local = lgb.LGBMClassifier if task == "classifier" else lgb.LGBMRegressor
    frame = view.to_pandas(columns=[*cols, label])
    return local(**params).fit(frame[cols], frame[label])
