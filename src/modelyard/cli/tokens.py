"""``modelyard tokens create|list|revoke``: bearer tokens of the users of ``modelyard server``.

Run them on the server's database (``--home``/``--db``) to make the first admin token
(``modelyard tokens create --user alice --role admin``), or with ``--remote URL --token
ADMIN_TOKEN`` against a running server.
"""

from __future__ import annotations

import typer

from ._context import command_group, open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``tokens`` command group to ``app``."""
    group = command_group(app, "tokens",
                          "API tokens of users (shown once, stored only as hashes).")

    @group.command("create")
    def create(
        ctx: typer.Context,
        user_arg: str | None = typer.Argument(None, metavar="[USER]",
                                              help="The user the token is for (or --user)."),
        user: str | None = typer.Option(None, "--user", help="The user the token is for."),
        role: str | None = typer.Option(
            None, "--role",
            help="Add the user with this role if they do not exist yet: viewer, editor, "
                 "approver or admin (reader/writer are read as viewer/editor).",
        ),
        expires: str | None = typer.Option(
            None, "--expires", help="When it stops working: 30d, 12h, 2w, or an ISO time."),
        name: str | None = typer.Option(
            None, "--name", help="The token's name (default: the user's); free among active "
                                 "tokens."),
        json: bool = JSON_OPTION,
    ) -> None:
        """Create a token and print it: this is the only time it is shown."""
        who = user or user_arg
        if not who or (user and user_arg and user != user_arg):
            raise typer.BadParameter("give the user once: modelyard tokens create --user NAME",
                                     param_hint="--user")
        with open_yard(ctx) as yard:
            token = yard.backend.auth.create(who, role, expires, name)  # the store checks all
            info = next(t for t in yard.backend.auth.list(user=who) if t.name == (name or who))
        if json:
            print_json({"name": info.name, "user": who, "expires_at": info.expires_at,
                        "token": token})
            return
        typer.echo(token)
        until = f", expires {format_time(info.expires_at)}" if info.expires_at else ""
        typer.echo(
            f"token {info.name!r} of user {who!r} created{until}. Keep it now: only its hash is "
            "stored. Use it as 'Authorization: Bearer …' or --token.",
            err=True,
        )

    @group.command("list")
    def list_tokens(
        ctx: typer.Context,
        user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
        all_: bool = typer.Option(False, "--all", help="Include revoked tokens."),
        json: bool = JSON_OPTION,
    ) -> None:
        """List tokens (never their secrets): user, expiry, last use."""
        with open_yard(ctx) as yard:
            tokens = yard.backend.auth.list(include_revoked=all_, user=user)
        if json:
            print_json(tokens)
            return
        print_table(
            ["name", "user", "created", "expires", "last used", "revoked"],
            (
                [t.name, t.user, format_time(t.created_at), format_time(t.expires_at),
                 format_time(t.last_used_at), format_time(t.revoked_at)]
                for t in tokens
            ),
            empty="no tokens",
        )

    @group.command("revoke")
    def revoke(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The token's name."),
    ) -> None:
        """Revoke a token: it stops working at once."""
        with open_yard(ctx) as yard:
            info = yard.backend.auth.revoke(name)
        typer.echo(f"token {info.name!r} of user {info.user!r} revoked at "
                   f"{format_time(info.revoked_at)}")
