"""The README's Quickstart, Experiment tracking and Model registry sections run as written
(issue 17): their Python blocks are taken from the README by section and run in a fresh
process, in an empty folder (a fresh ``./.modelyard``). The Quickstart needs nothing else;
tracking and registry use names the README leaves to the reader (``df``, ``X``, ``model``,
``aucs``, a ``report.html``), which ``GIVEN`` defines, and run one after the other as a reader
pasting them would. The registry's catalogue of flavors (one line per kind of model) is not run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

GIVEN = '''
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

rng = np.random.default_rng(0)
df = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=400, freq="6h", tz="UTC"),
                   "age": rng.integers(18, 80, 400), "income": rng.normal(50, 10, 400)})
df["target"] = ((df.income - 50) / 10 + (df.age - 50) / 30 + rng.normal(0, 1, 400) > 0).astype(int)
X, y = df[["age", "income"]], df["target"]
model = LogisticRegression().fit(X, y)
aucs = [0.81, 0.86, 0.91]
with open("report.html", "w") as fh:
    fh.write("<p>validation report</p>")
'''


def _python_blocks(section: str) -> list[str]:
    text = README.read_text()
    body = text.split(f"<!-- section:{section} -->", 1)[1].split(
        f"<!-- /section:{section} -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


def _run(script: str, folder: Path) -> str:
    (folder / "example.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    done = subprocess.run([sys.executable, "example.py"], cwd=folder, env=env, check=False,
                          capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.mark.timeout(900)
def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    (block,) = _python_blocks("quickstart")
    out = _run(block, tmp_path)
    assert "cancer/1" in out and "production" in out  # the lineage printed at the end
    assert (tmp_path / ".modelyard").is_dir()


@pytest.mark.timeout(900)
def test_tracking_then_registry_run_as_written(tmp_path: Path) -> None:
    tracking = _python_blocks("tracking")
    registry = [b for b in _python_blocks("registry") if "Flavors" not in b
                and "sk_pipeline" not in b]
    assert len(tracking) == 3 and len(registry) == 1
    checks = '''
assert mv.ref == "loans/2" and yard.runs.get(run.id).status == "FINISHED"
assert [(e.new_version, e.reason) for e in yard.models.alias_history("loans")] == [
    (2, "beats v0 on AUC"), (None, "rollback")]
assert yard.models.get("cancer-rf").version == 1
print("ok")
'''
    out = _run("\n".join([GIVEN, *tracking, *registry, checks]), tmp_path)
    assert out.splitlines()[-1] == "ok"
