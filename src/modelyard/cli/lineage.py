"""``modelyard lineage REF`` and ``modelyard retrain MODEL@VERSION --as-of DATE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .datasets import connect_yard

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
    home_option = typer.Option(None, "--home", help="The yard's home folder.")

    @app.command("lineage")
    def lineage(
        ref: str = typer.Argument(
            ..., help="A model version ('loans/3', 'loans@production') or 'dataset:loans/2'."),
        as_json: bool = typer.Option(False, "--json", help="Print nodes and edges as JSON."),
        home: Path | None = home_option,
    ) -> None:
        """Data versions -> run -> model version -> aliases, or a dataset version's models."""
        with connect_yard(home) as yard:
            graph = yard.lineage(ref)
        if as_json:
            typer.echo(json.dumps(graph.to_dict(), indent=2))
            return
        from rich.console import Console

        Console().print(_tree(graph))

    @app.command("retrain")
    def retrain(
        ref: str = typer.Argument(..., help="The model version to re-run: 'loans/3', 'loans@prod'."),
        as_of: str = typer.Option(..., "--as-of", help="Use the data as known at this date."),
        experiment: str | None = typer.Option(None, help="Experiment of the new run."),
        home: Path | None = home_option,
    ) -> None:
        """Re-run the training recorded for a model version on its data as known at a date,
        and register the result (linked to the original)."""
        from rich.console import Console

        from ..automation.retrain import retrain as do_retrain

        with connect_yard(home) as yard, Console().status(f"Retraining {ref} as of {as_of}…"):
            mv = do_retrain(yard, ref, as_of=as_of, experiment=experiment)
        typer.echo(f"registered {mv.ref} (run {mv.run_id}, reproduces {mv.source_version})")
