"""Trace: a real prediction served over HTTP (champion and shadow), from compacted Parquet and
from a live segment, locally and over REST, from the SDK, the CLI and the dashboard."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from compliance_scenario import FEATURES, Scenario, serve
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli
from modelyard.ids import new_id
from modelyard.wal.segments import list_segments, wal_dir


def _comparable(trace: Any) -> dict[str, Any]:
    data = trace.model_dump(mode="json", exclude={"generated_at"})
    if data["explanation"] is not None:
        data["explanation"].pop("cached")
    return data


def test_the_trace_of_a_champion_prediction_joins_everything(scenario: Scenario) -> None:
    s = scenario
    assert not [seg for seg in list_segments(wal_dir(s.yard.settings.resolved_prediction_log_dir))]
    t = s.yard.trace(s.ids[0])
    p = t.prediction
    assert (p.id, p.endpoint, p.route, t.role, p.shadow) == (
        s.ids[0], "cancer", "champion", "champion", False)
    assert p.request_id == s.ids[0] and p.inputs == s.rows(0, 1)[0]
    assert p.outputs["prediction"] in (0, 1) and set(p.outputs["proba"]) == {"0", "1"}
    assert (t.model.ref, t.model.digest) == (s.champion.ref, s.champion.digest)
    run = t.run
    assert run is not None and run.id == s.run_id and run.params == {"n_estimators": "20",
                                                                     "max_depth": "2"}
    assert "accuracy" in run.metrics and run.python_version and run.code_dirty in (None, True,
                                                                                   False)
    (data,) = t.datasets
    dv = s.yard.datasets.get("cancer")
    assert (data.dataset, data.version, data.digest, data.role) == ("cancer", 1, dv.digest,
                                                                    "training")
    assert data.window_start.isoformat().startswith("2025-01-01")
    assert data.window_end.isoformat().startswith("2025-08-01") and data.n_rows == len(s.frame)
    assert [r.id for r in t.validation] == [s.report.id]
    assert any(c.slice for c in t.validation[0].checks)
    production = {a.alias: a for a in t.aliases}["production"]
    assert (production.version, production.reason) == (1, "beats the baseline")
    assert production.moved_at <= p.time
    assert [(e.alias, e.new_version) for e in t.alias_history] == [("production", 1)]
    assert [j.text for j in t.journal] == ["Depth 2 keeps it explainable to the committee."]
    # who moved the alias, from the audit log (the principal: the OS user here)
    (moved,) = [r for r in t.audit if r.action == "alias.set"
                and r.target == "alias:cancer@production"]
    assert moved.actor == production.moved_by and moved.actor
    assert moved.state()["version"] == 1 and moved.hash and moved.prev_hash
    assert {"model.version.create", "alias.set"} <= {r.action for r in t.audit}
    assert t.model.created_by == moved.actor
    e = t.explanation
    assert e is not None and e.method == "shap.TreeExplainer" and e.digest == s.champion.digest
    assert e.reproduction.logged == p.outputs
    assert e.probability == pytest.approx(p.outputs["proba"]["1"])
    text = t.to_text()
    for part in (f"prediction {s.ids[0]}", "route       champion (champion)",
                 f"model {s.champion.ref}", f"run {s.run_id}", "training data",
                 "validation reports", "aliases at the prediction's time", "journal in force",
                 "shap.TreeExplainer · log-odds of class 1"):
        assert part in text, part


def test_the_trace_of_the_shadow_names_the_challenger_and_the_answered_request(
        scenario: Scenario, remote: my.Yard) -> None:
    s = scenario
    rows = s.yard.predictions.query("cancer", "2020-01-01", "2100-01-01")
    shadow = rows.filter((rows["shadow"]) & (rows["request_id"] == s.ids[1]))
    (shadow_id,) = shadow["id"].to_list()
    t = s.yard.trace(shadow_id)
    assert (t.role, t.prediction.route, t.prediction.request_id) == ("shadow", "challenger",
                                                                     s.ids[1])
    assert t.model.ref == s.challenger.ref and t.validation == []
    assert {a.alias: a.version for a in t.aliases} == {"production": 1, "challenger": 2}
    e = t.explanation
    assert e is not None and e.method == "permutation" and e.output_space == "probability"
    b = e.background
    assert b is not None and (b.source, b.dataset, b.seed) == ("dataset", "cancer/1", 0)
    assert b.window_end is not None and b.n_rows == 100
    assert _comparable(remote.trace(shadow_id)) == _comparable(t)  # over REST: the same


def test_a_live_prediction_is_traced_locally_and_over_rest(scenario: Scenario, remote: my.Yard,
                                                          api: str) -> None:
    s = scenario
    with serve(s) as url:
        reply = httpx.post(f"{url}/predict/cancer", json={"records": s.rows(10, 1)}, timeout=60)
        (pid,) = reply.json()["ids"]
        segments = list_segments(wal_dir(s.yard.settings.resolved_prediction_log_dir))
        assert segments  # the record is in a write-ahead segment, not yet in Parquet
        local = s.yard.trace(pid)
        over_rest = remote.trace(pid)
        raw = httpx.get(f"{api}/api/v1/predictions/{pid}/trace", timeout=60)
    assert local.prediction.inputs == s.rows(10, 1)[0] and local.role == "champion"
    assert _comparable(over_rest) == _comparable(local)
    body = raw.json()
    assert raw.status_code == 200 and body["prediction"]["id"] == pid
    assert body["model"]["digest"] == s.champion.digest
    assert body["explanation"]["method"] == "shap.TreeExplainer"


def test_a_compacted_prediction_over_rest_equals_the_local_trace(scenario: Scenario,
                                                                 remote: my.Yard) -> None:
    s = scenario
    assert _comparable(remote.trace(s.ids[2])) == _comparable(s.yard.trace(s.ids[2]))
    bare = remote.trace(s.ids[2], explain=False)
    assert bare.explanation is None and bare.explanation_error is None


def test_an_unknown_or_malformed_id_is_a_clear_error(scenario: Scenario, api: str) -> None:
    missing = httpx.get(f"{api}/api/v1/predictions/{new_id()}/trace", timeout=30)
    assert missing.status_code == 404 and missing.json()["field"] == "prediction_id"
    malformed = httpx.get(f"{api}/api/v1/predictions/nope/trace", timeout=30)
    assert malformed.status_code == 422 and "UUIDv7" in malformed.json()["message"]


def test_the_cli_prints_the_trace_and_its_json(scenario: Scenario) -> None:
    s = scenario
    home = str(s.yard.settings.home)
    runner = CliRunner()
    s.yard.explain(s.ids[0])  # computed once here, so the CLI shows the cached one
    shown = runner.invoke(cli, ["--home", home, "trace", s.ids[0]])
    assert shown.exit_code == 0, shown.output
    for part in ("route", "champion (champion)", s.champion.digest, "beats the baseline",
                 "explanation (cached"):
        assert part in shown.stdout, part
    as_json = runner.invoke(cli, ["--home", home, "trace", s.ids[0], "--json", "--no-explain"])
    data = json.loads(as_json.stdout)
    assert data["prediction"]["id"] == s.ids[0] and data["explanation"] is None
    assert data["role"] == "champion" and data["run"]["id"] == s.run_id


def test_the_dashboard_page_traces_an_id_and_links_every_object(scenario: Scenario,
                                                                api: str) -> None:
    s = scenario
    empty = httpx.get(f"{api}/ui/trace", timeout=30)
    assert empty.status_code == 200 and 'name="id"' in empty.text
    page = httpx.get(f"{api}/ui/trace", params={"id": s.ids[0]}, timeout=60)
    assert page.status_code == 200
    html = page.text
    for link in (f'/ui/models/cancer/{s.champion.version}"', f'/ui/runs/{s.run_id}"',
                 '/ui/datasets/cancer?version=1"', '/ui/models/cancer"', '/ui/endpoints/cancer"',
                 f'/ui/predictions/{s.ids[0]}"'):
        assert link in html, link
    assert '"type":"waterfall"' in html and "plotly.min.js" in html
    for feature in FEATURES:
        assert feature in html
    unknown = httpx.get(f"{api}/ui/trace", params={"id": new_id()}, timeout=30)
    assert unknown.status_code == 404 and "No prediction with id" in unknown.text
    # a prediction's page links to its trace
    prediction = httpx.get(f"{api}/ui/predictions/{s.ids[0]}", timeout=30)
    assert f'/ui/trace?id={s.ids[0]}"' in prediction.text
