"""``modelyard monitor …`` on a local yard."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app
from modelyard.config import Settings

from .conftest import Receiver, records


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with my.connect(settings=Settings.load({}, home=home)) as yard:
        ids = yard.predictions.log(records(600, seed=1, shift=1.0))
        yard.datasets.add("ref", pl.DataFrame({"x": [r["inputs"]["x"] for r in records(2000, seed=2)]}))
        yard.monitoring.feedback(ids[:100], [1] * 100)
    return home


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_monitor_run_prints_a_summary_and_stores_it(home: Path) -> None:
    code, out = _invoke("monitor", "run", "loans", "--window", "1h", "--reference",
                        "dataset:ref", "--home", str(home))
    assert code == 0, out
    assert "600 predictions" in out and "x" in out
    code, out = _invoke("monitor", "run", "loans", "--window", "1h", "--reference",
                        "dataset:ref", "--format", "json", "--no-save", "--home", str(home))
    body = json.loads(out)
    assert body[0]["groups"][0]["drift"]["features"][0]["drifted"] is True
    assert body[0]["groups"][0]["n_labeled"] == 100


def test_monitor_report_writes_html_and_json(home: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "drift.html"
    code, out = _invoke("monitor", "report", "loans", "--window", "1d", "-o", str(out_file),
                        "--reference", "dataset:ref", "--home", str(home))
    assert code == 0, out
    html = out_file.read_text()
    assert "Plotly.newPlot" in html and "<script src" not in html
    code, out = _invoke("monitor", "report", "loans", "--format", "json", "--reference",
                        "dataset:ref", "--home", str(home))
    assert json.loads(out)["result"]["run"]["n_rows"] == 600


def test_rules_alerts_and_feedback_from_the_command_line(home: Path, tmp_path: Path) -> None:
    code, out = _invoke("monitor", "rule", "drift", "--metric", "drift_share", "--threshold", "0.3",
                        "--home", str(home))
    assert code == 0 and "drift_share > 0.3" in out, out
    _invoke("monitor", "run", "loans", "--window", "1h", "--reference", "dataset:ref",
            "--home", str(home))
    code, out = _invoke("monitor", "alerts", "--state", "open", "--format", "json", "--home", str(home))
    assert [a["rule"] for a in json.loads(out)] == ["drift"]
    with my.connect(settings=Settings.load({}, home=home)) as yard:
        pid = yard.predictions.query("loans", "2000-01-01", "2100-01-01")["id"][0]
    code, out = _invoke("monitor", "feedback", pid, "0", "--home", str(home))
    assert code == 0 and "updated 1" in out, out
    labels = tmp_path / "labels.csv"
    pl.DataFrame({"prediction_id": [pid], "label": [1]}).write_csv(labels)
    code, out = _invoke("monitor", "feedback", "--file", str(labels), "--home", str(home))
    assert "updated 1" in out, out


def test_monitor_run_delivers_the_webhooks_it_queued(
        home: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory()
    code, out = _invoke("monitor", "rule", "drift", "--metric", "drift_share", "--threshold",
                        "0.3", "--webhook", receiver.url, "--home", str(home))
    assert code == 0, out
    code, out = _invoke("monitor", "run", "loans", "--window", "1h", "--reference",
                        "dataset:ref", "--home", str(home))
    assert code == 0, out
    assert f"webhook opened → {receiver.url}: delivered (HTTP 200)" in out
    assert [b["event"] for b in receiver.bodies] == ["opened"]
    code, out = _invoke("monitor", "deliveries", "--format", "json", "--home", str(home))
    [delivery] = json.loads(out)
    assert delivery["state"] == "delivered" and receiver.keys == [delivery["id"]]
    code, out = _invoke("monitor", "deliver", "--home", str(home))
    assert code == 0 and "No webhook deliveries are due." in out


def test_a_mistyped_rule_metric_exits_1_with_a_suggestion(home: Path) -> None:
    result = CliRunner().invoke(app, ["monitor", "rule", "drift", "--metric", "drift_shar",
                                      "--threshold", "0.3", "--home", str(home)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Did you mean 'drift_share'?" in lines[0]
    with my.connect(settings=Settings.load({}, home=home)) as yard:
        assert yard.monitoring.alert_rules() == []


def test_a_label_the_model_cannot_give_exits_1(home: Path) -> None:
    with my.connect(settings=Settings.load({}, home=home)) as yard:
        pid = yard.predictions.query("loans", "2000-01-01", "2100-01-01")["id"][0]
    result = CliRunner().invoke(app, ["monitor", "feedback", pid, "approved", "--home", str(home)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: label of prediction {pid} must be one of the classes of model loans/1 "
        "('0', '1'). Got 'approved' instead.")


def test_bad_input_exits_non_zero_with_one_line(home: Path) -> None:
    code, out = _invoke("monitor", "report", "loans", "--format", "pdf", "--home", str(home))
    assert code != 0 and "--format must be html or json" in out
    code, _out = _invoke("monitor", "run", "loans", "--window", "soon", "--home", str(home))
    assert code != 0
