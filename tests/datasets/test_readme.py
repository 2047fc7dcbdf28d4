"""The README's dataset examples run as written on a fresh yard (in a fresh folder, with the
two monthly files they name)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text[text.index("<!-- section:datasets -->"):text.index("<!-- /section:datasets -->")]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.DOTALL)


@pytest.fixture
def monthly_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_loans) -> Path:
    make_loans(24 * 31, start="2026-01-01").to_parquet(tmp_path / "loans-2026-01.parquet")
    make_loans(24 * 28, seed=1, start="2026-02-01").to_parquet(
        tmp_path / "loans-2026-02.parquet")
    monkeypatch.chdir(tmp_path)  # my.connect() and the CLI use ./.modelyard
    return tmp_path


def test_the_python_example_runs_as_written(monthly_files: Path) -> None:
    example = _blocks("python")[0]
    scope: dict[str, object] = {}
    exec(compile(example, "README.md (datasets)", "exec"), scope)  # noqa: S102 - our own README
    dv, view, train = scope["dv"], scope["view"], scope["train"]
    assert dv.ref == "loans/2" and len(dv.fragments) == 2  # type: ignore[attr-defined]
    assert view.version == 2 and view.count() == 24 * (31 + 28)  # type: ignore[attr-defined]
    assert train.count() == 24 * (31 + 28)  # type: ignore[attr-defined]
    scope["yard"].close()  # type: ignore[attr-defined]


def test_the_cli_example_runs_as_written(monthly_files: Path) -> None:
    [commands] = [b for b in _blocks("bash") if "modelyard datasets add" in b]
    ran = 0
    for line in commands.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] != ["modelyard", "datasets"]:
            continue  # lineage and retrain need a trained model: other sections show them
        result = CliRunner().invoke(app, words[1:])
        assert result.exit_code == 0, (line, result.output, result.exception)
        ran += 1
    assert ran == 6
    assert (monthly_files / "train.parquet").exists()
