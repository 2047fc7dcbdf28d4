"""``modelyard runs list|show|download``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InvalidParameter
from ._context import command_group, open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table, short

__all__ = ["register"]

_SHOWN_METRICS = 4
_SHOWN_PARAMS = 4


def _duration(run: Any) -> str:
    if run.end_time is None:
        return ""
    seconds = (run.end_time - run.start_time).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _pairs(values: dict[str, Any], limit: int) -> str:
    items = [f"{k}={_number(v)}" for k, v in sorted(values.items())]
    more = f" (+{len(items) - limit})" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    """Add the ``runs`` command group to ``app``."""
    group = command_group(app, "runs", "Training runs: list, search, show, download artifacts.")

    @group.command("list")
    def list_runs(
        ctx: typer.Context,
        experiment: Annotated[
            list[str] | None,
            typer.Option("--experiment", "-e", help="Only runs of this experiment (repeatable)."),
        ] = None,
        filter: str = typer.Option(
            "", "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.max_depth = '6'\"."
        ),
        order_by: Annotated[
            list[str] | None,
            typer.Option("--order-by", help="e.g. 'metrics.auc DESC' (repeatable)."),
        ] = None,
        max_results: int = typer.Option(
            100, "--max-results", "-n", min=1, help="At most this many."
        ),
        json: bool = JSON_OPTION,
    ) -> None:
        """List runs, newest first, optionally filtered (the search language of runs.search)."""
        with open_yard(ctx) as yard:
            runs = yard.runs.search(
                filter,
                experiment=experiment or None,
                order_by=order_by or None,
                max_results=max_results,
            )
        if json:
            print_json(runs)
            return
        print_table(
            ["run", "experiment", "name", "status", "started", "took", "metrics", "params"],
            (
                [
                    r.id,
                    r.experiment,
                    r.name,
                    r.status,
                    format_time(r.start_time),
                    _duration(r),
                    _pairs(r.metrics, _SHOWN_METRICS),
                    _pairs(r.params, _SHOWN_PARAMS),
                ]
                for r in runs
            ),
            empty="no runs",
        )

    @group.command("show")
    def show(
        ctx: typer.Context,
        run_id: str = typer.Argument(..., help="The run's id."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show one run: attributes, params, latest metrics, tags, inputs and artifacts."""
        with open_yard(ctx) as yard:
            run = yard.runs.get(run_id)
            artifacts = yard.runs.artifacts(run_id)
        if json:
            print_json({**run.model_dump(mode="json"), "artifacts": artifacts})
            return
        print_table(
            ["field", "value"],
            [
                ["id", run.id],
                ["experiment", run.experiment],
                ["name", run.name],
                ["status", run.status],
                ["started", format_time(run.start_time)],
                ["ended", format_time(run.end_time)],
                ["took", _duration(run)],
                ["user", run.user],
                ["code", _code(run)],
                ["source", run.source],
                ["python", run.python_version],
                ["error", short(run.error, 200)],
            ],
            title=f"run {run.id}",
        )
        print_table(
            ["param", "value"], sorted(run.params.items()), title="params", empty="no params"
        )
        print_table(
            ["metric", "latest value"],
            [(k, _number(v)) for k, v in sorted(run.metrics.items())],
            title="metrics",
            empty="no metrics",
        )
        if run.tags:
            print_table(["tag", "value"], sorted(run.tags.items()), title="tags")
        if run.inputs:
            print_table(
                ["dataset", "version", "role", "as of"],
                [(i.dataset, i.version, i.role, format_time(i.as_of)) for i in run.inputs],
                title="inputs",
            )
        if artifacts:
            print_table(
                ["artifact", "size", "digest"],
                [(a.path, a.size, a.digest[:12]) for a in artifacts],
                title="artifacts",
            )

    @group.command("download")
    def download(
        ctx: typer.Context,
        run_id: str = typer.Argument(..., help="The run's id."),
        path: str = typer.Argument(
            ..., help="The artifact's path in the run ('report.html'), or a folder of them "
            "('model': every artifact under model/)."),
        dest_text: Annotated[
            str, typer.Option(
                "--dest", "-d", help="Where to write. A folder (one that exists, ends with '/' "
                "or has no extension, created if missing) keeps the artifact's name; a file "
                "name with an extension is the file written.")
        ] = ".",
    ) -> None:
        """Download an artifact of a run (digest checked; a progress bar on long transfers)."""
        dest = Path(dest_text)
        with open_yard(ctx) as yard:
            artifacts = {a.path: a for a in yard.runs.artifacts(run_id)}
            prefix = path.rstrip("/") + "/"
            under = sorted(p for p in artifacts if p.startswith(prefix))
            if path in artifacts or not under:  # one file (NotFound names it when missing)
                target = dest / Path(path).name if _is_folder(dest, dest_text) else dest
                typer.echo(str(yard.runs.download_artifact(run_id, path, target)))
                return
            if dest.exists() and not dest.is_dir():
                raise InvalidParameter(
                    f"--dest must be a folder to download the {len(under)} artifacts under "
                    f"{prefix!r}. Got the file {str(dest)!r} instead.", field="dest")
            folder = dest / Path(path.rstrip("/")).name
            for name in under:
                out = yard.runs.download_artifact(run_id, name, folder / name[len(prefix):])
                typer.echo(str(out))


def _is_folder(dest: Path, given: str) -> bool:
    """Whether ``--dest`` names a folder: an existing one, one written with a trailing '/', or a
    name without an extension that is not an existing file ('out' means out/)."""
    if dest.is_dir() or given.endswith(("/", "\\")):
        return True
    return not dest.exists() and not dest.suffix


def _code(run: Any) -> str:
    if not run.code_commit:
        return ""
    return run.code_commit[:12] + (" (dirty)" if run.code_dirty else "")
