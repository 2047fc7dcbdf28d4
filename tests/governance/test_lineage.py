"""Lineage: dataset versions -> run -> model version -> aliases, and back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.config import Settings
from modelyard.errors import NotFound
from modelyard.governance.lineage import Lineage, lineage
from modelyard.serving.repository import ServingRepository


@pytest.fixture
def lyard(db_url: str, tmp_path: Path, settings: Settings) -> Iterator[my.Yard]:
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    y = my.connect(db_url, artifacts=str(tmp_path / "artifacts"), settings=settings, clock=clock)
    yield y
    y.close()


@pytest.fixture
def trained(lyard: my.Yard):
    frame = pd.DataFrame({
        "ts": pd.date_range("2026-01-01", periods=40, freq="D", tz="UTC"),
        "x": [float(i % 7) for i in range(40)],
        "y": [i % 2 for i in range(40)],
    })
    raw = lyard.datasets.add("raw", frame, time_column="ts")
    clean = lyard.datasets.add("clean", frame.dropna(), time_column="ts", parents=[raw],
                               transform="dropna")
    test = lyard.datasets.add("holdout", frame.tail(10))
    view = clean.window("2026-01-01", "2026-02-01")
    with lyard.start_run(experiment="lin", datasets=[view], params={"C": 1.0}) as run:
        run.log_input(test, role="test")
        model = LogisticRegression(C=1.0).fit(frame[["x"]], frame.y)
        mv = run.log_model(model, name="clf", example=frame[["x"]].head(3))
    lyard.models.set_alias("clf", "production", mv.version)
    return raw, clean, mv


def test_model_lineage_goes_down_to_the_data(lyard: my.Yard, trained) -> None:
    _, clean, mv = trained
    graph = lyard.lineage("clf@production")
    assert isinstance(graph, Lineage) and graph.root == "model:clf/1"
    run_id = f"run:{mv.run_id}"
    assert graph.node(run_id).attrs["params"] == {"C": "1.0"}
    edges = {(e.source, e.target, e.relation) for e in graph.edges}
    assert {
        ("dataset:clean/1", run_id, "read_by"),
        ("dataset:holdout/1", run_id, "read_by"),
        (run_id, "model:clf/1", "produced"),
        ("model:clf/1", "alias:clf@production", "alias_of"),
        ("dataset:raw/1", "dataset:clean/1", "derived_from"),
    } <= edges
    read = next(e for e in graph.edges if e.source == "dataset:clean/1")
    assert read.attrs["role"] == "training" and read.attrs["window"].startswith("[2026-01-01")
    assert graph.node("dataset:clean/1").attrs["digest"] == clean.digest
    text = graph.to_text()
    assert text.splitlines()[0].startswith("model clf/1 (sklearn")
    assert "aliases: production" in text and f"dataset clean/1 (digest {clean.digest[:12]}" in text
    assert "[derived_from transform=dropna] dataset raw/1" in text
    assert graph.to_dict()["root"] == "model:clf/1"


def test_dataset_lineage_finds_the_models(lyard: my.Yard, trained) -> None:
    graph = lineage(lyard, "dataset:clean/1")
    assert graph.root == "dataset:clean/1"
    assert ("model:clf/1" in {n.id for n in graph.nodes})
    text = graph.to_text()
    assert text.splitlines()[0].startswith("dataset clean/1")
    assert "[produced] model clf/1" in text
    unused = lineage(lyard, "dataset:raw")
    assert [n.id for n in unused.nodes] == ["dataset:raw/1"]


def test_reproductions_and_endpoints(lyard: my.Yard, trained) -> None:
    _, _, mv = trained
    again = lyard.models.register(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "clf",
                                  source_version=mv.ref)
    # what a model server records when it serves clf/1 on route "champion" of endpoint "scoring"
    repo = ServingRepository(lyard.backend.db, lyard.clock)
    repo.save_endpoint("scoring", {"routes": [{"model": mv.ref}]}, "api")
    repo.set_served("scoring", {"champion": mv.ref, "shadow": again.ref})
    graph = lyard.lineage(again.ref)
    edges = {(e.source, e.target, e.relation): e.attrs for e in graph.edges}
    assert ("model:clf/1", "model:clf/2", "reproduces") in edges
    assert edges[("model:clf/1", "endpoint:scoring", "serves")] == {"route": "champion"}
    assert edges[("model:clf/2", "endpoint:scoring", "serves")] == {"route": "shadow"}
    assert "[serves route=champion] endpoint scoring" in lyard.lineage(mv.ref).to_text()
    assert [u.endpoint for u in lyard.models.endpoints(mv.ref)] == ["scoring"]


def test_endpoints_show_over_rest(lyard: my.Yard, trained, server_factory, tmp_path) -> None:
    _, _, mv = trained
    repo = ServingRepository(lyard.backend.db, lyard.clock)
    repo.save_endpoint("scoring", {"routes": [{"model": mv.ref}]}, "api")
    repo.set_served("scoring", {"champion": mv.ref})
    remote = my.connect(server_factory(lyard).url,
                        settings=Settings.load({}, home=tmp_path / "client"))
    graph = remote.lineage(mv.ref)
    assert ("model:clf/1", "endpoint:scoring", "serves") in {
        (e.source, e.target, e.relation) for e in graph.edges}
    remote.close()


def test_unknown_refs(lyard: my.Yard) -> None:
    with pytest.raises(NotFound):
        lyard.lineage("nothing/1")
    with pytest.raises(NotFound):
        lyard.lineage("dataset:nothing/1")


def test_cli_prints_the_tree_and_json(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from modelyard.cli.main import app

    home = tmp_path / "home"
    y = my.connect(settings=Settings.load({}, home=home))
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 1, 0, 1]})
    dv = y.datasets.add("tiny", frame)
    with y.start_run(experiment="tiny", datasets=[dv]) as run:
        run.log_model(LogisticRegression().fit(frame[["x"]], frame.y), name="tiny",
                      example=frame[["x"]])
    y.models.set_alias("tiny", "production", 1)
    y.close()
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home), "lineage", "tiny@production"])
    assert result.exit_code == 0, result.output
    assert "model tiny/1" in result.output and "dataset tiny/1" in result.output
    result = runner.invoke(app, ["--home", str(home), "lineage", "dataset:tiny/1", "--json"])
    assert json.loads(result.output)["root"] == "dataset:tiny/1"
    result = runner.invoke(app, ["--home", str(home), "lineage", "ghost/1"])
    assert result.exit_code == 1
    assert "ghost" in result.output + str(result.exception)
