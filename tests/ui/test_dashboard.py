"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a live
``modelyard server`` on loopback, over a yard seeded with a real run, model and dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import expect
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import modelyard as my

from .conftest import seeded_dashboard


def _seed(yard: my.Yard) -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    X.columns = [c.replace(" ", "_") for c in X.columns]
    frame = X.assign(target=y, ts=pd.date_range("2026-01-01", periods=len(X), freq="h", tz="UTC"))
    dv = yard.datasets.add("cancer", frame, time_column="ts")
    yard.datasets.describe("cancer", "mean_radius", description="Mean of distances from center",
                           unit="mm", owner="clinic", sensitivity="internal")
    with yard.start_run(experiment="cancer", name="logreg", datasets=[dv]) as run:
        run.log_params({"C": 1.0, "max_iter": 200})
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        model = LogisticRegression(max_iter=200).fit(X, y)
        run.log_metrics({"accuracy": float(model.score(X, y))})
        mv = run.log_model(model, name="cancer", example=X[:5])
    with yard.start_run(experiment="cancer", name="other") as other:
        other.log_params({"C": 0.1})
        other.log_metrics({"accuracy": 0.5})
    yard.models.set_alias("cancer", "production", mv.version, reason="best accuracy")
    yard.models.journal("cancer", "Chosen for its calibration.", version=mv.version)
    return {"run": run.id, "model": mv}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One seeded yard and one live server with the dashboard for the module."""
    with seeded_dashboard(tmp_path_factory.mktemp("ui"), _seed) as site:
        yield site


@pytest.fixture
def seeded(site: dict[str, Any]) -> dict[str, Any]:
    return site


@pytest.fixture
def page(site: dict[str, Any], new_page: Callable[..., Any]) -> Any:
    pg = new_page(site["url"])
    pg.base_url = site["url"]
    return pg


def test_overview_counts_what_is_in_the_yard(page: Any) -> None:
    page.goto(page.base_url + "/")
    assert page.title() == "Overview · modelyard"
    cards = page.locator(".card .big").all_inner_texts()
    assert cards[:3] == ["1", "1", "1"]  # experiments, models, datasets


def test_run_search_filters_with_htmx_and_reports_bad_filters(page: Any) -> None:
    page.goto(page.base_url + "/ui/runs")
    assert page.locator("tr.run-row").count() == 2
    page.fill("#run-filter", "metrics.accuracy > 0.8")
    page.click("#run-search")
    expect(page.locator("#run-count")).to_have_text("1")
    assert "logreg" in page.locator("tr.run-row").inner_text()
    page.fill("#run-filter", "metrics.accuracy >> 3")
    page.click("#run-search")
    page.wait_for_selector("#filter-error")
    assert "position" in page.inner_text("#filter-error")


def test_run_page_draws_the_metric_history(page: Any, seeded: dict[str, Any], tmp_path: Path) -> None:
    page.goto(page.base_url + f"/ui/runs/{seeded['run']}")
    page.wait_for_selector("#metric-0 svg")
    text = page.inner_text("main")
    assert "cancer/1" in text and "max_iter" in text and "cancer" in text
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    assert (tmp_path / "run.png").stat().st_size > 10_000


def test_model_page_shows_aliases_history_and_journal(page: Any) -> None:
    page.goto(page.base_url + "/ui/models/cancer")
    text = page.inner_text("main")
    assert "production → 1" in text
    assert "best accuracy" in text
    assert "Chosen for its calibration." in text
    page.click("tr.version-row a")
    page.wait_for_selector("#lineage")
    assert "cancer" in page.inner_text("#lineage")


def test_dataset_page_shows_schema_dictionary_and_profile(page: Any) -> None:
    page.goto(page.base_url + "/ui/datasets/cancer")
    text = page.inner_text("main")
    assert "Mean of distances from center" in text and "internal" in text
    assert page.locator("tr.column-row").count() == 7
    page.wait_for_selector("#hist-0 svg")


def test_monitoring_page_and_unknown_pages(page: Any) -> None:
    page.goto(page.base_url + "/ui/monitoring")
    assert "No monitor runs yet" in page.inner_text("main")
    response = page.goto(page.base_url + "/ui/models/nope")
    assert response.status == 404
    assert "nope" in page.inner_text("main")


def test_static_assets_are_local(page: Any) -> None:
    for name in ("htmx.min.js", "plotly.min.js", "style.css"):
        response = page.request.get(page.base_url + f"/ui/static/{name}")
        assert response.ok, name
    assert page.request.get(page.base_url + "/ui/static/../../etc/passwd").status == 404
