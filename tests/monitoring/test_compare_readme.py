"""The README's "Comparing models on the same traffic" example runs as written, in a yard
whose endpoint has a champion and a shadow on the same (labelled) requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import modelyard as my
from modelyard.config import Settings

from .conftest import records

README = Path(__file__).resolve().parents[2] / "README.md"
CLI = [sys.executable, "-c", "from modelyard.cli.main import main; main()"]


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    part = text.split("<!-- compare:example -->", 1)[1].split("<!-- /compare:example -->", 1)[0]
    return re.findall(r"```(python|bash)\n(.*?)```", part, flags=re.DOTALL)


def test_the_readme_comparison_runs_as_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with my.connect(settings=Settings.load({}, home=home)) as yard:
        answered = records(300, seed=1, route="main", version=1)
        ids = yard.predictions.log(answered)
        shadow = records(300, seed=1, route="next", version=2, shadow=True)
        for rec, pid in zip(shadow, ids):
            rec["request_id"] = pid
            if rec["inputs"]["city"] == "c":  # the shadow is wrong on one city
                rec["outputs"]["prediction"] = 1 - rec["outputs"]["prediction"]
        yard.predictions.log(shadow)
        yard.monitoring.feedback(ids[:200], [r["outputs"]["prediction"] for r in answered[:200]])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["MODELYARD_HOME"] = str(home)
    script = "\n".join(body for lang, body in _blocks() if lang == "python")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "main: loans/1 300 answered requests"
    assert lines[2].startswith("next loans/2 shadow 300 ")
    assert "'accuracy', -" in lines[2] and "True, 200, 'champion better'" in lines[2]
    for lang, body in _blocks():
        if lang != "bash":
            continue
        for line in body.splitlines():
            args = line.split("#")[0].split()
            assert args[0] == "modelyard"
            out = subprocess.run([*CLI, *args[1:]], cwd=tmp_path, env=env, check=False,
                                 capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, (args, out.stdout, out.stderr)
            assert "champion main: loans/1" in out.stdout
