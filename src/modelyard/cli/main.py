"""``modelyard`` — one Typer app; each module under ``cli/`` adds its commands in ``register``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import core, datasets, demo, lineage, models, monitor, runs, serve, tokens
from ._context import ModelyardGroup, build_state

app = typer.Typer(
    name="modelyard",
    help="Track, version, register, serve and monitor machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ModelyardGroup,
)



@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        "--home", help="The yard's folder (SQLite + artifacts). Env: MODELYARD_HOME; "
        "default ./.modelyard.")] = None,
    db: str | None = typer.Option(
        None, "--db", help="A database URL, e.g. postgresql+psycopg://user@host/db. "
        "Env: MODELYARD_DATABASE_URL."),
    artifacts: str | None = typer.Option(
        None, "--artifacts", help="Artifact store: a folder or fsspec URL (s3://bucket/yard). "
        "Env: MODELYARD_ARTIFACTS_URL."),
    remote: str | None = typer.Option(
        None, "--remote", help="A modelyard server, e.g. http://127.0.0.1:8080."),
    token: str | None = typer.Option(
        None, "--token", help="Bearer token for --remote. Env: MODELYARD_TOKEN."),
) -> None:
    """Track, version, register, serve and monitor machine-learning models."""
    ctx.obj = build_state(home, db, artifacts, remote, token)


for module in (core, runs, models, datasets, lineage, serve, monitor, tokens, demo):
    module.register(app)


def main() -> None:
    """Console entry point: errors become one line on stderr and a non-zero exit
    (see ``_context.ModelyardGroup``)."""
    app()
