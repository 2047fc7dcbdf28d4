"""Batch scoring on an executor (``modelyard score``).

    from modelyard.automation.scoring import score

    result = score(yard, "loans@production", "data/2026-*.parquet", "scored.parquet",
                   executor="dask://10.0.0.5:8786", log_endpoint="loans")
    result.rows, result.written, result.skipped, result.logged

The inputs are cut into partitions (runs of row groups, see
:mod:`modelyard.predictions.scoring`). On local processes each partition is one task that
streams its row groups; on a Dask cluster the partitions are those of a ``dask.dataframe``
(``dd.from_map`` over them), scored with ``map_partitions`` and each written by its own task.
Either way every partition lands as one Parquet file renamed into place when complete, so a
run that fails part way is taken up by running the same command again: the partitions
already written are skipped.

Before anything is written: the model is fetched and verified, every input's columns are
checked against its signature, the first rows are scored (a model that cannot score them
fails here), and the executor is reached (a Dask address that does not answer is an error
within its timeout).

With ``log_endpoint`` the predictions also go to the prediction log (route ``batch`` of that
endpoint), so monitoring sees them: each written partition is read back and appended on this
machine, then marked logged (``_logged-part-NNNNN``). A partition written but not yet logged
when a run stops is logged by the next run; one stopped between its log append and its marker
is logged twice, with the same prediction ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..clock import Clock, SystemClock
from ..errors import InvalidParameter
from ..predictions.scoring import (
    ModelPackage,
    OutputFolder,
    PartResult,
    ScoringManifest,
    ScoringSpec,
    SourcePart,
    check_columns,
    load_package,
    log_records,
    part_name,
    plan_parts,
    read_part,
    read_part_frame,
    resolve_inputs,
    score_frame,
    score_part,
    write_frame,
)
from .executors import Executor, open_executor

__all__ = ["ScoringResult", "score"]


@dataclass
class ScoringResult:
    """What a scoring run did: partitions written now and skipped (already there), rows
    scored in total, predictions logged, wall time, and where it ran."""

    model: str
    dest: str
    partitions: int
    written: int
    skipped: int
    rows: int
    logged: int
    seconds: float
    executor: str


def _package(yard: Any, model: str) -> tuple[ModelPackage, Any]:
    version = yard.models.resolve(model)
    loaded = yard.models.load(version)  # fetched into the cache, checked against the digests
    return ModelPackage.of(version, loaded.path), loaded


def _first_rows(part: SourcePart, n: int = 16) -> pd.DataFrame:
    for batch in read_part(part, batch_rows=n):
        return batch.to_pandas()
    raise InvalidParameter(f"{part.url} has no rows.", field="source")


def score(
    yard: Any,
    model: str,
    source: str | Sequence[str],
    dest: str,
    *,
    executor: str | Executor | None = None,
    keep: Sequence[str] | None = None,
    proba: bool = True,
    log_endpoint: str | None = None,
    partition_rows: int = 1 << 20,
    batch_rows: int = 65_536,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    clock: Clock | None = None,
) -> ScoringResult:
    """Score ``source`` with ``model`` (``"loans@production"``, ``"loans/3"``) into the folder
    ``dest`` (module docstring). ``keep``: input columns copied to the output (default all);
    ``proba``: class probabilities too; ``log_endpoint``: also log the predictions under that
    endpoint; ``overwrite``: empty ``dest`` first instead of resuming; ``progress(rows)`` is
    called as partitions finish (and ``progress.set_total(rows)`` first, if it has one)."""
    started = time.perf_counter()
    clock = clock or getattr(yard, "clock", None) or SystemClock()
    package, loaded = _package(yard, model)
    version = package.version
    urls = resolve_inputs(source, yard=yard)
    check_columns(urls, version, keep)
    inputs = [c.name for c in version.signature.inputs] if version.signature else []
    if log_endpoint is not None:
        if getattr(yard.backend, "is_remote", False):
            raise InvalidParameter("logging batch predictions writes this machine's prediction "
                                   "log: expected a local yard. Got a remote one.",
                                   field="log_endpoint")
        lacking = [c for c in inputs if keep is not None and c not in keep]
        if lacking or not inputs:
            raise InvalidParameter(
                "logging batch predictions needs the model's inputs in the output (monitoring "
                f"reads them): keep must include {inputs or 'a signature'}. Got keep={keep}.",
                field="keep")
    parts = plan_parts(urls, partition_rows)
    if not parts:
        raise InvalidParameter(f"source {source!r} has no rows to score.", field="source")
    spec = ScoringSpec(package, tuple(keep) if keep is not None else None, proba, batch_rows)
    sample = score_frame(loaded, _first_rows(parts[0]), spec, where=f"{parts[0].url}")
    manifest = ScoringManifest(
        model=version.ref, model_digest=version.digest, source=list(urls),
        parts=[(p.url, list(p.row_groups), p.n_rows) for p in parts],
        keep=list(keep) if keep is not None else None, proba=proba, created_at=clock.now())
    ex = open_executor(executor)  # reached (or refused) before anything is written
    try:
        folder = OutputFolder(dest)
        done = folder.open(manifest, overwrite=overwrite)
        todo = [p for p in parts if p.index not in done]
        if hasattr(progress, "set_total"):
            progress.set_total(sum(p.n_rows for p in parts))
        if progress is not None:
            progress(sum(p.n_rows for p in parts if p.index in done))
        try:
            results = _run(ex, spec, todo, dest, sample, progress)
        finally:
            logged = _log(yard, folder, len(parts), log_endpoint, inputs) \
                if log_endpoint is not None else 0
        folder.write_manifest(manifest.model_copy(update={"complete": True}))
        return ScoringResult(
            model=version.ref, dest=dest, partitions=len(parts), written=len(results),
            skipped=len(done), rows=sum(p.n_rows for p in parts), logged=logged,
            seconds=time.perf_counter() - started, executor=ex.describe())
    finally:
        if ex is not executor:
            ex.close()


def _run(ex: Executor, spec: ScoringSpec, todo: list[SourcePart], dest: str,
         sample: pd.DataFrame, progress: Callable[[int], None] | None) -> list[PartResult]:
    if not todo:
        return []
    if ex.kind == "dask":
        return _run_dask(ex, spec, todo, dest, sample, progress)
    rows = {p.index: p.n_rows for p in todo}
    results: list[PartResult] = []

    def finished(result: PartResult) -> None:
        results.append(result)
        if progress is not None:
            progress(rows[result.index])

    shared = ex.share(spec)
    futures = [ex.submit(score_part, shared, part, dest) for part in todo]
    _each_completed(ex, futures, finished)
    return results


def _each_completed(ex: Executor, futures: list[Any],
                    callback: Callable[[PartResult], None]) -> None:
    """``callback(result)`` as each future finishes; the first failure cancels the rest."""
    if ex.kind == "dask":
        from distributed import as_completed

        iterator: Any = as_completed(futures, loop=ex.client.loop)  # type: ignore[attr-defined]
    else:
        from concurrent.futures import as_completed as cf_completed

        iterator = cf_completed(futures)
    try:
        for future in iterator:
            callback(future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def score_partition(frame: pd.DataFrame, spec: ScoringSpec, parts: list[SourcePart],
                    partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """``map_partitions`` function: one partition scored on a worker."""
    number = (partition_info or {}).get("number")
    where = f"{parts[number].url} (partition {parts[number].index})" \
        if isinstance(number, int) and number < len(parts) else "a partition"
    return score_frame(load_package(spec.model), frame, spec, where=where)


def _run_dask(ex: Executor, spec: ScoringSpec, todo: list[SourcePart], dest: str,
              sample: pd.DataFrame, progress: Callable[[int], None] | None) -> list[PartResult]:
    import dask
    import dask.dataframe as dd

    client = ex.client  # type: ignore[attr-defined]
    meta_in = _first_rows(todo[0]).iloc[:0]
    frame = dd.from_map(read_part_frame, todo, meta=meta_in, enforce_metadata=False)
    scored = frame.map_partitions(score_partition, spec, todo, meta=sample.iloc[:0],
                                  enforce_metadata=False)
    writes = [dask.delayed(write_frame)(piece, dest, part.index)
              for piece, part in zip(scored.to_delayed(), todo)]
    results: list[PartResult] = []

    def finished(result: PartResult) -> None:
        results.append(result)
        if progress is not None:
            progress(result.n_rows)

    with client.as_current():
        futures = client.compute(writes)
    _each_completed(ex, futures, finished)
    return results


def _logged_marker(index: int) -> str:
    return f"_logged-{part_name(index).removesuffix('.parquet')}"


def _log(yard: Any, folder: OutputFolder, n_parts: int, endpoint: str,
         inputs: list[str]) -> int:
    """Append every written, not yet logged partition to the prediction log."""
    total = 0
    for index in range(n_parts):
        if not folder.exists(part_name(index)) or folder.exists(_logged_marker(index)):
            continue
        for records in log_records(folder.path(part_name(index)), endpoint=endpoint,
                                   inputs=inputs):
            yard.predictions.log(records, compact_now=False)
            total += len(records)
        folder.write_bytes(_logged_marker(index), b"")
    if total:
        yard.predictions.compact()
    return total
