"""``modelyard datasets …`` on the embedded yard of ``--home``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path, make_loans) -> tuple[Path, Path]:
    first, more = tmp_path / "jan.parquet", tmp_path / "feb.parquet"
    make_loans(48).to_parquet(first)
    make_loans(24, seed=1, start="2026-02-01").to_parquet(more)
    return first, more


def _failure(result) -> str:
    """The one-line reason (stderr) or, without the root error handler, the exception."""
    return result.output + str(result.exception)


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_add_append_show_profile_as_of(tmp_path: Path, files) -> None:
    home = str(tmp_path / "home")
    first, more = files
    out = _run("--home", home, "datasets", "add", "loans", str(first), "--time-column", "ts")
    assert out.startswith("loans/1  digest") and "48 rows" in out
    assert _run("--home", home, "datasets", "append", "loans", str(more)).startswith("loans/2")
    _run("--home", home, "datasets", "describe", "loans", "amount",
         "--description", "Principal lent", "--unit", "EUR", "--sensitivity", "confidential")
    shown = _run("--home", home, "datasets", "show", "loans")
    assert "Principal lent" in shown and "EUR" in shown and "ts (time)" in shown
    assert "timestamp[us, tz=UTC]" in shown
    as_json = json.loads(_run("--home", home, "datasets", "show", "loans/1", "--json"))
    assert as_json["version"]["n_rows"] == 48
    assert as_json["dictionary"][1]["unit"] == "EUR"
    listed = json.loads(_run("--home", home, "datasets", "list", "--json"))
    assert [(d["name"], d["latest_version"]) for d in listed] == [("loans", 2)]
    assert "amount" in _run("--home", home, "datasets", "profile", "loans")
    profile = json.loads(_run("--home", home, "datasets", "profile", "loans/2", "--json"))
    assert profile["columns"]["amount"]["count"] == 72
    out_file = tmp_path / "feb-rows.parquet"
    text = _run("--home", home, "datasets", "as-of", "loans", "2100-01-01",
                "--start", "2026-02-01", "--end", "2026-03-01", "--output", str(out_file),
                "--head", "2")
    assert "24 rows" in text
    assert pq.read_table(out_file).num_rows == 24


def test_bad_input_exits_non_zero(tmp_path: Path, files, make_loans) -> None:
    home = str(tmp_path / "home")
    result = runner.invoke(app, ["--home", home, "datasets", "add", "loans",
                                 str(tmp_path / "missing.parquet")])
    assert result.exit_code == 1 and "No file or folder at" in _failure(result)
    first, _ = files
    _run("--home", home, "datasets", "add", "loans", str(first), "--time-column", "ts")
    other = tmp_path / "other.parquet"
    make_loans(5).drop(columns=["grade"]).to_parquet(other)
    result = runner.invoke(app, ["--home", home, "datasets", "append", "loans", str(other)])
    assert result.exit_code == 1 and "'grade': missing" in _failure(result)
