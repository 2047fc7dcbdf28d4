"""Commands of this module are added by ``register``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command()
    def version() -> None:
        """Print the modelyard version."""
        from .. import __version__

        typer.echo(__version__)
