"""The README's privacy section: its endpoint configuration parses as written and its
command lines run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app
from modelyard.serving.endpoints import parse_endpoints

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text.split("<!-- section:privacy -->", 1)[1].split("<!-- /section:privacy -->", 1)[0]


def test_the_privacy_block_parses_as_written() -> None:
    block = re.findall(r"```yaml\n(.*?)```", _section(), flags=re.DOTALL)[0]
    [ep] = parse_endpoints(yaml.safe_load(block))
    assert ep.privacy.mask == "hash" and ep.privacy.retention_days == 90
    assert ep.privacy.columns == {"zip": "drop", "name": "hash", "age": "keep"}


def test_the_commands_run_as_written(loans_yard: my.Yard) -> None:
    runner = CliRunner()
    for block in re.findall(r"```bash\n(.*?)```", _section(), flags=re.DOTALL):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            assert argv[0] == "modelyard"
            if argv[1] == "erase":
                argv.append("-y")
            result = runner.invoke(app, ["--home", str(loans_yard.settings.home), *argv[1:]])
            assert result.exit_code == 0, (line, result.output)
