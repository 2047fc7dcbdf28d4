"""``modelyard score MODEL SOURCE DEST``: batch scoring on an executor, resumable by partition."""

from __future__ import annotations

from typing import Annotated

import typer

from ._context import open_yard
from ._render import count_progress, print_json

__all__ = ["register", "split_names"]

EXECUTOR_HELP = ("Where the work runs: 'local' (processes, one per core), 'local:N', 'serial', "
                 "'dask' (a LocalCluster) or a Dask scheduler 'dask://host:8786'.")


def split_names(value: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; None stays None."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    """Add ``score`` to ``app``."""

    @app.command("score")
    def score_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A model version: 'loans@production', "
                                             "'loans/3' or 'loans' (the latest).")],
        source: Annotated[str, typer.Argument(help=(
            "Parquet input: a file, a folder, a glob ('data/2026-*.parquet'), an fsspec URL "
            "('s3://bucket/day=*/') or a dataset version ('dataset:loans/3').")),],
        dest: Annotated[str, typer.Argument(help=(
            "Output folder of Parquet parts (a path or fsspec URL); running again resumes "
            "it."))],
        executor: Annotated[str, typer.Option(help=EXECUTOR_HELP)] = "local",
        keep: Annotated[str | None, typer.Option(
            help="Input columns to copy to the output, comma-separated (default: all).")] = None,
        proba: Annotated[bool, typer.Option(
            "--proba/--no-proba", help="Also write class probabilities (proba.<class>).")] = True,
        log_endpoint: Annotated[str | None, typer.Option(
            help="Also write the predictions to the prediction log under this endpoint "
                 "(route 'batch'), so monitoring sees them.")] = None,
        partition_rows: Annotated[int, typer.Option(
            min=1, help="Rows per partition: the unit of parallel work and of resuming.")
        ] = 1 << 20,
        overwrite: Annotated[bool, typer.Option(
            help="Empty DEST first instead of resuming what is there.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")
                           ] = False,
    ) -> None:
        """Score Parquet files or a dataset version with a model version into Parquet
        (predictions, probabilities, prediction ids), on local processes or Dask; resumable
        by partition.

        DEST is a folder of Parquet parts with the model version on every row. Row groups
        are streamed; partitions already written are skipped when the command runs again."""
        from ..automation.scoring import score

        with open_yard(ctx) as yard, count_progress(f"scoring with {model}", None) as advance:
            result = score(yard, model, source, dest, executor=executor, keep=split_names(keep),
                           proba=proba, log_endpoint=log_endpoint,
                           partition_rows=partition_rows, overwrite=overwrite, progress=advance)
        if as_json:
            print_json(result.__dict__)
            return
        typer.echo(f"scored {result.rows:,} rows with {result.model} into {result.dest}: "
                   f"{result.written} partition(s) written, {result.skipped} already there "
                   f"({result.seconds:.1f} s on {result.executor})"
                   + (f"; {result.logged:,} predictions logged" if result.logged else ""))
