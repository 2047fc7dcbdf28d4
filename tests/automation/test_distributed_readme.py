"""The README's section on backtests, batch scoring, search and Dask runs as written, in an
empty folder: its Python (a backtest whose on-drift policy retrains on the first step after
the change, scoring, a search) and its commands (on local processes and a Dask LocalCluster;
the line naming a remote scheduler is left out)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
CLI = [sys.executable, "-c", "from modelyard.cli.main import main; main()"]


def _section() -> str:
    text = README.read_text()
    return text.split("<!-- section:distributed -->", 1)[1].split(
        "<!-- /section:distributed -->", 1)[0]


@pytest.mark.timeout(1800)  # minutes on the shared 2-core machine: processes, a LocalCluster
def test_the_readme_examples_run_as_written(tmp_path: Path) -> None:
    script, commands = [], []
    for lang, body in re.findall(r"```(python|yaml|bash)\n(.*?)```", _section(), re.DOTALL):
        named = re.fullmatch(r"# (\S+\.(?:py|yaml))", body.splitlines()[0])
        if named:
            (tmp_path / named.group(1)).write_text(body)
        elif lang == "python":
            script.append(body)
        elif lang == "bash":
            commands += [line.split() for line in body.splitlines()
                         if line.strip() and "dask://" not in line]
    assert {"loans_model.py", "policy.yaml", "space.yaml"} <= {p.name for p in tmp_path.iterdir()}
    (tmp_path / "example.py").write_text("\n".join(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    policies = [line.split()[0] for line in lines[:4]]
    assert policies == ["never", "every-4w", "on-drift", "on-drop"]
    means = {line.split()[0]: float(line.split()[2]) for line in lines[:4]}
    assert means["on-drift"] > means["never"] + 0.2
    assert re.match(r"\d+ trainings run for \d+ asked; run [0-9a-f]{32}$", lines[4])
    assert lines[5] == "scored 2700 rows in 3 partitions"
    assert lines[6].startswith("best {") and lines[6].endswith("loans-forest/1")
    assert (tmp_path / "backtest.html").read_text().startswith("<!doctype html>")
    for args in commands:
        assert args[0] == "modelyard", args
        out = subprocess.run([*CLI, *args[1:]], cwd=tmp_path, env=env, check=False,
                             capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-4000:])
    scored = pd.read_parquet(tmp_path / "scored-dask")
    assert list(scored.columns[:3]) == ["income", "debt", "prediction"]
    assert len(scored) == len(pd.read_parquet(tmp_path / "scored"))
