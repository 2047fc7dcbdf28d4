from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import modelyard as my
from modelyard.cli.main import app

Invoke = Callable[..., Result]


@pytest.fixture
def cli(yard: my.Yard, db_url: str, tmp_path: Path) -> Invoke:
    """``cli("runs", "list")``: the CLI on the same database and artifacts as ``yard``."""
    runner = CliRunner()
    where = [
        "--db",
        db_url,
        "--artifacts",
        str(tmp_path / "artifacts"),
        "--home",
        str(yard.settings.home),
    ]

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [*where, *args])

    return invoke
