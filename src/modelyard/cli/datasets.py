"""``modelyard datasets …``: add, append, list, show, describe, profile, as-of."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._context import command_group, open_yard
from ._render import console as _console
from ._render import print_json, print_table, transfer_progress

__all__ = ["register"]

_INGESTED_AT = ("Backfill: when the rows became known (ISO-8601), if before now; "
                "as-of reads go by it. Not before the latest version.")


def _schema_table(dv: Any, dictionary: list[Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    entries = {c.column: c for c in dictionary}
    table = Table(title=f"{dv.ref} — {dv.n_rows:,} rows, {len(dv.fragments)} fragment(s)")
    for header in ("column", "type", "description", "unit", "owner", "sensitivity"):
        table.add_column(header, no_wrap=header == "column")
    for column in dv.schema:
        entry = entries.get(column.name)
        name = column.name + (" (time)" if column.name == dv.time_column else "")
        cells = [name, column.type, *(getattr(entry, f, None) or "" for f in
                                      ("description", "unit", "owner", "sensitivity"))]
        table.add_row(*(escape(str(c)) for c in cells))  # "timestamp[us, tz=UTC]" is not markup
    return table


def _version_line(dv: Any) -> str:
    return (f"{dv.ref}  digest {dv.digest[:12]}  {dv.n_rows:,} rows  {dv.n_bytes / 1e6:,.1f} MB  "
            f"added {dv.created_at.isoformat()} by {dv.created_by or '-'}")


def register(app: typer.Typer) -> None:
    """Add the ``datasets`` command group to ``app``."""
    group = command_group(app, "datasets",
                          "Versioned datasets with event time, time travel and profiles.")

    @group.command("add")
    def add(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Dataset name."),
        source: str = typer.Argument(..., help="Parquet file or folder, CSV file, or fsspec URL."),
        time_column: str | None = typer.Option(None, help="The event-time column."),
        key_column: list[str] = typer.Option([], help="A column that identifies rows (repeat)."),
        description: str | None = typer.Option(None, help="What the dataset holds."),
        parent: list[str] = typer.Option([], help="A dataset version it was made from (repeat)."),
        transform: str | None = typer.Option(None, help="How it was made from its parents."),
        code_commit: str | None = typer.Option(None, help="The commit of the code that made it."),
        ingested_at: str | None = typer.Option(None, help=_INGESTED_AT),
        as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
    ) -> None:
        """Add a version of a dataset (same content as the latest: the same version)."""
        with open_yard(ctx) as yard:
            dv = yard.datasets.add(
                name, source, time_column=time_column, key_columns=key_column or None,
                description=description, parents=parent or None, transform=transform,
                code_commit=code_commit, ingested_at=ingested_at, progress=transfer_progress,
            )
        print_json(dv) if as_json else typer.echo(_version_line(dv))

    @group.command("append")
    def append(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Dataset name."),
        source: str = typer.Argument(..., help="Parquet file or folder, CSV file, or fsspec URL."),
        ingested_at: str | None = typer.Option(None, help=_INGESTED_AT),
        as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
    ) -> None:
        """Append rows: a new version that shares the old fragments."""
        with open_yard(ctx) as yard:
            dv = yard.datasets.append(name, source, ingested_at=ingested_at,
                                      progress=transfer_progress)
        print_json(dv) if as_json else typer.echo(_version_line(dv))

    @group.command("list")
    def list_(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Every dataset with its latest version."""
        with open_yard(ctx) as yard:
            infos = yard.datasets.list()
        if as_json:
            print_json(infos)
            return
        print_table(
            ["name", "latest", "rows", "time column", "updated"],
            ([i.name, i.latest_version, f"{i.n_rows or 0:,}", i.time_column,
              i.updated_at.isoformat()] for i in infos),
            title="datasets", empty="no datasets",
        )

    @group.command("show")
    def show(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="'name' (latest) or 'name/3'."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """A version: schema with the data dictionary, fragments, provenance, history."""
        with open_yard(ctx) as yard:
            dv = yard.datasets.get(ref)
            dictionary = yard.datasets.dictionary(dv.name)
            versions = yard.datasets.versions(dv.name)
        if as_json:
            print_json({"version": dv, "dictionary": dictionary})
            return
        console = _console()
        console.print(_version_line(dv))
        if dv.parents or dv.transform or dv.code_commit:
            console.print(f"parents: {', '.join(dv.parents) or '-'}  transform: "
                          f"{dv.transform or '-'}  code commit: {dv.code_commit or '-'}")
        console.print(f"source: {dv.source_uri or '-'}")
        console.print(_schema_table(dv, dictionary))
        print_table(
            ["version", "rows", "fragments", "added", "digest"],
            ([v.version, f"{v.n_rows:,}", len(v.fragments), v.created_at.isoformat(),
              v.digest[:12]] for v in versions),
            title="versions",
        )

    @group.command("describe")
    def describe(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Dataset name."),
        column: str = typer.Argument(..., help="Column name."),
        description: str | None = typer.Option(None, help="What the column means."),
        unit: str | None = typer.Option(None, help="Its unit (EUR, days …)."),
        owner: str | None = typer.Option(None, help="Who answers for it."),
        sensitivity: str | None = typer.Option(
            None, help="public, internal, confidential, personal …"),
        valid_min: str | None = typer.Option(
            None, help="Lowest valid value (validation's data checks hold training data to it)."),
        valid_max: str | None = typer.Option(None, help="Highest valid value."),
        max_null_rate: str | None = typer.Option(None, help="Largest share of nulls (0..1)."),
    ) -> None:
        """Write the data-dictionary entry of a column (kept across versions; '' clears)."""
        with open_yard(ctx) as yard:
            info = yard.datasets.describe(name, column, description=description, unit=unit,
                                          owner=owner, sensitivity=sensitivity,
                                          valid_min=valid_min, valid_max=valid_max,
                                          max_null_rate=max_null_rate)
        expect = ""
        if info.valid_min is not None or info.valid_max is not None:
            expect += (f", valid {'-inf' if info.valid_min is None else info.valid_min}.."
                       f"{'inf' if info.valid_max is None else info.valid_max}")
        if info.max_null_rate is not None:
            expect += f", at most {info.max_null_rate:.2%} null"
        typer.echo(f"{name}.{column}: {info.description or '-'} [{info.unit or '-'}] owner "
                   f"{info.owner or '-'}, sensitivity {info.sensitivity or '-'}{expect}")

    @group.command("profile")
    def profile(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="'name' (latest) or 'name/3'."),
        as_json: bool = typer.Option(False, "--json", help="Print the whole profile as JSON."),
    ) -> None:
        """The profile stored with a version (the drift reference)."""
        from rich.table import Table

        with open_yard(ctx) as yard:
            dv = yard.datasets.get(ref)
            prof = dv.profile
        if as_json:
            print_json(prof)
            return
        table = Table(title=f"profile of {dv.ref} ({prof.n_rows:,} rows)")
        for header in ("column", "kind", "count", "nulls", "min", "p50", "max", "mean", "std",
                       "top"):
            table.add_column(header, no_wrap=header == "column")
        for col in prof.columns.values():
            p50 = f"{col.quantile(0.5):.4g}" if col.quantiles else ""
            top = ", ".join(f"{c.value} ({c.count})" for c in col.top[:3])
            table.add_row(col.name, col.kind, f"{col.count:,}", f"{col.nulls:,}",
                          _short(col.min), p50, _short(col.max), _short(col.mean),
                          _short(col.std), top)
        _console().print(table)

    @group.command("as-of")
    def as_of(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Dataset name."),
        when: str = typer.Argument(..., help="A date or time (ISO-8601)."),
        start: str | None = typer.Option(None, help="Event-time window start (inclusive)."),
        end: str | None = typer.Option(None, help="Event-time window end (exclusive)."),
        head: int = typer.Option(5, help="Rows to print."),
        output: Path | None = typer.Option(None, help="Write the rows to .parquet or .csv."),
    ) -> None:
        """The rows of a dataset as they were known at a time (optionally in a window)."""
        with open_yard(ctx) as yard:
            view = yard.datasets.as_of(name, when)
            if start is not None or end is not None:
                if start is None or end is None:
                    raise typer.BadParameter("give both --start and --end for a window")
                view = view.window(start, end)
            table = view.to_arrow()
        typer.echo(f"{view!r}: {table.num_rows:,} rows")
        if output is not None:
            if output.suffix == ".csv":
                import pyarrow.csv as pacsv

                pacsv.write_csv(table, output)
            else:
                import pyarrow.parquet as pq

                pq.write_table(table, output)
            typer.echo(f"wrote {output}")
        if head:
            typer.echo(table.slice(0, head).to_pandas().to_string(index=False))


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
