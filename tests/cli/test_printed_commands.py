"""Every command the CLI's help prints for a user to paste works as printed (issue 8 §5); the
demo's are checked in ``tests/test_demo_e2e.py``."""

from __future__ import annotations

from typing import Any

import typer
from printed_commands import failures, printed_commands

from modelyard.cli.main import app


def _help_texts(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    texts = [(" ".join(path), command.help or "")]
    texts += [(" ".join(path), getattr(p, "help", None) or "") for p in command.params]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            texts += _help_texts(command.get_command(None, name), (*path, name))
    return texts


def test_commands_printed_in_help_texts_work_as_printed() -> None:
    texts = _help_texts(typer.main.get_command(app))
    commands = sorted({c for _, text in texts for c in printed_commands(text)})
    assert "modelyard tokens create --user NAME --role admin" in commands  # the parser finds them
    assert failures(commands) == {}


def test_a_command_with_an_unknown_option_is_caught() -> None:
    text = "Browse it all: 'modelyard server --home .modelyard' then open the UI"
    assert printed_commands(text) == ["modelyard server --home .modelyard"]
    assert list(failures(["modelyard server --homme .modelyard"])) == [
        "modelyard server --homme .modelyard"]
    assert printed_commands("done.\n  modelyard --home /tmp/y server\nthen …") == [
        "modelyard --home /tmp/y server"]
