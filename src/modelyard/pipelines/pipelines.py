"""``yard.pipelines``: run pipelines, resume failed runs, read runs and their outputs.

    run = yard.pipelines.run(loans, min_amount=100.0)        # or "mypkg.flows:loans"
    run.status, [(s.step, s.status, s.reasons) for s in run.steps]
    model = run.output("train")                              # a stored output, read back
    yard.pipelines.resume(run.id)                            # after a failure: the rest only

A run records every step: its status and time, its cache key's components, whether it was a
cache hit (and from which step run) or why it missed, and its outputs. A failed step raises
:class:`~modelyard.errors.StepFailed` (``raise_on_failure=False`` returns the failed run).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter, StepFailed
from .entities import DONE, PipelineRun
from .graph import Pipeline
from .outputs import OutputStore, _json_problem, type_name
from .runner import Runner, StepExecutor

__all__ = ["Pipelines", "load_pipeline"]

_DEFAULT_WORKERS = 4


def load_pipeline(entry_point: str, code_path: str | Path | None = None, *,
                  reload: bool = False) -> Pipeline:
    """The pipeline named by ``"package.module:attribute"`` (imported from ``code_path``
    first); an import error or a name that is no pipeline is an InvalidParameter."""
    from ..tracking.environment import import_entry_point

    target = import_entry_point(entry_point, code_path, field="pipeline", reload=reload)
    if not isinstance(target, Pipeline):
        raise InvalidParameter(
            f"pipeline {entry_point!r} must name a pipeline made with @my.pipeline. Got a "
            f"{type_name(target)} instead.", field="pipeline")
    return target


def _recorded(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as stored with the run: JSON values as they are, a dataset version as a
    reference that a resume resolves again, anything else by type only."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if _json_problem(value) is None:
            out[key] = value
        elif type(value).__name__ in ("DatasetVersion", "DatasetView") and \
                type(value).__module__.startswith("modelyard."):
            ref: dict[str, Any] = {"dataset": value.name, "version": value.version}
            for attr in ("as_of", "window_start", "window_end"):
                moment = getattr(value, attr, None)
                if hasattr(moment, "isoformat"):
                    ref[attr] = moment.isoformat()
            out[key] = {"$dataset": ref}
        else:
            out[key] = {"$value": type_name(value)}
    return out


class Pipelines:
    """Pipeline runs of a yard (module docstring). Built from the yard's parts: ``store``
    (``backend.pipelines``), ``blobs``, ``datasets`` (``yard.datasets``), ``registry``
    (``backend.registry``) and ``cache_dir`` (where model outputs read back are kept)."""

    def __init__(self, store: Any, blobs: Any, datasets: Any, registry: Any,
                 cache_dir: Path) -> None:
        self.store = store
        self.outputs = OutputStore(blobs, datasets, registry, cache_dir)
        self.datasets = datasets

    def _runner(self, executor: StepExecutor | None, workers: int | None) -> Runner:
        count = workers or (executor.workers if executor is not None else _DEFAULT_WORKERS)
        return Runner(self.store, self.outputs, executor=executor, workers=count)

    # ---- running ------------------------------------------------------------------------------
    def run(self, pipeline: Pipeline | str, params: Mapping[str, Any] | None = None, *,
            no_cache: bool = False, executor: StepExecutor | None = None,
            workers: int | None = None, code_path: str | Path | None = None,
            raise_on_failure: bool = True, **kwargs: Any) -> PipelineRun:
        """Run ``pipeline`` (a :class:`Pipeline` or ``"module:attribute"``) with ``params``
        (and/or keyword arguments). ``no_cache``: run every step. ``executor``: where step
        functions run (default: threads of this process); ``workers``: steps at once.
        Everything that can be checked is checked before the run is recorded."""
        if isinstance(pipeline, str):
            pipeline = load_pipeline(pipeline, code_path)
        if not isinstance(pipeline, Pipeline):
            raise InvalidParameter(f"pipeline must be a pipeline made with @my.pipeline or "
                                   f"'module:attribute'. Got {pipeline!r} instead.",
                                   field="pipeline")
        given = {**dict(params or {}), **kwargs}
        graph = pipeline.build(given)
        values = pipeline.check_params(given)
        run = self.store.create_run(
            pipeline=pipeline.name, graph=graph.describe(), params=_recorded(values),
            entry_point=pipeline.entry_point,
            code_path=str(code_path) if code_path is not None else pipeline.code_path,
            no_cache=no_cache, executor=executor.describe() if executor is not None else None)
        return self._execute(run, graph, executor, workers, {}, raise_on_failure)

    def resume(self, run_id: str, *, pipeline: Pipeline | None = None,
               params: Mapping[str, Any] | None = None, executor: StepExecutor | None = None,
               workers: int | None = None, raise_on_failure: bool = True) -> PipelineRun:
        """Go on with a failed run: steps that completed keep their outputs, the others run
        (with the code as it is now). ``pipeline``: the pipeline object, when the run's entry
        point cannot be imported by name; ``params``: values for parameters that were not
        JSON (DataFrames …), which a run does not keep."""
        run = self.store.get_run(run_id=run_id)
        if run.status == "succeeded":
            raise InvalidParameter(f"pipeline run {run_id} succeeded; there is nothing to "
                                   "resume.", field="run_id")
        if pipeline is None:
            if run.entry_point is None:
                raise InvalidParameter(
                    f"pipeline run {run_id} was started from a pipeline that cannot be imported "
                    "by name (defined in __main__ or inside a function); resume it from Python "
                    "with yard.pipelines.resume(run_id, pipeline=…).", field="run_id")
            pipeline = load_pipeline(run.entry_point, run.code_path, reload=True)
        values = self._stored_params(run, params or {})
        graph = pipeline.build(values)
        before = sorted(g.name for g in run.graph)
        if sorted(graph.nodes) != before:
            raise InvalidParameter(
                f"the steps of pipeline {run.pipeline!r} changed since run {run_id} (then: "
                f"{', '.join(before)}; now: {', '.join(graph.nodes)}); start a new run.",
                field="run_id")
        completed = {s.step: s for s in run.steps if s.status in DONE}
        run = self.store.restart_run(run_id=run_id)
        return self._execute(run, graph, executor, workers, completed, raise_on_failure)

    def _stored_params(self, run: PipelineRun, given: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in run.params.items():
            if key in given:
                values[key] = given[key]
            elif isinstance(value, dict) and "$dataset" in value:
                ref = value["$dataset"]
                values[key] = self.datasets.view(
                    ref["dataset"], version=ref["version"], as_of=ref.get("as_of"),
                    window_start=ref.get("window_start"), window_end=ref.get("window_end"))
                if not any(ref.get(a) for a in ("as_of", "window_start", "window_end")):
                    values[key] = self.datasets.get(ref["dataset"], version=ref["version"])
            elif isinstance(value, dict) and "$value" in value:
                raise InvalidParameter(
                    f"parameter {key!r} of run {run.id} was a {value['$value']}, which a run "
                    "does not keep; pass it again: resume(run_id, params={…}).", field=key)
            else:
                values[key] = value
        return values

    def _execute(self, run: PipelineRun, graph: Any, executor: StepExecutor | None,
                 workers: int | None, completed: dict[str, Any],
                 raise_on_failure: bool) -> PipelineRun:
        runner = self._runner(executor, workers)
        try:
            status = runner.execute(run, graph, no_cache=run.no_cache, completed=completed)
        except BaseException as exc:
            self.store.finish_run(run_id=run.id, status="failed",
                                  error=f"interrupted: {type(exc).__name__}: {exc}")
            raise
        failed = [name for name, s in status.items() if s == "failed"]
        error = None
        if failed:
            first = self.store.get_run(run_id=run.id).step(failed[0])
            last = (first.error or "").strip().splitlines()
            error = f"step {failed[0]!r} failed: {last[-1] if last else 'no message'}"
        done = self.store.finish_run(run_id=run.id, status="failed" if failed else "succeeded",
                                     error=error).bind(self.outputs)
        done._result = graph.result
        if failed and raise_on_failure:
            raise StepFailed(f"{error} (pipeline {run.pipeline!r}, run {run.id}; completed "
                             f"outputs are kept: resume with modelyard pipelines resume "
                             f"{run.id})", field=failed[0])
        return done

    # ---- reading ------------------------------------------------------------------------------
    def get(self, run_id: str) -> PipelineRun:
        """A run with its steps (``run.output(step)`` reads an output back)."""
        return self.store.get_run(run_id=run_id).bind(self.outputs)  # type: ignore[no-any-return]

    def runs(self, pipeline: str | None = None, *, status: str | None = None,
             limit: int = 50, offset: int = 0) -> list[PipelineRun]:
        """Runs, newest first."""
        found = self.store.list_runs(pipeline=pipeline, status=status, limit=limit,
                                     offset=offset)
        return [r.bind(self.outputs) for r in found]

    def names(self) -> list[str]:
        """Pipelines that have runs."""
        return self.store.list_pipelines()  # type: ignore[no-any-return]

    def links(self, kind: str, ref: str) -> list[Any]:
        """The steps that read or made dataset/model version ``ref`` (``"loans/2"``)."""
        return self.store.links(kind=kind, ref=ref)  # type: ignore[no-any-return]
