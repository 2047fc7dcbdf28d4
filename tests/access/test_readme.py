"""The README's section on users and roles: its first command block runs as written, and its
table of roles and permissions is the one the servers enforce."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from modelyard.access import ROLE_PERMISSIONS
from modelyard.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text.split("<!-- section:access -->", 1)[1].split("<!-- /section:access -->", 1)[0]


def test_the_user_commands_run_as_written(tmp_path: Path) -> None:
    block = re.findall(r"```bash\n(.*?)```", _section(), flags=re.DOTALL)[0]
    runner = CliRunner()
    for line in block.splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "modelyard"
        result = runner.invoke(app, ["--home", str(tmp_path / "home"), *argv[1:]])
        assert result.exit_code == 0, (line, result.output)
    shown = runner.invoke(app, ["--home", str(tmp_path / "home"), "users", "list"]).stdout
    assert re.search(r"alice .*editor", shown) and re.search(r"carol .*disabled", shown)


def test_the_table_of_roles_is_the_enforced_one() -> None:
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \|(.*)\|$", _section(), flags=re.MULTILINE)
    roles = ["viewer", "editor", "approver", "admin"]
    table = {role: set() for role in roles}
    for permission, cells in rows:
        for role, cell in zip(roles, cells.split("|"), strict=True):
            if cell.strip() == "✓":
                table[role].add(permission)
    assert table == {role: set(ROLE_PERMISSIONS[role]) for role in roles}
