"""``modelyard pipelines run|resume|list|show``: pipeline runs, step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._context import open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table

__all__ = ["pipelines_app"]

pipelines_app = typer.Typer(
    help="Pipelines: steps that re-run only what changed; runs, cache hits and miss reasons.",
    no_args_is_help=True)

EXECUTOR_OPTION = typer.Option(
    None, "--executor", help="Where steps run: 'local' (processes), 'dask' (a local cluster), "
    "'dask://host:8786', 'serial'. Default: threads of this process.")


def _parse_params(pipeline: Any, items: list[str]) -> dict[str, Any]:
    from ..errors import InvalidParameter
    from ..pipelines.types import coerce_text

    declared = pipeline.parameters()
    hints = pipeline.annotations()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InvalidParameter(f"--param must look like key=value. Got {item!r} instead.",
                                   field="param")
        if key not in declared:
            from ..errors import did_you_mean

            raise InvalidParameter(
                f"pipeline {pipeline.name!r} has no parameter {key!r}; its parameters are "
                f"{', '.join(declared) or 'none'}.{did_you_mean(key, declared)}", field=key)
        annotation = hints.get(key, declared[key].annotation)
        out[key] = coerce_text(text, annotation, field=key, where=f"pipeline {pipeline.name!r}")
    return out


def _executor(spec: str | None) -> Any:
    if spec is None:
        return None
    from ..automation.executors import open_executor

    return open_executor(spec)


def _step_line(step: Any) -> list[Any]:
    if step.status == "cached":
        why = f"hit: {step.cached_from}"
    elif step.status == "skipped":
        why = "; ".join(step.reasons)
    elif step.status == "failed":
        lines = (step.error or "").strip().splitlines()
        why = lines[-1] if lines else "failed"
    else:
        why = "; ".join(step.reasons)
    outputs = ", ".join(
        f"{name}={ref.ref or ref.kind}" + (f" ({ref.n_rows} rows)" if ref.n_rows is not None
                                           else "")
        for name, ref in step.outputs.items())
    took = "" if step.duration_s is None else f"{step.duration_s:.2f}s"
    return [step.step, step.status, took, why, outputs]


def _print_run(run: Any) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(run.counts().items()))
    took = f", {run.duration_s:.2f}s" if run.duration_s is not None else ""
    typer.echo(f"pipeline run {run.id} ({run.pipeline}): {run.status}{took}; {counts}")
    if run.params:
        typer.echo("params: " + ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())))
    depends = {g.name: g.depends_on for g in run.graph}
    rows = []
    for step in run.steps:
        line = _step_line(step)
        after = depends.get(step.step) or []
        line.insert(1, ", ".join(after))
        rows.append(line)
    print_table(["step", "after", "status", "time", "cache hit / miss reason", "outputs"], rows,
                empty="no steps")
    if run.error:
        typer.echo(f"error: {run.error}")


@pipelines_app.command("run")
def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The pipeline: 'package.module:name'.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A parameter, key=value (repeat for more).")] = None,
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step (reuse nothing)."),
    executor: str | None = EXECUTOR_OPTION,
    code_path: Annotated[Path | None, typer.Option(
        "--code-path", help="The folder to import the pipeline from (default: here).")] = None,
    json: bool = JSON_OPTION,
) -> None:
    """Run a pipeline: steps whose inputs, parameters, code and libraries did not change reuse
    their stored outputs; the others run (independent ones at the same time)."""
    from ..pipelines.pipelines import load_pipeline

    folder = code_path or Path.cwd()
    pipeline = load_pipeline(target, folder)
    params = _parse_params(pipeline, param or [])
    pipeline.build(params)  # every check before a yard is opened or a run recorded
    ex = _executor(executor)
    try:
        with open_yard(ctx) as yard:
            done = yard.pipelines.run(pipeline, params, no_cache=no_cache, executor=ex,
                                      code_path=folder.resolve(), raise_on_failure=False)
    finally:
        if ex is not None:
            ex.close()
    if json:
        print_json(done)
    else:
        _print_run(done)
    if done.status != "succeeded":
        raise typer.Exit(1)


@pipelines_app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The failed run's id.")],
    executor: str | None = EXECUTOR_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Go on with a failed run: completed steps keep their outputs, the rest runs with the code
    as it is now."""
    ex = _executor(executor)
    try:
        with open_yard(ctx) as yard:
            done = yard.pipelines.resume(run_id, executor=ex, raise_on_failure=False)
    finally:
        if ex is not None:
            ex.close()
    if json:
        print_json(done)
    else:
        _print_run(done)
    if done.status != "succeeded":
        raise typer.Exit(1)


@pipelines_app.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only this pipeline's runs."),
    status: str | None = typer.Option(None, "--status", help="running, succeeded or failed."),
    limit: int = typer.Option(50, "--limit", help="At most this many runs."),
    json: bool = JSON_OPTION,
) -> None:
    """Runs, newest first, with how many steps ran and how many were cache hits."""
    with open_yard(ctx) as yard:
        found = yard.pipelines.runs(pipeline, status=status, limit=limit)
    if json:
        print_json(found)
        return
    rows = []
    for r in found:
        counts = r.counts()
        rows.append([r.id, r.pipeline, r.status, format_time(r.created_at),
                     "" if r.duration_s is None else f"{r.duration_s:.2f}s",
                     counts.get("succeeded", 0), counts.get("cached", 0),
                     counts.get("failed", 0) + counts.get("skipped", 0)])
    print_table(["run", "pipeline", "status", "started", "took", "ran", "cached",
                 "failed/skipped"], rows, empty="no pipeline runs")


@pipelines_app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    json: bool = JSON_OPTION,
) -> None:
    """A run's graph: each step with what it runs after, its status and time, its cache hit
    (and the run it came from) or why it missed, and its outputs."""
    with open_yard(ctx) as yard:
        found = yard.pipelines.get(run_id)
    if json:
        print_json(found)
        return
    _print_run(found)
