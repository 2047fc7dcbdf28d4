"""``modelyard demo --quick`` end to end, on real parts: the story's servers are real processes
(``modelyard serve``, ``modelyard scheduler``) over HTTP on loopback, the yard a SQLite
database in a temporary folder. The story's facts are asserted, not its timings: the broker
month opens a drift alert, the retrain policy's job trains, validates, canaries and promotes
a new version, the backtest compares the policies, the traced prediction is explained, the
audit chain verifies, the reports exist, and every command it prints works as printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

sys.path.insert(0, str(Path(__file__).parent / "cli"))  # printed_commands lives with the CLI tests

from printed_commands import failures, printed_commands

from modelyard.cli.demo import MARKER, prepare_home, run_demo
from modelyard.examples.processes import DemoError, Process, free_port
from modelyard.examples.story import StoryOptions


@pytest.mark.timeout(1500)
def test_the_demo_tells_the_whole_story(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)  # the light install has no shap: not needed
    home = tmp_path / "demo"
    facts = run_demo(home, StoryOptions.quick())
    out = capsys.readouterr().out

    assert facts["alert_ids"], out  # the broker month's drift opened an alert
    assert any("drift_share" in m for m in facts["alerts"])
    job = facts["job"]
    assert job["trigger"] == "alert" and job["status"] == "succeeded", out
    assert job["report"] == "passed" and job["canary"] == "promoted"
    assert facts["production"] == job["model_version"] != facts["champion"]
    assert len(facts["backtest"]) >= 2 and "never" in facts["backtest"]
    assert facts["trace"]["explained"], facts["trace"]["explanation_error"]
    assert facts["trace"]["model"] == facts["production"]
    assert facts["audit"]["ok"] and facts["audit"]["records"] > 0
    for key in ("monitoring_report", "backtest_report", "model_card"):
        assert "<html" in Path(facts[key]).read_text().lower(), key
    assert facts["dashboard"].startswith("http://127.0.0.1:")

    printed = printed_commands(out)
    assert f"modelyard --home {home} server --port 8080" in printed  # the dashboard hint
    assert any(c.startswith(f"modelyard --home {home} trace ") for c in printed)
    assert failures(printed) == {}  # every command it prints works as printed


def test_the_demo_empties_only_a_folder_it_made(tmp_path: Path) -> None:
    mine = prepare_home(tmp_path / "demo")
    (mine / "modelyard.db").write_text("an earlier demo")
    assert [p.name for p in prepare_home(mine).iterdir()] == [MARKER]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "modelyard.db").write_text("someone's yard")
    with pytest.raises(typer.BadParameter, match="holds files the demo did not make"):
        prepare_home(theirs)
    assert (theirs / "modelyard.db").read_text() == "someone's yard"


def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    missing = tmp_path / "endpoints.yaml"
    proc = Process(["--home", str(tmp_path / "yard"), "serve", "--config", str(missing),
                    "--port", str(free_port())], tmp_path / "serve.log")
    try:
        with pytest.raises(DemoError, match=r"(?s)exited \(\d+\) before answering.*"
                                            r"No endpoint configuration file"):
            proc.wait_http("http://127.0.0.1:9/readyz")
    finally:
        proc.stop()
