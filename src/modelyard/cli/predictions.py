"""``modelyard predictions compact|get|query|doctor``: the prediction log from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._context import open_yard
from ._render import format_time, print_json, print_table, short

predictions_app = typer.Typer(help="The prediction log.", no_args_is_help=True)

Home = Annotated[Path | None, typer.Option(help="The yard's home.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]


def _yard(home: Path | None) -> Any:
    """The yard the global options (``--home/--db/--remote``) point at; ``--home`` here wins."""
    return open_yard(None, home=home)


@predictions_app.command("compact")
def compact_cmd(
    retention: Annotated[list[str] | None, typer.Option(
        "--retention", help="ENDPOINT=DAYS: then drop that endpoint's partitions older than "
        "DAYS days (and their feedback labels; audited). Repeat for more.")] = None,
    home: Home = None,
) -> None:
    """Turn sealed (and orphaned) log segments into Parquet partitions."""
    days: dict[str, int] = {}
    for item in retention or []:
        name, _, n = item.partition("=")
        if not name or not n.isdigit() or int(n) < 1:
            raise typer.BadParameter(f"--retention must be ENDPOINT=DAYS (days at least 1); "
                                     f"got {item!r}")
        days[name] = int(n)
    with _yard(home) as yard:
        result = yard.predictions.compact(retention_days=days or None)
    typer.echo(f"compacted {result.segments} segments, {result.records} predictions")
    for drop in result.retention.endpoints if result.retention is not None else []:
        typer.echo(f"retention: dropped {drop.records} predictions of {drop.endpoint} "
                   f"({len(drop.dates)} dates before {drop.before}) and {drop.labels} "
                   "feedback labels")
    if result.quarantined:
        typer.echo(f"{len(result.quarantined)} segment(s) could not be read whole and were "
                   "quarantined: see `modelyard predictions doctor`", err=True)


@predictions_app.command("get")
def get_cmd(prediction_id: str, home: Home = None) -> None:
    """Print one logged prediction as JSON."""
    with _yard(home) as yard:
        rec = yard.predictions.get(prediction_id)
    typer.echo(rec.model_dump_json(indent=2))


def _features(row: dict[str, Any], prefix: str) -> str:
    return ", ".join(f"{k[len(prefix):]}={v}" for k, v in row.items()
                     if k.startswith(prefix) and v is not None)


@predictions_app.command("query")
def query_cmd(
    endpoint: str,
    start: Annotated[str, typer.Option(help="ISO time or date.")],
    end: Annotated[str, typer.Option(help="ISO time or date.")],
    model_version: Annotated[int | None, typer.Option(help="Only this model version.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, oldest first.")] = 100,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write Parquet (or CSV, by the suffix) here instead.")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Print (or write) the predictions of an endpoint in a time window: a table (id, time,
    model, route, prediction, inputs), or each record as JSON with --json."""
    with _yard(home) as yard:
        yard.predictions.require_endpoint(endpoint)
        df = yard.predictions.query(endpoint, start, end, model_version=model_version,
                                    limit=limit)
    if output is not None:
        if output.suffix == ".csv":
            df.write_csv(output)
        else:
            df.write_parquet(output)
        typer.echo(f"wrote {df.height} predictions to {output}")
        return
    rows = list(df.iter_rows(named=True))
    if as_json:
        from ..predictions.records import from_flat

        print_json([from_flat(r) for r in rows])
        return
    print_table(
        ["id", "time (UTC)", "model", "route", "prediction", "inputs"],
        ([r["id"], format_time(r["time"]), f"{r['model_name']}/{r['model_version']}",
          r["route"] + (" (shadow)" if r.get("shadow") else ""),
          short(r.get("output.prediction"), 24), short(_features(r, "input."), 60)]
         for r in rows),
        empty=f"no predictions of {endpoint!r} between {start} and {end}")


@predictions_app.command("doctor")
def doctor_cmd(as_json: AsJson = False, home: Home = None) -> None:
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
