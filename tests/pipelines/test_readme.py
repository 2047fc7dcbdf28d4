"""The README's Pipelines section runs as written, in an empty folder: its Python (a second
run reuses load and features) and its commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
CLI = [sys.executable, "-c", "from modelyard.cli.main import main; main()"]


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text.split("<!-- section:pipelines -->", 1)[1].split(
        "<!-- /section:pipelines -->", 1)[0]
    return re.findall(r"```(python|bash)\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_pipeline_runs_as_written(tmp_path: Path) -> None:
    script, commands = [], []
    for lang, body in _blocks():
        named = re.fullmatch(r"# (\S+\.py)", body.splitlines()[0])
        if named:
            (tmp_path / named.group(1)).write_text(body)
        elif lang == "python":
            script.append(body)
        else:
            commands += [line.split("#")[0].split() for line in body.splitlines()
                         if line.strip() and "RUN_ID" not in line and "--executor" not in line]
    (tmp_path / "example.py").write_text("\n".join(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("succeeded ")
    assert lines[1].startswith("load cached ") and lines[2].startswith("features cached ")
    assert lines[3] == "train succeeded parameter 'C' changed: 1.0 -> 0.5"
    assert any("pipeline step loans.train" in line for line in lines[5:])
    for args in commands:
        assert args[0] == "modelyard"
        out = subprocess.run([*CLI, *args[1:]], cwd=tmp_path, env=env, check=False,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    listed = subprocess.run([*CLI, "pipelines", "list", "--json"], cwd=tmp_path, env=env,
                            check=True, capture_output=True, text=True, timeout=600).stdout
    newest = re.search(r'"id": "([0-9a-f]{32})"', listed)
    assert newest is not None
    shown = subprocess.run([*CLI, "pipelines", "show", newest.group(1)], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True, timeout=600).stdout
    assert "parameter 'C' changed: 0.5 -> 0.25" in shown and "hit: " in shown
