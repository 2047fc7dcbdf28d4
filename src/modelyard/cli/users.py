"""``modelyard users add|list|show|disable|enable|grant|revoke-role``: who may use the servers,
and with which roles (viewer, editor, approver, admin; optionally on a name pattern)."""

from __future__ import annotations

from typing import Any

import typer

from ._context import command_group, open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table

__all__ = ["register"]

_ON = typer.Option("*", "--on", help="Only on the model/dataset names matching this pattern, "
                                     "e.g. 'loans*' (default: all).")


_ROLES = typer.Option([], "--role", help="A role to hold: viewer, editor, approver or admin, or "
                                        "ROLE:PATTERN such as editor:loans*. Repeat for several.")


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group to ``app``."""
    group = command_group(app, "users", "Users and their roles: viewer, editor, approver, admin.")

    def show_user(user: Any, json: bool) -> None:
        if json:
            print_json(user)
            return
        state = "disabled" if user.disabled else "enabled"
        shown = f" ({user.display_name})" if user.display_name else ""
        typer.echo(f"{user.name}{shown}: {state}, roles: {user.roles}")

    @group.command("add")
    def add(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The user's name, e.g. alice."),
        role: list[str] = _ROLES,
        display_name: str | None = typer.Option(None, "--display-name", help="Shown in lists."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Add a user (then give them a token: modelyard tokens create --user NAME)."""
        with open_yard(ctx) as yard:
            user = yard.backend.users.add(name, display_name, list(role))
        show_user(user, json)

    @group.command("list")
    def list_users(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """List users with their roles."""
        with open_yard(ctx) as yard:
            users = yard.backend.users.list()
        if json:
            print_json(users)
            return
        print_table(["name", "display name", "roles", "state", "created"],
                    ([u.name, u.display_name or "", u.roles,
                      "disabled" if u.disabled else "enabled", format_time(u.created_at)]
                     for u in users), empty="no users")

    @group.command("show")
    def show(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
             json: bool = JSON_OPTION) -> None:
        """Show one user, their roles and their tokens."""
        with open_yard(ctx) as yard:
            user = yard.backend.users.get(name)
            tokens = yard.backend.auth.list(user=name)
        if json:
            print_json({"user": user, "tokens": tokens})
            return
        show_user(user, False)
        for t in tokens:
            typer.echo(f"  token {t.name}: created {format_time(t.created_at)}, expires "
                       f"{format_time(t.expires_at) or 'never'}, last used "
                       f"{format_time(t.last_used_at) or 'never'}")

    @group.command("disable")
    def disable(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name.")) \
            -> None:
        """Disable a user: all their tokens fail from the next request on."""
        with open_yard(ctx) as yard:
            yard.backend.users.disable(name)
        typer.echo(f"user {name!r} disabled")

    @group.command("enable")
    def enable(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name.")) \
            -> None:
        """Enable a disabled user again."""
        with open_yard(ctx) as yard:
            yard.backend.users.enable(name)
        typer.echo(f"user {name!r} enabled")

    @group.command("grant")
    def grant(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
              role: str = typer.Argument(..., help="viewer, editor, approver or admin."),
              on: str = _ON, json: bool = JSON_OPTION) -> None:
        """Grant a role (optionally only on names matching --on)."""
        with open_yard(ctx) as yard:
            user = yard.backend.users.grant(name, role, on)
        show_user(user, json)

    @group.command("revoke-role")
    def revoke_role(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name."),
                    role: str = typer.Argument(..., help="The role to take back."),
                    on: str = _ON, json: bool = JSON_OPTION) -> None:
        """Take back a role (on the pattern it was granted on); applies from the next request."""
        with open_yard(ctx) as yard:
            user = yard.backend.users.revoke_role(name, role, on)
        show_user(user, json)
