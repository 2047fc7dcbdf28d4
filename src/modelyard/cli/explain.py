"""``modelyard explain ID``: why a logged prediction came out as it did (a text waterfall)."""

from __future__ import annotations

import typer

from ._context import open_yard
from ._render import JSON_OPTION, console, print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``explain`` to ``app``."""

    @app.command("explain")
    def explain(
        ctx: typer.Context,
        prediction_id: str = typer.Argument(..., help="The id the model server answered with."),
        top: int = typer.Option(12, "--top", min=1, help="Features shown; the rest are summed."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Reproduce the prediction with the exact model version (exit 1 with the difference
        when it does not), then attribute it: exact TreeSHAP for tree models, permutation SHAP
        against a training sample otherwise."""
        from rich.text import Text

        with open_yard(ctx) as yard, console(stderr=True).status(f"Explaining {prediction_id}…"):
            result = yard.explain(prediction_id)
        if as_json:
            print_json(result)
            return
        out = console()
        out.print(Text(result.to_text(n=top)))
        background = ""
        if result.background is not None:
            b = result.background
            where = b.dataset if b.source == "dataset" else "the input example"
            background = (f"; background {b.n_rows} rows of {where} (seed {b.seed}, rows sha256 "
                          f"{b.rows_digest[:12]}), {result.permutations} permutations")
        out.print(Text(
            f"reproduced: max |logged - recomputed| = {result.reproduction.max_abs_diff:.3g}; "
            f"additivity error {result.additivity_error:.3g}{background}"
            f"{'; from cache' if result.cached else ''}", style="dim"))
