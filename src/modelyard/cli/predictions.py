"""``modelyard predictions compact|get|query|doctor``: the prediction log from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._context import open_yard
from ._render import JSON_OPTION, print_json

predictions_app = typer.Typer(help="The prediction log.", no_args_is_help=True)

HOME_OPTION = typer.Option(None, help="The yard's home.")


def _yard(home: Path | None) -> Any:
    """The yard the global options (``--home/--db/--remote``) point at; ``--home`` here wins."""
    return open_yard(None, home=home)


@predictions_app.command("compact")
def compact_cmd(home: Path | None = HOME_OPTION) -> None:
    """Turn sealed (and orphaned) log segments into Parquet partitions."""
    with _yard(home) as yard:
        result = yard.predictions.compact()
    typer.echo(f"compacted {result.segments} segments, {result.records} predictions")


@predictions_app.command("get")
def get_cmd(prediction_id: str, home: Path | None = HOME_OPTION) -> None:
    """Print one logged prediction as JSON."""
    with _yard(home) as yard:
        rec = yard.predictions.get(prediction_id)
    typer.echo(rec.model_dump_json(indent=2))


@predictions_app.command("query")
def query_cmd(
    endpoint: str,
    start: str = typer.Option(..., help="ISO time or date."),
    end: str = typer.Option(..., help="ISO time or date."),
    model_version: int | None = typer.Option(None),
    limit: int = typer.Option(100, min=1),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Write Parquet or CSV here instead."),
    home: Path | None = HOME_OPTION,
) -> None:
    """Print (or write) the predictions of an endpoint in a time window."""
    with _yard(home) as yard:
        df = yard.predictions.query(endpoint, start, end, model_version=model_version,
                                    limit=limit)
    if output is None:
        import polars as pl

        with pl.Config(tbl_rows=limit, tbl_cols=12):
            typer.echo(str(df))
    elif output.suffix == ".csv":
        df.write_csv(output)
    else:
        df.write_parquet(output)
    if output is not None:
        typer.echo(f"wrote {df.height} predictions to {output}")



@predictions_app.command("doctor")
def doctor_cmd(as_json: bool = JSON_OPTION, home: Path | None = HOME_OPTION) -> None:
    """List the log segments the compactor could not read completely (quarantined, never
    deleted) and what was recovered from each."""
    with _yard(home) as yard:
        entries = yard.backend.predictions.quarantined()
    if as_json:
        print_json(entries)
        return
    if not entries:
        typer.echo("no quarantined segments: every segment compacted so far was read whole")
        return
    typer.echo(f"{len(entries)} quarantined segment(s); their readable records are in the "
               "Parquet log:")
    for e in entries:
        where = ", ".join(f"{s.reason} at byte {s.offset} ({s.length} bytes)" for s in e.skipped)
        typer.echo(f"{e.path}\n  {e.size} bytes, {e.records_recovered} records recovered, "
                   f"{e.skipped_bytes} bytes skipped" + (f": {where}" if where else "")
                   + (f"; {e.error}" if e.error else "")
                   + f"; quarantined {e.quarantined_at:%Y-%m-%d %H:%M:%S} UTC")
