"""``modelyard card REF`` (a model card from stored facts) and ``modelyard card-edit NAME``
(its editable fields)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from ..errors import InvalidParameter
from ._context import open_yard

__all__ = ["register"]

FORMATS = ("html", "md", "hf")


def _format(fmt: str | None, output: Path | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidParameter(f"--format must be one of {', '.join(FORMATS)}. Got {fmt!r} "
                                   "instead.", field="format")
        return fmt
    if output is not None and output.suffix.lower() in (".html", ".htm"):
        return "html"
    return "md"


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed into place)."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def register(app: typer.Typer) -> None:
    """Add ``card`` and ``card-edit`` to ``app``."""

    @app.command("card")
    def card(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="A model version: 'loans/3', 'loans@production'."),
        output_path: str | None = typer.Option(None, "-o", "--output",
                                               help="Write here instead of printing."),
        fmt: str | None = typer.Option(
            None, "--format", help=("html, md, or hf (a Hugging Face README.md with YAML front "
                                    "matter). Default: from the output's extension, else md.")),
    ) -> None:
        """A model card from stored facts: purpose and owner, training data, metrics overall
        and by slice, validation, global explanation, lineage, serving, drift and performance
        history, journal, alias history."""
        output = Path(output_path) if output_path is not None else None
        chosen = _format(fmt, output)
        if output is not None and not output.parent.is_dir():
            raise InvalidParameter(f"--output must be in an existing folder. Got "
                                   f"{str(output)!r} instead.", field="output")
        with open_yard(ctx) as yard:
            result = yard.card(ref)
        text = {"html": result.to_html, "md": result.to_markdown,
                "hf": result.to_huggingface}[chosen]()
        if output is None:
            typer.echo(text, nl=False)
            return
        _write(output, text)
        typer.echo(f"wrote {output} ({chosen}, model {result.ref})")

    @app.command("card-edit")
    def card_edit(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The registered model."),
        purpose: str | None = typer.Option(None, help="What the model is for."),
        owner: str | None = typer.Option(None, help="Who answers for it."),
        intended_use: str | None = typer.Option(None, help="Where it may be used."),
        limitations: str | None = typer.Option(None, help="Where it must not be trusted."),
        license: str | None = typer.Option(None, help="Its license (an SPDX id)."),
    ) -> None:
        """Set the editable fields of a model's card (kept as tags 'card.<field>')."""
        from ..governance.card import card_tag

        values = {"purpose": purpose, "owner": owner, "intended_use": intended_use,
                  "limitations": limitations, "license": license}
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            raise InvalidParameter("card-edit needs at least one of --purpose, --owner, "
                                   "--intended-use, --limitations, --license. Got none.",
                                   field="fields")
        with open_yard(ctx) as yard:
            for field, value in given.items():
                yard.models.set_tag(name, card_tag(field), value)
        typer.echo(f"{name}: set {', '.join(sorted(given))}")
