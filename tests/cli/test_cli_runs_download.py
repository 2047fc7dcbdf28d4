"""``modelyard runs download``: a folder destination keeps the artifact's name (issue 17), a
file name with an extension is the file written, and a folder of artifacts comes whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelyard as my


@pytest.fixture
def run_id(yard: my.Yard, tmp_path: Path) -> str:
    (tmp_path / "report.html").write_text("<p>report</p>")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.json").write_text("{}")
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "notes.txt").write_text("notes")
    with yard.start_run(experiment="e") as run:
        run.log_artifact(tmp_path / "report.html")  # stored as "report.html", as the README says
        run.log_artifact(tmp_path / "model")         # stored as "model/…"
    return run.id


@pytest.mark.parametrize("dest", ["out", "out/"])
def test_a_folder_that_does_not_exist_yet_keeps_the_name(cli: Any, run_id: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        dest: str) -> None:
    monkeypatch.chdir(tmp_path)
    got = cli("runs", "download", run_id, "report.html", "--dest", dest)
    assert got.exit_code == 0, got.output
    assert (tmp_path / "out" / "report.html").read_text() == "<p>report</p>"


def test_a_file_name_with_an_extension_is_the_file_written(cli: Any, run_id: str,
                                                          tmp_path: Path) -> None:
    target = tmp_path / "copy.html"
    assert cli("runs", "download", run_id, "report.html", "--dest", str(target)).exit_code == 0
    assert target.read_text() == "<p>report</p>"


def test_a_folder_of_artifacts_comes_whole(cli: Any, run_id: str, tmp_path: Path) -> None:
    got = cli("runs", "download", run_id, "model", "--dest", str(tmp_path / "got"))
    assert got.exit_code == 0, got.output
    assert (tmp_path / "got" / "model" / "weights.json").read_text() == "{}"
    assert (tmp_path / "got" / "model" / "sub" / "notes.txt").read_text() == "notes"


def test_an_unknown_artifact_is_one_error_line(cli: Any, run_id: str, tmp_path: Path) -> None:
    got = cli("runs", "download", run_id, "model/report.html", "--dest", str(tmp_path))
    assert got.exit_code == 1
    assert "has no artifact 'model/report.html'" in got.output
