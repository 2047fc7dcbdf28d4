"""``modelyard models list|show|versions``, ``models alias set|delete``,
``models journal add|show``, and four-eyes promotion (``cli/promotions.py``)."""

from __future__ import annotations

from typing import Any

import typer

from ._context import command_group, open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table, short
from .promotions import register_promotions
from .validate import print_report_rows

__all__ = ["register"]


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}→{v}" for a, v in sorted(aliases.items()))


def _version_rows(versions: list[Any]) -> list[list[Any]]:
    return [
        [
            v.version,
            v.flavor,
            ", ".join(v.aliases),
            short(v.run_id, 14),
            format_time(v.created_at),
            v.digest[:12],
            short(v.description, 40),
        ]
        for v in versions
    ]


_VERSION_COLUMNS = ["version", "flavor", "aliases", "run", "created", "digest", "description"]


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to ``app``."""
    group = command_group(
        app, "models", "The model registry: models, versions, aliases and the journal."
    )

    @group.command("list")
    def list_models(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """List registered models with their latest version and aliases."""
        with open_yard(ctx) as yard:
            models = yard.models.list()
        if json:
            print_json(models)
            return
        print_table(
            ["model", "latest", "aliases", "updated", "description"],
            (
                [
                    m.name,
                    m.latest_version,
                    _aliases(m.aliases),
                    format_time(m.updated_at),
                    short(m.description, 50),
                ]
                for m in models
            ),
            empty="no models",
        )

    @group.command("show")
    def show(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show a model: description, tags, aliases, versions, validation reports and its
        journal."""
        with open_yard(ctx) as yard:
            model = yard.models.get_model(name)
            versions = yard.models.versions(name)
            journal = yard.models.journal_entries(name)
            reports = yard.validation.reports(name, limit=20)
            protected = [p.alias for p in yard.validation.protected(name)]
        if json:
            print_json({**model.model_dump(mode="json"), "versions": versions, "journal": journal,
                        "validation_reports": reports, "protected_aliases": protected})
            return
        print_table(
            ["field", "value"],
            [
                ["name", model.name],
                ["description", model.description],
                ["tags", ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items()))],
                ["aliases", _aliases(model.aliases)],
                ["protected aliases", ", ".join(protected)],
                ["latest version", model.latest_version],
                ["created", format_time(model.created_at)],
                ["updated", format_time(model.updated_at)],
            ],
            title=f"model {model.name}",
        )
        print_table(
            _VERSION_COLUMNS, _version_rows(versions), title="versions", empty="no versions"
        )
        if reports:
            print_report_rows(reports, title="validation reports")
        if journal:
            _print_journal(journal)

    @group.command("versions")
    def versions(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        json: bool = JSON_OPTION,
    ) -> None:
        """List the versions of a model."""
        with open_yard(ctx) as yard:
            found = yard.models.versions(name)
        if json:
            print_json(found)
            return
        print_table(
            _VERSION_COLUMNS, _version_rows(found), title=f"versions of {name}", empty="no versions"
        )

    alias = command_group(
        group, "alias", "Movable names (production, champion) pointing at a version."
    )
    register_promotions(group, open_yard)  # promote, approve, refuse, requests (four eyes)

    @alias.command("set")
    def alias_set(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        alias_name: str = typer.Argument(..., metavar="ALIAS", help="e.g. production."),
        version: int = typer.Argument(..., help="The version it points at from now on."),
        reason: str | None = typer.Option(
            None, "--reason", "-r", help="Why (kept in the history)."
        ),
        override: bool = typer.Option(
            False, "--override", help="Move a protected alias without a passing validation "
            "report (needs --reason; recorded)."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Point ALIAS of a model at VERSION (atomically; the move is kept in its history)."""
        with open_yard(ctx) as yard:
            moved = yard.models.set_alias(name, alias_name, version, reason=reason,
                                          override=override)
        if json:
            print_json(moved)
            return
        typer.echo(f"{name}@{moved.alias} -> {name}/{moved.version}")

    @alias.command("delete")
    def alias_delete(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias to remove."),
        reason: str | None = typer.Option(
            None, "--reason", "-r", help="Why (kept in the history)."
        ),
        override: bool = typer.Option(
            False, "--override", help="Delete a protected alias (needs --reason; recorded)."),
    ) -> None:
        """Remove ALIAS from a model (the deletion is kept in its history)."""
        with open_yard(ctx) as yard:
            event = yard.models.delete_alias(name, alias_name, reason=reason, override=override)
        typer.echo(f"{name}@{alias_name} removed (was {name}/{event.old_version})")

    journal = command_group(
        group, "journal", "Free-text entries on a model or version, kept forever."
    )

    @journal.command("add")
    def journal_add(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        text: str = typer.Argument(..., help="What to remember: why this model, what was tried."),
        version: int | None = typer.Option(None, "--version", "-v", help="About this version."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Append an entry to the journal of a model (or of one of its versions)."""
        with open_yard(ctx) as yard:
            entry = yard.models.journal(name, text, version=version)
        if json:
            print_json(entry)
            return
        where = f"{name}/{version}" if version is not None else name
        typer.echo(f"journal entry {entry.id} added to {where}")

    @journal.command("show")
    def journal_show(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        version: int | None = typer.Option(None, "--version", "-v", help="Only this version's."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Show the journal of a model (or of one version), oldest first."""
        with open_yard(ctx) as yard:
            entries = yard.models.journal_entries(name, version=version)
        if json:
            print_json(entries)
            return
        _print_journal(entries)


def _print_journal(entries: list[Any]) -> None:
    print_table(
        ["when", "version", "author", "text"],
        (
            [
                format_time(e.created_at),
                e.version if e.version is not None else "",
                e.author,
                e.text,
            ]
            for e in entries
        ),
        title="journal",
        empty="no journal entries",
    )
