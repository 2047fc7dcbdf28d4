"""The command table of ``cli/main.py``: every entry resolves to its command, the help line it
shows is the command's own, and ``modelyard --help`` imports no command module."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import COMMANDS, app

# what a command may pull in, but never `modelyard --help`
HEAVY = ("pandas", "numpy", "sklearn", "polars", "duckdb", "fastapi", "skops", "plotly", "torch",
         "scipy", "pyarrow", "sqlalchemy", "alembic", "pydantic", "pydantic_settings", "uvicorn")


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_entry_resolves_to_its_command_with_the_same_help(name: str) -> None:
    import typer

    group = typer.main.get_command(app)
    command = group.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None and command.name == name
    assert _first_paragraph(command.help) == " ".join(COMMANDS[name][1].split()), (
        f"the help line of {name!r} in cli/main.py COMMANDS differs from the command's own help"
    )
    assert CliRunner().invoke(app, [name, "--help"]).exit_code == 0


def _imported_by(*argv: str) -> list[str]:
    """The modules a fresh ``modelyard ARGV`` process has imported when it exits."""
    script = (
        "import sys, json\n"
        f"sys.argv = ['modelyard', *{list(argv)!r}]\n"
        "from modelyard.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False, env=os.environ.copy())
    return json.loads(done.stderr.rsplit("MODULES ", 1)[1])


def test_help_imports_no_command_module_and_nothing_heavy() -> None:
    modules = _imported_by("--help")
    commands = {spec.partition(":")[0] for spec, _ in COMMANDS.values()}
    assert sorted(commands & set(modules)) == []
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []


def test_runs_list_imports_no_data_or_model_library(tmp_path: object) -> None:
    modules = _imported_by("--home", str(tmp_path), "runs", "list")
    heavy = {"pandas", "numpy", "sklearn", "polars", "duckdb", "fastapi", "skops", "plotly",
             "torch", "scipy", "pyarrow", "uvicorn"}
    assert sorted({m.split(".")[0] for m in modules} & heavy) == []
    assert "modelyard.cli.models" not in modules


def test_a_mistyped_command_suggests_the_right_one() -> None:
    result = CliRunner().invoke(app, ["rnus", "list"])
    assert result.exit_code == 2
    assert "Did you mean 'runs'?" in result.output
