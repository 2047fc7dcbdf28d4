from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli.main import app as cli


def test_serve_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", "--home", str(tmp_path)])
    assert r.exit_code != 0 and "at least one --model" in r.output
    r = runner.invoke(cli, ["serve", "-m", "x/1", "--durability", "sometimes", "--home",
                            str(tmp_path)])
    assert r.exit_code != 0 and "durable, async or off" in r.output
