"""``modelyard models promote|approve|refuse|requests|require-approval``: four-eyes promotion
(``registry/promotions.py``). Added to the ``models`` group by ``cli/models.py``."""

from __future__ import annotations

from typing import Any

import typer

from ._render import JSON_OPTION, format_time, print_json, print_table, short

__all__ = ["register_promotions"]

_NOTE = typer.Option(None, "--note", "-n", help="Why (kept with the decision).")


def _show(req: Any) -> str:
    decided = f" by {req.decided_by}" if req.decided_by else ""
    return (f"request {req.id}: {req.model}@{req.alias} -> {req.model}/{req.version} "
            f"({req.state}{decided}; requested by {req.requested_by})")


def register_promotions(group: typer.Typer, open_yard: Any) -> None:
    """Add the promotion commands to the ``models`` group."""

    @group.command("promote")
    def promote(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        alias: str = typer.Argument(..., help="The alias to move, e.g. production."),
        version: int = typer.Argument(..., help="The version it should point at."),
        reason: str | None = typer.Option(None, "--reason", "-r", help="Why (recorded)."),
        override: bool = typer.Option(
            False, "--override", help="Ask to pass the validation gate without a passing "
                                      "report (needs --reason)."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Request that ALIAS of a model point at VERSION; a second person approves it."""
        with open_yard(ctx) as yard:
            req = yard.models.promote(name, alias, version, reason=reason, override=override)
        if json:
            print_json(req)
            return
        typer.echo(_show(req))
        typer.echo(f"an approver runs: modelyard models approve {req.id}", err=True)

    @group.command("approve")
    def approve(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., help="The promotion request's id."),
        note: str | None = _NOTE,
        json: bool = JSON_OPTION,
    ) -> None:
        """Approve someone else's promotion request: the alias moves now."""
        with open_yard(ctx) as yard:
            req = yard.models.approve(request_id, note=note)
        if json:
            print_json(req)
            return
        typer.echo(_show(req))

    @group.command("refuse")
    def refuse(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., help="The promotion request's id."),
        note: str = typer.Option(..., "--note", "-n", help="Why it is refused (recorded)."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Refuse a promotion request; the alias stays where it is."""
        with open_yard(ctx) as yard:
            req = yard.models.refuse(request_id, note)
        if json:
            print_json(req)
            return
        typer.echo(_show(req))

    @group.command("requests")
    def requests(
        ctx: typer.Context,
        name: str | None = typer.Argument(None, help="Only this model's requests."),
        state: str | None = typer.Option(None, "--state",
                                         help="pending, approved or refused."),
        json: bool = JSON_OPTION,
    ) -> None:
        """List promotion requests, newest first."""
        with open_yard(ctx) as yard:
            found = yard.models.promotion_requests(name, state=state)
        if json:
            print_json(found)
            return
        print_table(
            ["id", "alias", "version", "state", "requested by", "requested", "decided by",
             "report"],
            ([r.id, f"{r.model}@{r.alias}", r.version, r.state, r.requested_by,
              format_time(r.requested_at), r.decided_by or "",
              short(r.report_status or "none", 8)] for r in found),
            empty="no promotion requests")

    @group.command("require-approval")
    def require_approval(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The model's name."),
        alias: str = typer.Argument(..., help="The alias, e.g. production."),
    ) -> None:
        """Make ALIAS of a model move only through an approved promotion request."""
        with open_yard(ctx) as yard:
            yard.models.require_approval(name, alias)
        typer.echo(f"{name}@{alias} now moves only with a second person's approval")
