"""Model cards: every section from stored facts, offline HTML with every value escaped,
Markdown, a Hugging Face README with YAML front matter, the CLI, and the same card over REST."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from compliance_scenario import HOSTILE, HOSTILE_TEXT, Scenario
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli

SECTIONS = ["purpose", "training-data", "metrics", "validation", "explanation", "lineage",
            "serving", "monitoring", "journal", "aliases", "audit"]


@pytest.fixture(scope="module")
def edited(scenario: Scenario) -> Scenario:
    runner = CliRunner()
    home = str(scenario.yard.settings.home)
    done = runner.invoke(cli, ["--home", home, "card-edit", "cancer", "--purpose",
                               "Flag tumours for a second reading " + HOSTILE_TEXT,
                               "--owner", "oncology-ml", "--license", "apache-2.0"])
    assert done.exit_code == 0, done.output
    scenario.yard.models.set_description("cancer", "Breast cancer screening " + HOSTILE)
    return scenario


def _section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.DOTALL)
    assert match, f"no section {name}"
    return match.group(1)


def test_the_html_card_has_every_section_from_stored_facts(edited: Scenario) -> None:
    s = edited
    card = s.yard.card("cancer@production")
    html = card.to_html()
    assert [m for m in re.findall(r'<section id="([a-z-]+)">', html)] == SECTIONS
    purpose = _section(html, "purpose")
    assert "Flag tumours for a second reading" in purpose and "oncology-ml" in purpose
    assert "apache-2.0" in purpose
    data = _section(html, "training-data")
    dv = s.yard.datasets.get("cancer")
    assert dv.digest in data and s.run_id in data and "window [2025-01-01" in data
    assert "Mean radius of the nuclei" in data and "medical" in data and "mm" in data
    mean = f"{s.frame['mean_radius'].mean():.6g}"  # the profile summary, per column
    assert "<th>nulls</th><th>mean</th>" in data and f"<td>{mean}</td>" in data
    metrics = _section(html, "metrics")
    assert "accuracy" in metrics and "band=small" in metrics and f"validation {s.report.id}" in metrics
    assert s.report.id in _section(html, "validation")
    explanation = _section(html, "explanation")
    assert "shap.TreeExplainer" in explanation and 'class="bar"' in explanation
    assert "cancer/1" in explanation and "worst_concave_points" in explanation
    assert s.run_id in _section(html, "lineage")
    serving = _section(html, "serving")
    assert "<td>cancer</td><td>champion</td><td>False</td>" in serving
    monitoring = _section(html, "monitoring")
    assert "<td>drift_share</td><td></td><td>cancer</td><td>champion</td><td>1</td>" in monitoring
    journal = _section(html, "journal")
    assert "Depth 2 keeps it explainable" in journal and "Written after" in journal
    aliases = _section(html, "aliases")
    assert "beats the baseline" in aliases and "shadow it first" in aliases
    audit = _section(html, "audit")
    for action in ("model.version.create", "alias.set", "model.tag.set", "journal"):
        assert action in audit, action
    assert "alias:cancer@production" in audit and "model:cancer/1" in audit
    assert [r.seq for r in card.audit] == sorted(r.seq for r in card.audit)
    assert card.importance is not None and card.importance.status == "computed"
    assert {sp.route for sp in card.serving} == {"champion"}  # v1 never shadowed


def test_the_html_card_is_offline_and_escapes_every_value(edited: Scenario) -> None:
    html = edited.yard.card("cancer/1").to_html()
    assert "<script" not in html and "src=" not in html and "href=" not in html
    assert "http://" not in html and "https://" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the column name
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "&lt;i&gt;u&lt;/i&gt;" in html
    assert "<b>" not in html and "<i>" not in html


def test_the_markdown_card_shows_hostile_text_literally(edited: Scenario) -> None:
    text = edited.yard.card("cancer/1").to_markdown()
    for heading in ("## Purpose and owner", "## Training data", "## Metrics", "### By slice",
                    "## Validation", "## Global explanation", "## Lineage",
                    "## Serving history", "## Drift and performance history", "## Journal",
                    "## Alias history"):
        assert heading in text, heading
    assert "</script>" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert r"\| \*\*bold\*\* \[x\](javascript:alert(1))" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| &lt;/script&gt;")]
    assert row.count(" | ") == 11  # 12 cells: the escaped '|' in its description splits none


def test_the_hugging_face_readme_has_front_matter(edited: Scenario) -> None:
    text = edited.yard.card("cancer/1").to_huggingface()
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "sklearn"
    assert meta["tags"] == ["modelyard", "sklearn", "tabular-classification"]
    (result,) = meta["model-index"][0]["results"]
    assert result["task"]["type"] == "tabular-classification"
    assert [m["name"] for m in result["metrics"]] == ["accuracy"]
    assert body.lstrip().startswith("# Model card: cancer/1")
    for heading in ("## Purpose and owner", "## Training data", "## Metrics", "## Validation",
                    "## Global explanation", "## Lineage", "## Serving history",
                    "## Drift and performance history", "## Journal", "## Alias history"):
        assert heading in body, heading


def test_the_cli_writes_each_format(edited: Scenario, tmp_path: Path) -> None:
    home = str(edited.yard.settings.home)
    runner = CliRunner()
    out = tmp_path / "card.html"
    done = runner.invoke(cli, ["--home", home, "card", "cancer/1", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"wrote {out} (html, model cancer/1)"
    assert out.read_text().startswith("<!doctype html>")
    md = runner.invoke(cli, ["--home", home, "card", "cancer@production", "--format", "md"])
    assert md.exit_code == 0 and md.stdout.startswith("# Model card: cancer/1")
    readme = tmp_path / "README.md"
    hf = runner.invoke(cli, ["--home", home, "card", "cancer/1", "-o", str(readme), "--format",
                             "hf"])
    assert hf.exit_code == 0 and readme.read_text().startswith("---\n")
    bad = runner.invoke(cli, ["--home", home, "card", "cancer/1", "--format", "pdf"])
    assert bad.exit_code == 1 and bad.stderr.startswith("error: --format must be one of")
    nowhere = runner.invoke(cli, ["--home", home, "card", "cancer/1", "-o",
                                  str(tmp_path / "missing" / "card.html")])
    assert nowhere.exit_code == 1 and "existing folder" in nowhere.stderr
    unknown = runner.invoke(cli, ["--home", home, "card", "cancer/9"])
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: ")
    empty = runner.invoke(cli, ["--home", home, "card-edit", "cancer"])
    assert empty.exit_code == 1 and "needs at least one of" in empty.stderr


def test_the_card_over_rest_is_the_same(edited: Scenario, remote: my.Yard) -> None:
    local = edited.yard.card("cancer/1").model_dump(mode="json", exclude={"generated_at"})
    over_rest = remote.card("cancer/1").model_dump(mode="json", exclude={"generated_at"})
    assert over_rest == local
