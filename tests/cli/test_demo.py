"""``modelyard demo`` runs the whole lifecycle end to end on the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from printed_commands import failures, printed_commands

from modelyard.cli.demo import run_demo
from modelyard.config import Settings


def test_demo_runs_the_whole_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_demo(Settings.load({}, home=tmp_path / "yard"), n_requests=20)
    printed = printed_commands(capsys.readouterr().out)
    assert f"modelyard --home {tmp_path / 'yard'} server" in printed  # the dashboard hint
    assert failures(printed) == {}  # every command it prints works as printed
    assert len(out["ids"]) == 100
    assert out["reproduced"] is True  # retrain as of the original knowledge time = same model
    assert out["alerts"] >= 1  # the generated March traffic drifts
    report = Path(out["report"]).read_text()
    assert "<html" in report.lower() and "income" in report
    assert out["champion"] == "loans/1" and out["challenger"] == "loans/2"
