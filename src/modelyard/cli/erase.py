"""``modelyard erase --request-key VALUE``: erase a data subject's predictions."""

from __future__ import annotations

import typer

from ._context import open_yard
from ._render import JSON_OPTION, print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``erase`` to ``app``."""

    @app.command("erase")
    def erase(
        ctx: typer.Context,
        request_key: str = typer.Option(
            ..., "--request-key", help="The request key the predictions were made for (the "
            "data subject's key, as sent to the model server)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Erase every logged prediction made for a request key, and its feedback labels,
        from the log's segments and Parquet; recorded in the audit log (who, when, how
        many; never the key)."""
        if not yes and not typer.confirm(
                "Erase every prediction logged for this request key? This cannot be undone."):
            raise typer.Exit(1)
        with open_yard(ctx) as yard:
            result = yard.predictions.erase(request_key=request_key)
        if as_json:
            print_json(result)
            return
        pending = f" ({result.pending} in a live segment: gone from the disk at its " \
                  "compaction)" if result.pending else ""
        typer.echo(f"erased {result.predictions} predictions{pending} and {result.labels} "
                   f"feedback labels from {len(result.endpoints)} endpoint(s) "
                   f"({result.files_rewritten} files rewritten, {result.files_deleted} "
                   f"deleted, {result.segments_rewritten} segments rewritten)")
