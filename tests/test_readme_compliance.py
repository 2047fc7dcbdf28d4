"""The README's compliance section runs as written in an empty folder: a model is trained and
served over HTTP, one answer is traced, explained, carded and the audit log verified from the
command line, then the same objects are read from Python; the trace shown in the README has
the shape of the real one."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text.split("<!-- section:compliance -->", 1)[1].split(
        "<!-- /section:compliance -->", 1)[0]
    return re.findall(r"```(python|bash|text)\n(.*?)```", section, flags=re.DOTALL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=900)
    finally:  # the background model server too, whatever happened
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.timeout(900)  # seven fresh processes that each load scikit-learn
def test_the_readme_compliance_example_runs_as_written(tmp_path: Path) -> None:
    blocks = _blocks()
    python = [body for lang, body in blocks if lang == "python"]
    bash = [body for lang, body in blocks if lang == "bash"]
    (shown_trace,) = [body for lang, body in blocks if lang == "text"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["COLUMNS"] = "100"

    (tmp_path / "train.py").write_text(python[0])
    done = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]

    served = _bash(bash[0].replace("8000", str(_free_port())), tmp_path, env)
    assert served.returncode == 0, served.stderr[-4000:]
    out = served.stdout
    for part in ("route       main (champion)", "model cancer/1", "training data",
                 "aliases at the prediction's time", "first model", "journal in force",
                 "readable by the review board", "alias.set", "explanation (computed",
                 "cancer/1 · shap.TreeExplainer · log-odds of class 1", "base value",
                 "worst_concave_points = 0.2654", "reproduced: max |logged - recomputed| = 0",
                 "from cache", "wrote card.html (html, model cancer/1)", "audit log intact"):
        assert part in out, part
    assert "█" in out
    # the README's trace is a real one: each of its lines starts as a line of this trace does
    def start(line: str) -> str:  # the first word, its digits as 0 (times, sequence numbers)
        return re.sub(r"\d", "0", line.split()[0])

    starts = {start(line) for line in out.splitlines() if line.strip()}
    for line in shown_trace.splitlines():
        if line.strip():
            assert start(line) in starts, line
    assert (tmp_path / "card.html").read_text().startswith("<!doctype html>")

    (tmp_path / "read.py").write_text(python[1])
    read = subprocess.run([sys.executable, "read.py"], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True, timeout=900)
    assert read.returncode == 0, read.stderr[-4000:]
    first, second, third = read.stdout.splitlines()
    assert first.startswith("champion cancer/1 ") and "'max_depth': '2'" in first
    assert second in ("shap.TreeExplainer 0.0", "shap.TreeExplainer -0.0")
    assert third.startswith("shap.TreeExplainer ['worst_")

    audit, cards = bash[1:]
    ran = _bash(audit, tmp_path, env)
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    assert "1 signed checkpoints verified" in ran.stdout.splitlines()[-1]
    assert (tmp_path / "archive" / "2026-11" / "records.jsonl").exists()
    ran = _bash(cards, tmp_path, env)
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    assert ran.stdout.count("# Model card: cancer/1") == 1
    assert (tmp_path / "README.md").read_text().startswith("---\n")
    assert "Flag tumours for a second reading" in (tmp_path / "card.html").read_text()
