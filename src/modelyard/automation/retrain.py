"""Training that can be re-run as of any date: ``run_training`` and ``retrain``.

The contract of a training entry point (``"package.module:function"``)::

    def train(params: dict, data: dict[str, DatasetView], run: ActiveRun) -> model | TrainingResult:
        X = data["train"].to_pandas()
        ...
        return TrainingResult(model, example=X.head(5))     # or just the fitted model

``params`` are the JSON values given to :func:`run_training`; ``data`` maps a role ("train",
"test" …) to a dataset version or an ``as_of``/window view; ``run`` is the active run (log
metrics on it). It must not read data from anywhere else, and should seed its randomness from
``params`` — then re-running it on the same data gives the same model.

An entry point may also name a pipeline (``@my.pipeline``; the *pipeline form*): it runs with
``params`` and each data role as its parameters (a parameter per role, given the dataset view),
on the executor if one is given, inside the run; the model it returns (the output of the step
that trains it) is registered as ``model_name`` from the files the step stored, linked to the
run and tagged with the pipeline run and step. Its steps' cache applies: a retrain on the same
data and code reuses every step's output. An entry point that
also takes ``executor`` gets the :class:`~modelyard.automation.executors.Executor` the
training was given (``executor=`` here, a policy's ``executor``; local processes by
default) to train on partitions with
:func:`~modelyard.automation.distributed.train_xgboost` and the like.

:func:`run_training` starts the run around it (recording the entry point, params, code commit
and every input with its role, ``as_of`` and window) and registers what it returns.
:func:`retrain` re-runs the training recorded for a model version with every input resolved
*as known at a date*: the same event-time windows, the dataset versions that were known then.
With ``as_of`` equal to the original's knowledge time it reproduces the original model; a later
``as_of`` trains on the rows that arrived since. The new version records
``source_version`` = the original.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import parse_time, to_utc
from ..errors import InvalidParameter, NotFound
from ..tracking.environment import import_entry_point, module_root

__all__ = [
    "TrainingResult",
    "accepts_executor",
    "check_pipeline_entry",
    "code_root",
    "is_pipeline",
    "knowledge_time",
    "load_entry_point",
    "retrain",
    "run_training",
    "takes_parameter",
]



@dataclass
class TrainingResult:
    """What an entry point may return: the fitted model and a few input rows (its signature)."""

    model: Any
    example: Any = None


def load_entry_point(entry_point: str, code_path: str | Path | None = None) -> Callable[..., Any]:
    """The function named by ``"package.module:function"`` (see
    :func:`modelyard.tracking.environment.import_entry_point`)."""
    return import_entry_point(entry_point, code_path)


def code_root(entry_point: str) -> str | None:
    """The folder the entry point's top-level package or module is imported from (what must
    be on ``sys.path`` to import it again), once it is imported; None if unknown."""
    return module_root(entry_point.partition(":")[0])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat()


def run_training(
    yard: Any,
    entry_point: str,
    *,
    model_name: str,
    data: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    source_version: str | None = None,
    tags: Mapping[str, str] | None = None,
    code_path: str | Path | None = None,
    executor: Any = None,
) -> Any:
    """Run ``entry_point`` inside a new run and register its model as ``model_name``.

    ``data``: role -> dataset version or view (``yard.datasets.window(…, as_of=…)``).
    ``code_path``: the folder to import the entry point from (default: ``sys.path``).
    ``executor``: an :class:`~modelyard.automation.executors.Executor` or a spec
    (``"dask://host:8786"``) handed to an entry point that takes ``executor``; one opened
    here from a spec is closed when the training ends.
    Returns the registered ``ModelVersion``.
    """
    params = dict(params or {})
    try:
        json.dumps(params)
    except TypeError as exc:
        raise InvalidParameter(f"params must be JSON values (numbers, text, lists, dicts): {exc}",
                               field="params") from exc
    if not data:
        raise InvalidParameter("data must name at least one dataset version or view.",
                               field="data")
    fn = load_entry_point(entry_point, code_path)
    if is_pipeline(fn):
        check_pipeline_entry(fn, entry_point, params, list(data))
    takes_executor = accepts_executor(fn)
    if executor is not None and not takes_executor:
        raise InvalidParameter(
            f"entry point {entry_point!r} was given an executor but does not take one: "
            "expected a parameter named 'executor' in its signature.", field="executor")
    spec = {
        "entry_point": entry_point,
        "code_path": code_root(entry_point),
        "params": params,
        "model_name": model_name,
        "inputs": {
            role: {
                "dataset": view.name,
                "version": view.version,
                "as_of": _iso(_when(view, "as_of")),
                "window_start": _iso(_when(view, "window_start")),
                "window_end": _iso(_when(view, "window_end")),
            }
            for role, view in data.items()
        },
    }
    with contextlib.ExitStack() as stack:
        extra: dict[str, Any] = {}
        # a pipeline's steps run in threads of this process unless an executor is given
        if takes_executor and not (is_pipeline(fn) and executor is None):
            from .executors import open_executor

            opened = open_executor(executor)
            if opened is not executor:
                stack.callback(opened.close)
            extra["executor"] = opened
        train = _run_pipeline if is_pipeline(fn) else _train_and_register
        return train(yard, fn, entry_point, model_name, data, params, experiment,
                     source_version, dict(tags or {}), spec, extra)


def is_pipeline(target: Any) -> bool:
    """Whether an entry point names a pipeline rather than a training function."""
    from ..pipelines.graph import Pipeline

    return isinstance(target, Pipeline)


def accepts_executor(target: Any) -> bool:
    """Whether an entry point can be given an executor (a pipeline always can)."""
    return is_pipeline(target) or takes_parameter(target, "executor")


def check_pipeline_entry(pipeline: Any, entry_point: str, params: Mapping[str, Any],
                         roles: list[str]) -> None:
    """A pipeline used as a training entry point takes every param and a parameter per data
    role."""
    declared = pipeline.parameters()
    for key in [*params, *roles]:
        if key not in declared:
            what = "data role" if key in roles else "param"
            raise InvalidParameter(
                f"entry point {entry_point!r} is pipeline {pipeline.name!r}, which has no "
                f"parameter {key!r} for its {what}; its parameters are "
                f"{', '.join(declared) or 'none'}.", field="entry_point")


def _run_pipeline(yard: Any, pipeline: Any, entry_point: str, model_name: str,
                  data: Mapping[str, Any], params: dict[str, Any], experiment: str | None,
                  source_version: str | None, tags: dict[str, str], spec: dict[str, Any],
                  extra: dict[str, Any]) -> Any:
    from ..pipelines.graph import StepOutput

    with yard.start_run(experiment=experiment or model_name, params=params, tags=tags,
                        entry_point=entry_point, recipe=spec) as run:
        for role, view in data.items():
            run.log_input(view, role=role)
        done = yard.pipelines.run(pipeline, {**params, **dict(data)},
                                  executor=extra.get("executor"))
        result = done.result_output
        if not isinstance(result, StepOutput):
            raise InvalidParameter(
                f"pipeline {pipeline.name!r} is a training entry point, so it must return the "
                f"output of the step that trains the model. Got {result!r} instead.",
                field="entry_point")
        ref = done.step(result.node).outputs[result.output]
        if ref.kind != "model":
            raise InvalidParameter(
                f"pipeline {pipeline.name!r} is a training entry point, so it must return a "
                f"model; step {result.node!r} returned a {ref.python_type}.",
                field="entry_point")
        run.set_tags({"modelyard.pipeline.run": done.id})
        from ..registry.entities import Manifest

        return yard.backend.registry.create_model_version(
            name=model_name, manifest=Manifest.model_validate(ref.extra["manifest"]),
            run_id=run.id, code_commit=run.code_commit, source_version=source_version,
            tags={"modelyard.pipeline": pipeline.name, "modelyard.pipeline.run": done.id,
                  "modelyard.pipeline.step": result.node})


def takes_parameter(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn``'s signature has a parameter called ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _train_and_register(yard: Any, fn: Callable[..., Any], entry_point: str, model_name: str,
                        data: Mapping[str, Any], params: dict[str, Any],
                        experiment: str | None, source_version: str | None,
                        tags: dict[str, str], spec: dict[str, Any],
                        extra: dict[str, Any]) -> Any:
    with yard.start_run(experiment=experiment or model_name, params=params, tags=tags,
                        entry_point=entry_point, recipe=spec) as run:
        for role, view in data.items():
            run.log_input(view, role=role)
        result = fn(params=dict(params), data=dict(data), run=run, **extra)
        if not isinstance(result, TrainingResult):
            result = TrainingResult(result)
        if result.model is None:
            raise InvalidParameter(
                f"entry point {entry_point!r} must return the fitted model (or a "
                "TrainingResult). Got None instead.",
                field="entry_point",
            )
        return yard.models.register(
            result.model, model_name, example=result.example, run_id=run.id,
            code_commit=run.code_commit, source_version=source_version,
        )


def _existing_folder(path: str | None) -> str | None:
    return path if path and Path(path).is_dir() else None


def _when(view: Any, attr: str) -> datetime | None:
    value = getattr(view, attr, None)
    return value if isinstance(value, datetime) else None  # a version's as_of is a method


def _training_spec(yard: Any, version: Any) -> dict[str, Any]:
    if version.run_id is None:
        raise InvalidParameter(
            f"model version {version.ref} has no run, so there is no training to re-run.",
            field="ref",
        )
    run = yard.runs.get(version.run_id)
    if run.recipe is None:  # stored with the run when it was created; no writer can change it
        raise InvalidParameter(
            f"model version {version.ref} was not trained through run_training (run {run.id} "
            "has no recorded entry point, params and inputs), so it cannot be re-run.",
            field="ref",
        )
    return run.recipe


def _model_version(yard: Any, ref: str) -> Any:
    name, at, number = ref.partition("@")
    if at and number.isdigit():  # "loans@3": an alias cannot be all digits, so version 3
        return yard.models.get(f"{name}/{number}")
    return yard.models.get(ref)


def knowledge_time(yard: Any, ref: str) -> datetime:
    """When the data a model version was trained on was known: the latest of its inputs'
    ``as_of`` (or, for a whole version, the time that version was added)."""
    version = _model_version(yard, ref)
    spec = _training_spec(yard, version)
    times = []
    for item in spec["inputs"].values():
        if item.get("as_of"):
            times.append(parse_time(item["as_of"]))
        else:
            times.append(yard.datasets.get(item["dataset"], version=item["version"]).created_at)
    return max(times)


def retrain(
    yard: Any, ref: str, *, as_of: str | datetime, experiment: str | None = None
) -> Any:
    """Re-run the training of model version ``ref`` ("loans/3", "loans@production") with its
    inputs as known at ``as_of``; registers and returns the new version (a new version of the
    same model, ``source_version`` = the original). ``"loans@3"`` also means version 3."""
    version = _model_version(yard, ref)
    spec = _training_spec(yard, version)
    moment = parse_time(as_of, field="as_of")
    data = {}
    for role, item in spec["inputs"].items():
        try:
            data[role] = yard.datasets.view(
                item["dataset"], as_of=moment, window_start=item.get("window_start"),
                window_end=item.get("window_end"),
            )
        except NotFound as exc:
            raise NotFound(
                f"cannot retrain {version.ref} as of {moment.isoformat()}: input {role!r} "
                f"({item['dataset']}) {exc.message}",
                field="as_of",
            ) from exc
    return run_training(
        yard, spec["entry_point"], model_name=version.name, data=data,
        params=spec["params"], experiment=experiment, source_version=version.ref,
        code_path=_existing_folder(spec.get("code_path")),
        tags={"modelyard.retrain.as_of": moment.isoformat(),
              "modelyard.retrain.source": version.ref},
    )
