"""``modelyard audit verify|log|export|checkpoint|public-key``: the tamper-evident audit log.

They run on the yard the global options point at (``--home``/``--db``, or ``--remote URL
--token …`` against a server, which then verifies and signs with its own key).
``modelyard audit verify --archive DIR`` checks an export offline, with no database.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ._context import open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table, short

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The tamper-evident audit log: verify it, read it, export it, sign its head.",
    no_args_is_help=True,
)

KEY_OPTION = typer.Option(
    None, "--key",
    help="A verifier key to trust ('name+keyid+base64', as 'audit public-key' prints it); "
         "repeat for several. The server's own key is always trusted.")


@audit_app.command("verify")
def verify_cmd(
    keys: list[str] | None = KEY_OPTION,
    archive: Annotated[Path | None, typer.Option(
        "--archive", help="Verify an export folder offline instead of the database.",
        exists=True, file_okay=False)] = None,
    json: bool = JSON_OPTION,
) -> None:
    """Recompute the chain and the signed checkpoints; name the first broken record. Exits 1
    when the log was tampered with."""
    if archive is not None:
        from ..governance.audit import verify_export

        result = verify_export(archive, keys or ())
    else:
        with open_yard(None) as yard:
            result = yard.backend.audit.verify(keys=keys or None)
    if json:
        print_json(result)
    else:
        typer.echo(result.summary())
        for problem in result.problems[1:]:
            typer.echo(f"  also: {problem}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("log")
def log_cmd(
    target: str | None = typer.Option(
        None, "--target", help="Only this target (e.g. alias:loans@production), or a prefix "
                               "ending in '*' (model:loans*)."),
    since: Annotated[datetime | None, typer.Option(
        "--since", help="Only records from this time.")] = None,
    action: str | None = typer.Option(None, "--action", help="Only this action (alias.set …)."),
    actor: str | None = typer.Option(None, "--actor", help="Only records by this principal."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many."),
    json: bool = JSON_OPTION,
) -> None:
    """The latest records (oldest of them first), filtered."""
    with open_yard(None) as yard:
        records = yard.backend.audit.records(target=target, action=action, actor=actor,
                                             since=since, limit=limit, newest_first=True)
    records.reverse()
    if json:
        print_json(records)
        return
    from rich.markup import escape

    print_table(
        ["seq", "at", "actor", "action", "target", "after"],
        ([r.seq, format_time(r.at), escape(r.actor), escape(r.action), escape(r.target),
          escape(short(r.after, 60))] for r in records),
        empty="no audit records",
    )


@audit_app.command("export")
def export_cmd(
    folder: Annotated[Path, typer.Argument(
        help="Where to write the export (created if missing).")],
    no_sign: bool = typer.Option(
        False, "--no-sign",
        help="Do not sign the current head first (signing needs the admin permission)."),
    json: bool = JSON_OPTION,
) -> None:
    """Write records.jsonl, checkpoints.jsonl, head.json and the public key, for an external
    archive; 'audit verify --archive FOLDER' checks it offline."""
    from ..governance.audit import export

    with open_yard(None) as yard:
        summary = export(yard.backend.audit, folder, sign=not no_sign)
    if json:
        print_json(summary)
        return
    typer.echo(f"exported {summary['records']} records and {summary['checkpoints']} "
               f"checkpoints to {folder}")
    typer.echo(f"verifier key: {summary['key']}")


@audit_app.command("checkpoint")
def checkpoint_cmd(json: bool = JSON_OPTION) -> None:
    """Sign the current head of the chain (the server's key on a remote yard)."""
    with open_yard(None) as yard:
        cp = yard.backend.audit.checkpoint()
    if json:
        print_json(cp)
        return
    if cp is None:
        typer.echo("the audit log is empty: nothing to sign")
        return
    typer.echo(f"checkpoint of {cp.size} records, head {cp.head_hash[:16]}, key {cp.key_id}")
    typer.echo(cp.note, nl=False)


@audit_app.command("public-key")
def public_key_cmd(
    pem: bool = typer.Option(False, "--pem", help="Print the PEM instead of the verifier key."),
) -> None:
    """The key checkpoints are signed with (give it to whoever verifies exports)."""
    with open_yard(None) as yard:
        key = yard.backend.audit.public_key()
    typer.echo(key.pem if pem else key.vkey, nl=not pem)

