"""``modelyard lineage REF`` and ``modelyard retrain MODEL@VERSION --as-of DATE``."""

from __future__ import annotations

from typing import Any

import typer

from ._context import open_yard
from ._render import console, print_json

__all__ = ["register"]


def _tree(graph: Any) -> Any:
    """The lineage as a rich Tree (the same walk as ``Lineage.to_text``)."""
    from rich.markup import escape
    from rich.tree import Tree

    from ..governance.lineage import describe

    root = Tree(escape(describe(graph.node(graph.root))))
    seen = {graph.root}

    def walk(node_id: str, branch: Any) -> None:
        for edge, child in graph.children(node_id):
            sub = branch.add(escape(describe(child, edge)))
            if child.id not in seen:
                seen.add(child.id)
                walk(child.id, sub)

    walk(graph.root, root)
    return root


def register(app: typer.Typer) -> None:
    """Add ``lineage`` and ``retrain`` to ``app``."""
    @app.command("lineage")
    def lineage(
        ctx: typer.Context,
        ref: str = typer.Argument(
            ..., help="A model version ('loans/3', 'loans@production') or 'dataset:loans/2'."),
        as_json: bool = typer.Option(False, "--json", help="Print nodes and edges as JSON."),
    ) -> None:
        """Data versions -> run -> model version -> aliases, or a dataset version's models."""
        with open_yard(ctx) as yard:
            graph = yard.lineage(ref)
        if as_json:
            print_json(graph.to_dict())
            return
        console().print(_tree(graph))

    @app.command("retrain")
    def retrain(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="The model version to re-run: 'loans/3', 'loans@prod'."),
        as_of: str = typer.Option(..., "--as-of", help="Use the data as known at this date."),
        experiment: str | None = typer.Option(None, help="Experiment of the new run."),
    ) -> None:
        """Re-run the training recorded for a model version on its data as known at a date,
        and register the result (linked to the original)."""
        import sys
        from pathlib import Path

        from ..automation.retrain import retrain as do_retrain

        # the project folder's modules import as with `python -m` (a console script's
        # sys.path starts at its own bin/ folder, not at the current directory)
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        with open_yard(ctx) as yard, console(stderr=True).status(f"Retraining {ref} as of {as_of}…"):
            mv = do_retrain(yard, ref, as_of=as_of, experiment=experiment)
        typer.echo(f"registered {mv.ref} (run {mv.run_id}, reproduces {mv.source_version})")
