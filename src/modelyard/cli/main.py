"""``modelyard`` — one Typer app; each module under ``cli/`` adds its commands in ``register``."""

from __future__ import annotations

import sys

import typer

from . import core, datasets, demo, lineage, models, monitor, runs, serve, tokens

app = typer.Typer(
    name="modelyard",
    help="Track, version, register, serve and monitor machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Track, version, register, serve and monitor machine-learning models."""


for module in (core, runs, models, datasets, lineage, serve, monitor, tokens, demo):
    module.register(app)


def main() -> None:
    """Console entry point: errors become one line on stderr and a non-zero exit."""
    from ..errors import ModelyardError

    try:
        app()
    except ModelyardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
