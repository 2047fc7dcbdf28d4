"""The README's section on validation and automation runs as written, in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text.split("<!-- section:automation -->", 1)[1].split(
        "<!-- /section:automation -->", 1)[0]
    return re.findall(r"```(python|yaml|bash)\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_examples_run_in_an_empty_folder(tmp_path: Path) -> None:
    script = []
    for lang, body in _blocks():
        first = body.splitlines()[0]
        named = re.fullmatch(r"# (\S+\.(?:py|yaml))", first)
        if named:  # a file of the project
            (tmp_path / named.group(1)).write_text(body)
        elif lang == "python":
            script.append(body)
    assert (tmp_path / "cancer_model.py").exists() and (tmp_path / "cancer_suite.yaml").exists()
    (tmp_path / "example.py").write_text("\n".join(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("champion:accuracy") and "passed" in line for line in lines)
    assert lines[-1].startswith("waiting watch cancer/3 "), done.stdout
