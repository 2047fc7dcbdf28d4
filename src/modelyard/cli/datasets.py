"""``modelyard datasets …``: add, append, list, show, describe, profile, as-of."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

__all__ = ["connect_yard", "register"]


def connect_yard(home: Path | None) -> Any:
    """The yard of ``--home`` (default: ``$MODELYARD_HOME`` or ``./.modelyard``)."""
    import modelyard as my
    from modelyard.config import Settings

    return my.connect(settings=Settings.load(home=home))


def _console() -> Any:
    from rich.console import Console

    return Console()


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _schema_table(dv: Any, dictionary: list[Any]) -> Any:
    from rich.table import Table

    entries = {c.column: c for c in dictionary}
    table = Table(title=f"{dv.ref} — {dv.n_rows:,} rows, {len(dv.fragments)} fragment(s)")
    for header in ("column", "type", "description", "unit", "owner", "sensitivity"):
        table.add_column(header, no_wrap=header == "column")
    for column in dv.schema:
        entry = entries.get(column.name)
        name = column.name + (" (time)" if column.name == dv.time_column else "")
        table.add_row(
            name, column.type, *(getattr(entry, f, None) or "" for f in
                                  ("description", "unit", "owner", "sensitivity"))
        )
    return table


def _version_line(dv: Any) -> str:
    return (f"{dv.ref}  digest {dv.digest[:12]}  {dv.n_rows:,} rows  {dv.n_bytes / 1e6:,.1f} MB  "
            f"added {dv.created_at.isoformat()} by {dv.created_by or '-'}")


def register(app: typer.Typer) -> None:
    """Add the ``datasets`` command group to ``app``."""
    group = typer.Typer(help="Versioned datasets with event time, time travel and profiles.",
                        no_args_is_help=True)
    app.add_typer(group, name="datasets")
    home_option = typer.Option(None, "--home", help="The yard's home folder.")

    @group.command("add")
    def add(
        name: str = typer.Argument(..., help="Dataset name."),
        source: str = typer.Argument(..., help="Parquet file or folder, CSV file, or fsspec URL."),
        time_column: str | None = typer.Option(None, help="The event-time column."),
        key_column: list[str] = typer.Option([], help="A column that identifies rows (repeat)."),
        description: str | None = typer.Option(None, help="What the dataset holds."),
        parent: list[str] = typer.Option([], help="A dataset version it was made from (repeat)."),
        transform: str | None = typer.Option(None, help="How it was made from its parents."),
        code_commit: str | None = typer.Option(None, help="The commit of the code that made it."),
        as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
        home: Path | None = home_option,
    ) -> None:
        """Add a version of a dataset (same content as the latest: the same version)."""
        with connect_yard(home) as yard, _console().status(f"Adding {source} to {name}…"):
            dv = yard.datasets.add(
                name, source, time_column=time_column, key_columns=key_column or None,
                description=description, parents=parent or None, transform=transform,
                code_commit=code_commit,
            )
        _echo_json(dv.model_dump(mode="json")) if as_json else typer.echo(_version_line(dv))

    @group.command("append")
    def append(
        name: str = typer.Argument(..., help="Dataset name."),
        source: str = typer.Argument(..., help="Parquet file or folder, CSV file, or fsspec URL."),
        as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
        home: Path | None = home_option,
    ) -> None:
        """Append rows: a new version that shares the old fragments."""
        with connect_yard(home) as yard, _console().status(f"Appending {source} to {name}…"):
            dv = yard.datasets.append(name, source)
        _echo_json(dv.model_dump(mode="json")) if as_json else typer.echo(_version_line(dv))

    @group.command("list")
    def list_(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        home: Path | None = home_option,
    ) -> None:
        """Every dataset with its latest version."""
        from rich.table import Table

        with connect_yard(home) as yard:
            infos = yard.datasets.list()
        if as_json:
            _echo_json([i.model_dump(mode="json") for i in infos])
            return
        table = Table(title="datasets")
        for header in ("name", "latest", "rows", "time column", "updated"):
            table.add_column(header)
        for i in infos:
            table.add_row(i.name, str(i.latest_version), f"{i.n_rows or 0:,}",
                          i.time_column or "", i.updated_at.isoformat())
        _console().print(table)

    @group.command("show")
    def show(
        ref: str = typer.Argument(..., help="'name' (latest) or 'name/3'."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        home: Path | None = home_option,
    ) -> None:
        """A version: schema with the data dictionary, fragments, provenance, history."""
        from rich.table import Table

        with connect_yard(home) as yard:
            dv = yard.datasets.get(ref)
            dictionary = yard.datasets.dictionary(dv.name)
            versions = yard.datasets.versions(dv.name)
        if as_json:
            _echo_json({"version": dv.model_dump(mode="json"),
                        "dictionary": [c.model_dump(mode="json") for c in dictionary]})
            return
        console = _console()
        console.print(_version_line(dv))
        if dv.parents or dv.transform or dv.code_commit:
            console.print(f"parents: {', '.join(dv.parents) or '-'}  transform: "
                          f"{dv.transform or '-'}  code commit: {dv.code_commit or '-'}")
        console.print(f"source: {dv.source_uri or '-'}")
        console.print(_schema_table(dv, dictionary))
        history = Table(title="versions")
        for header in ("version", "rows", "fragments", "added", "digest"):
            history.add_column(header)
        for v in versions:
            history.add_row(str(v.version), f"{v.n_rows:,}", str(len(v.fragments)),
                            v.created_at.isoformat(), v.digest[:12])
        console.print(history)

    @group.command("describe")
    def describe(
        name: str = typer.Argument(..., help="Dataset name."),
        column: str = typer.Argument(..., help="Column name."),
        description: str | None = typer.Option(None, help="What the column means."),
        unit: str | None = typer.Option(None, help="Its unit (EUR, days …)."),
        owner: str | None = typer.Option(None, help="Who answers for it."),
        sensitivity: str | None = typer.Option(
            None, help="public, internal, confidential, personal …"),
        home: Path | None = home_option,
    ) -> None:
        """Write the data-dictionary entry of a column (kept across versions; '' clears)."""
        with connect_yard(home) as yard:
            info = yard.datasets.describe(name, column, description=description, unit=unit,
                                          owner=owner, sensitivity=sensitivity)
        typer.echo(f"{name}.{column}: {info.description or '-'} [{info.unit or '-'}] owner "
                   f"{info.owner or '-'}, sensitivity {info.sensitivity or '-'}")

    @group.command("profile")
    def profile(
        ref: str = typer.Argument(..., help="'name' (latest) or 'name/3'."),
        as_json: bool = typer.Option(False, "--json", help="Print the whole profile as JSON."),
        home: Path | None = home_option,
    ) -> None:
        """The profile stored with a version (the drift reference)."""
        from rich.table import Table

        with connect_yard(home) as yard:
            dv = yard.datasets.get(ref)
            prof = dv.profile
        if as_json:
            _echo_json(prof.model_dump(mode="json"))
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
        name: str = typer.Argument(..., help="Dataset name."),
        when: str = typer.Argument(..., help="A date or time (ISO-8601)."),
        start: str | None = typer.Option(None, help="Event-time window start (inclusive)."),
        end: str | None = typer.Option(None, help="Event-time window end (exclusive)."),
        head: int = typer.Option(5, help="Rows to print."),
        output: Path | None = typer.Option(None, help="Write the rows to .parquet or .csv."),
        home: Path | None = home_option,
    ) -> None:
        """The rows of a dataset as they were known at a time (optionally in a window)."""
        with connect_yard(home) as yard:
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
