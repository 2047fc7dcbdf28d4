"""Commands the product prints for a user to paste, found in text and checked to parse.

A printed command is quoted (``'modelyard …'`` or a backquoted one) or stands alone on its line
(``  modelyard --home .modelyard server``). Each is run as printed plus ``--help``: an unknown
command or option fails there as it would for the user, without starting anything.
"""

from __future__ import annotations

import re
import shlex

from typer.testing import CliRunner

from modelyard.cli.main import app

_QUOTED = re.compile(r"[`']((?:\$ )?modelyard(?: [^`'\n]*)?)[`']")


def printed_commands(text: str) -> list[str]:
    """The ``modelyard …`` command lines in ``text``."""
    found = [m.group(1).removeprefix("$ ") for m in _QUOTED.finditer(text)]
    for line in text.splitlines():
        stripped = line.strip().removeprefix("$ ")
        if stripped.startswith("modelyard ") and not _QUOTED.search(line):
            found.append(stripped)
    return found


def failures(commands: list[str]) -> dict[str, str]:
    """``{command: what went wrong}`` for each command that does not parse as printed."""
    runner = CliRunner()
    out: dict[str, str] = {}
    for command in commands:
        words = shlex.split(command)
        if not words or words[0] != "modelyard":
            out[command] = "does not start with 'modelyard'"
            continue
        result = runner.invoke(app, [*words[1:], "--help"])
        if result.exit_code != 0 or "Usage:" not in result.output:
            out[command] = (result.output or repr(result.exception)).strip()[-300:]
    return out
