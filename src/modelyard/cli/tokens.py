"""``modelyard tokens create|list|revoke``: bearer tokens of ``modelyard server --auth``.

Run them on the server's database (``--home``/``--db``) to make the first admin token, or
with ``--remote URL --token ADMIN_TOKEN`` against a running server.
"""

from __future__ import annotations

import typer

from ._context import command_group, open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``tokens`` command group to ``app``."""
    group = command_group(app, "tokens", "API tokens of modelyard server (stored only as hashes).")

    @group.command("create")
    def create(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Who or what the token is for, e.g. ci."),
        role: str = typer.Option(
            "reader",
            "--role",
            help="reader (GET only), writer (all but tokens) or admin (everything).",
        ),
        json: bool = JSON_OPTION,
    ) -> None:
        """Create a token and print it: this is the only time it is shown."""
        with open_yard(ctx) as yard:
            token = yard.backend.auth.create(name, role)  # the store checks the role
        if json:
            print_json({"name": name, "role": role, "token": token})
            return
        typer.echo(token)
        typer.echo(
            f"token {name!r} ({role}) created. Keep it now: only its hash is stored. "
            f"Use it as 'Authorization: Bearer …' or --token.",
            err=True,
        )

    @group.command("list")
    def list_tokens(
        ctx: typer.Context,
        all_: bool = typer.Option(False, "--all", help="Include revoked tokens."),
        json: bool = JSON_OPTION,
    ) -> None:
        """List tokens (never their secrets)."""
        with open_yard(ctx) as yard:
            tokens = yard.backend.auth.list(include_revoked=all_)
        if json:
            print_json(tokens)
            return
        print_table(
            ["name", "role", "created", "revoked"],
            (
                [t.name, t.role, format_time(t.created_at), format_time(t.revoked_at)]
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
        typer.echo(f"token {info.name!r} revoked at {format_time(info.revoked_at)}")
