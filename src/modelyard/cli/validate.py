"""``modelyard validate REF``, ``modelyard suites set|show``, ``modelyard reports list|show``,
``modelyard protection add|remove|list|overrides``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._context import command_group, open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table, short

__all__ = ["print_checks", "print_report_rows", "register"]


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def print_checks(report: Any) -> None:
    """A report's checks as a table, then one line: its status, id and what it ran on."""
    print_table(
        ["check", "status", "value", "threshold", "ci", "rows", "message"],
        (
            [c.name, c.status, _fmt(c.value), c.threshold,
             "" if not c.ci else f"[{_fmt(c.ci[0])}, {_fmt(c.ci[-1])}]", c.n_rows,
             short(c.message, 90)]
            for c in report.checks
        ),
        title=f"validation of {report.model}/{report.version}"
        + (f" against {report.against}" if report.against else ""),
        empty="no checks",
    )
    holdout = report.data.get("holdout") or {}
    where = (f"holdout {holdout.get('dataset')}/{holdout.get('version')} "
             f"({holdout.get('rows')} rows, {str(holdout.get('digest'))[:12]})" if holdout
             else "no holdout")
    typer.echo(f"{report.status}: report {report.id}, suite v{report.suite_version}, {where}")


def register(app: typer.Typer) -> None:
    """Add ``validate``, ``suites``, ``reports`` and ``protection`` to ``app``."""

    @app.command("validate")
    def validate(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="The model version to validate: 'loans/8'."),
        against: str | None = typer.Option(
            None, "--against", help="The champion: an alias ('production') or a version "
            "('loans/7'); default: the suite's 'against'."),
        as_of: str | None = typer.Option(
            None, "--as-of", help="Run as of this time (the holdout's 'last' ends here)."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Run the model's validation suite on REF and store the report (exit 1 if it
        failed)."""
        with open_yard(ctx) as yard:
            report = yard.validation.run(ref, against=against, as_of=as_of)
        if json:
            print_json(report)
        else:
            print_checks(report)
        if report.status != "passed":
            names = ", ".join(c.name for c in report.failures)
            typer.echo(f"validation of {ref} failed: {names} (report {report.id})", err=True)
            raise typer.Exit(1)

    suites = command_group(app, "suites", "Validation suites: what a version must pass.")

    @suites.command("set")
    def suites_set(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="The registered model's name."),
        file: Annotated[Path | None, typer.Option(
            "--file", "-f", help="A YAML suite.")] = None,
        module: str | None = typer.Option(
            None, "--module", "-m", help="A Python module declaring the suite."),
        code_path: Annotated[Path | None, typer.Option(
            "--code-path", help="The folder to import the module (or the YAML suite's "
            "custom checks) from; default: the current folder.")] = None,
        json: bool = JSON_OPTION,
    ) -> None:
        """Declare (a new version of) the suite of MODEL, checked now."""
        folder = code_path if code_path is not None else Path.cwd()
        with open_yard(ctx) as yard:
            if module is not None and file is None:
                stored = yard.validation.set_suite(model, module=module, code_path=folder)
            else:
                stored = yard.validation.set_suite(model, path=file, code_path=folder)
        if json:
            print_json(stored)
            return
        typer.echo(f"suite of {model}: version {stored.version} ({stored.format}, "
                   f"{stored.digest[:12]})")

    @suites.command("show")
    def suites_show(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="The registered model's name."),
        version: int | None = typer.Option(None, "--version", "-v", help="This version."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Print the stored suite of MODEL (its text)."""
        with open_yard(ctx) as yard:
            stored = yard.validation.suite(model, version)
        if json:
            print_json(stored)
            return
        typer.echo(f"# suite of {model}, version {stored.version} ({stored.format}"
                   + (f", module {stored.module}" if stored.module else "") + ")")
        typer.echo(stored.source.rstrip())

    reports = command_group(app, "reports", "Validation reports (immutable).")

    @reports.command("list")
    def reports_list(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="The registered model's name."),
        version: int | None = typer.Option(None, "--version", "-v", help="Only this version's."),
        json: bool = JSON_OPTION,
    ) -> None:
        """The validation reports of MODEL, newest first."""
        with open_yard(ctx) as yard:
            found = yard.validation.reports(model, version)
        if json:
            print_json(found)
            return
        print_report_rows(found, title=f"validation reports of {model}")

    @reports.command("show")
    def reports_show(
        ctx: typer.Context,
        report_id: str = typer.Argument(..., help="The report's id."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Every check of one report."""
        with open_yard(ctx) as yard:
            report = yard.validation.report(report_id)
        if json:
            print_json(report)
            return
        print_checks(report)

    protection = command_group(
        app, "protection", "Protected aliases: they move only to a version that passed.")

    @protection.command("add")
    def protection_add(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="The registered model's name."),
        alias: str = typer.Argument(..., help="The alias, e.g. production."),
    ) -> None:
        """Protect MODEL@ALIAS."""
        with open_yard(ctx) as yard:
            yard.validation.protect(model, alias)
        typer.echo(f"{model}@{alias} is protected: it moves only to a version whose latest "
                   "validation report passed")

    @protection.command("remove")
    def protection_remove(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="The registered model's name."),
        alias: str = typer.Argument(..., help="The alias."),
        reason: str = typer.Option(..., "--reason", "-r", help="Why (recorded)."),
    ) -> None:
        """Lift the protection of MODEL@ALIAS (recorded as an override)."""
        with open_yard(ctx) as yard:
            yard.validation.unprotect(model, alias, reason=reason)
        typer.echo(f"{model}@{alias} is no longer protected")

    @protection.command("list")
    def protection_list(
        ctx: typer.Context,
        model: str | None = typer.Argument(None, help="Only this model's."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Protected aliases."""
        with open_yard(ctx) as yard:
            found = yard.validation.protected(model)
        if json:
            print_json(found)
            return
        print_table(["model", "alias", "since", "by"],
                    ([p.model, p.alias, format_time(p.created_at), p.created_by] for p in found),
                    empty="no protected aliases")

    @protection.command("overrides")
    def protection_overrides(
        ctx: typer.Context,
        model: str | None = typer.Argument(None, help="Only this model's."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Moves of protected aliases without a passing report, newest first."""
        with open_yard(ctx) as yard:
            found = yard.validation.overrides(model)
        if json:
            print_json(found)
            return
        print_table(["when", "model", "alias", "version", "report", "by", "reason"],
                    ([format_time(o.at), o.model, o.alias, o.version, o.report_id, o.moved_by,
                      o.reason] for o in found), empty="no overrides")


def print_report_rows(reports: list[Any], *, title: str) -> None:
    print_table(
        ["report", "version", "status", "against", "failed checks", "created"],
        ([r.id, r.version, r.status, r.against,
          short(", ".join(c.name for c in r.failures), 60), format_time(r.created_at)]
         for r in reports),
        title=title, empty="no validation reports",
    )
