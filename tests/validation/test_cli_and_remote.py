"""``modelyard validate``, ``suites``, ``reports``, ``protection``, ``models show``; and the same
domain over REST (a remote yard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app
from modelyard.errors import ValidationRequired

from .test_gate import PASSING


def _cli(yard: my.Yard, db_url: str, tmp_path: Path, *args: str) -> object:
    where = ["--db", db_url, "--artifacts", str(tmp_path / "artifacts"), "--home",
             str(yard.settings.home)]
    return CliRunner().invoke(app, [*where, *args])


def test_cli_validates_shows_reports_and_guards_the_alias(cancer: my.Yard, db_url: str,
                                                          tmp_path: Path, trainer: str) -> None:
    from modelyard.automation.retrain import run_training

    train = cancer.datasets.view("cancer", window_start="2025-01-01", window_end="2025-08-01")
    run_training(cancer, trainer, model_name="cancer", data={"train": train},
                 params={"kind": "constant"})
    suite = tmp_path / "suite.yaml"
    suite.write_text(PASSING)
    out = _cli(cancer, db_url, tmp_path, "suites", "set", "cancer", "--file", str(suite))
    assert out.exit_code == 0, out.output
    assert "suite of cancer: version 1 (yaml" in out.output
    assert _cli(cancer, db_url, tmp_path, "protection", "add", "cancer",
                "production").exit_code == 0
    refused = _cli(cancer, db_url, tmp_path, "models", "alias", "set", "cancer",
                   "production", "2")
    assert refused.exit_code == 1
    assert refused.output.startswith("error: Alias 'production' of model 'cancer' is protected")
    ok = _cli(cancer, db_url, tmp_path, "validate", "cancer/2")
    assert ok.exit_code == 0, ok.output
    assert "champion:accuracy" in ok.output and "passed: report " in ok.output
    assert _cli(cancer, db_url, tmp_path, "models", "alias", "set", "cancer", "production",
                "2").exit_code == 0
    failing = _cli(cancer, db_url, tmp_path, "validate", "cancer/3", "--json")
    assert failing.exit_code == 1
    assert "validation of cancer/3 failed: metric:accuracy, champion:accuracy" in failing.output
    assert json.loads(failing.output[:failing.output.rindex("}") + 1])["against"] == "cancer/2"
    shown = _cli(cancer, db_url, tmp_path, "models", "show", "cancer", "--json")
    body = json.loads(shown.output)
    assert body["protected_aliases"] == ["production"]
    assert [(r["version"], r["status"]) for r in body["validation_reports"]] == [
        (3, "failed"), (2, "passed")]
    table = _cli(cancer, db_url, tmp_path, "models", "show", "cancer")
    assert "validation reports" in table.output and "passed" in table.output
    rid = body["validation_reports"][0]["id"]
    report = _cli(cancer, db_url, tmp_path, "reports", "show", rid)
    assert report.exit_code == 0 and "metric:accuracy" in report.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_validation_domain_over_rest(cancer: my.Yard, server_factory, tmp_path: Path) -> None:
    live = server_factory(cancer)
    remote = my.connect(live.url, settings=my.Settings.load({}, home=tmp_path / "client"))
    try:
        stored = remote.validation.set_suite("cancer", yaml=PASSING)
        assert stored.version == 1
        remote.validation.protect("cancer", "production")
        with pytest.raises(ValidationRequired, match="cancer/2 has none"):
            remote.models.set_alias("cancer", "production", 2)
        report = remote.validation.run("cancer/2")
        assert report.status == "passed" and cancer.validation.report(report.id) == report
        remote.models.set_alias("cancer", "production", 2)
        assert [p.alias for p in remote.validation.protected("cancer")] == ["production"]
    finally:
        remote.close()
