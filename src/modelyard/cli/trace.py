"""``modelyard trace ID``: one logged prediction and everything behind it."""

from __future__ import annotations

import typer

from ._context import open_yard
from ._render import JSON_OPTION, console, print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``trace`` to ``app``."""

    @app.command("trace")
    def trace(
        ctx: typer.Context,
        prediction_id: str = typer.Argument(..., help="The id the model server answered with."),
        explain: bool = typer.Option(True, "--explain/--no-explain",
                                     help="Compute (or read) the prediction's explanation."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Prediction -> model version (digest) -> run, code, environment -> training data;
        validation, alias moves, journal, audit records and the explanation of that very
        prediction, computed with that exact version."""
        from ..governance.trace_text import trace_renderable

        with open_yard(ctx) as yard, console(stderr=True).status(f"Tracing {prediction_id}…"):
            result = yard.trace(prediction_id, explain=explain)
        if as_json:
            print_json(result)
            return
        console().print(trace_renderable(result))
