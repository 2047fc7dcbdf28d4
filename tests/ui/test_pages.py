"""Every page of the dashboard in a real browser, over a yard seeded the way a user fills it
(runs, models, a dataset, predictions served over HTTP by a champion, a shadow and a running
canary, ground truth, a drifted monitored window and its alert): what each page shows is
checked against the data, and the links between objects are followed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

import modelyard as my
from modelyard.config import Settings

from .conftest import cells, live_dashboard, seeded_dashboard
from .seed import ENDPOINT, seed_yard


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_dashboard(tmp_path_factory.mktemp("pages"), seed_yard) as site:
        yield site


def test_overview_links_to_what_needs_attention(page: Any, site: dict[str, Any]) -> None:
    page.goto("/ui/")
    cards = dict(zip(page.locator(".card .muted").all_inner_texts(),
                     page.locator(".card .big").all_inner_texts()))
    assert cards == {"Experiments": "1", "Models": "1", "Datasets": "1", "Endpoints": "1",
                     "Open alerts": str(len(site["alerts"]))}
    assert "cancer drift" in page.inner_text("main")
    page.get_by_role("link", name=f"cancer/{site['versions']['tree-d3']}").first.click()
    page.wait_for_url(f"**/ui/models/cancer/{site['versions']['tree-d3']}")
    assert page.watch.errors == []


def test_runs_filter_select_and_compare(page: Any, site: dict[str, Any]) -> None:
    page.goto("/ui/runs")
    assert page.locator("tr.run-row").count() == 3
    page.press("body", "/")  # the keyboard shortcut focuses the filter
    assert page.evaluate("document.activeElement.id") == "run-filter"
    page.keyboard.type("params.model = 'Pipeline'")
    page.keyboard.press("Enter")
    expect(page.locator("#run-count")).to_have_text("2")
    for box in page.locator("tr.run-row input[type=checkbox]").all():
        box.check()
    page.click("#compare")
    page.wait_for_url("**/ui/runs/compare?ids=*")
    differing = [r[0].rstrip(" ≠") for r in cells(page, "#compare-params tr.differs")]
    assert differing == ["C"]  # the one param that tells the two runs apart is highlighted
    same = [r[0] for r in cells(page, "#compare-params tr:not(.differs)")[1:]]
    assert same == ["model"]
    page.wait_for_selector("#history-0 svg")
    assert page.locator("#history-0 .scatterlayer .trace").count() == 2  # overlaid histories
    inputs = cells(page, "#compare-inputs tr")[1]
    assert inputs == ["training: cancer-train", "cancer-train/1", "cancer-train/1"]
    page.get_by_role("link", name="cancer-train/1").first.click()
    page.wait_for_url("**/ui/datasets/cancer-train?version=1")
    assert page.watch.errors == []


def test_a_run_links_to_its_model_data_and_endpoint(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"/ui/runs/{site['runs']['logreg-C1']}")
    page.wait_for_selector("#metric-0 svg")  # the loss history
    main = page.inner_text("main")
    assert "C\t1" in main and "accuracy" in main
    assert f"{ENDPOINT}" in page.inner_text("main")
    page.get_by_role("link", name="cancer/1").first.click()
    page.wait_for_url("**/ui/models/cancer/1")
    assert "main (route)" in page.inner_text("main")
    assert "cancer drift" in page.inner_text("main")  # the alert on the endpoint serving it
    page.get_by_role("link", name="cancer-train/1").click()
    page.wait_for_url("**/ui/datasets/cancer-train?version=1")
    used_by = page.locator("text=Used by").locator("xpath=following-sibling::table[1]")
    assert sorted(used_by.locator("td a").all_inner_texts()) == sorted(site["runs"])
    assert page.locator("tr.column-row").count() == 6
    page.wait_for_selector("#hist-0 svg")


def test_the_endpoint_page_shows_routes_canary_traffic_and_versions(
        page: Any, site: dict[str, Any]) -> None:
    v = site["versions"]
    page.goto(f"/ui/endpoints/{ENDPOINT}")
    routes = {r[0]: r for r in cells(page, "#routes tr")[1:]}
    assert routes["main"][1:4] == ["route", "cancer@production", f"cancer/{v['logreg-C1']}"]
    assert routes["main"][5] == "70%" and routes["canary"][5] == "30%"
    assert routes["next"][1] == "shadow" and routes["next"][5] == "copy of every request"
    assert "step 1 of 2 (30% → 60%)" in page.inner_text("#canary")
    steps = cells(page, "#canary-steps tr")[1:]
    assert [s[1] for s in steps] == ["start"]
    assert page.inner_text("#requests") == str(site["requests"])
    page.wait_for_selector("#traffic svg")
    versions = {r[1]: r for r in cells(page, "#versions tr")[1:]}
    answered = int(versions[f"cancer/{v['logreg-C1']}"][2]) \
        + int(versions[f"cancer/{v['tree-d3']}"][2])
    assert answered == site["requests"]
    shadow = versions[f"cancer/{v['logreg-C0.01']}"]
    assert shadow[0] == "next shadow" and shadow[2] == str(site["requests"])
    assert shadow[7].endswith(f"of {site['requests']}")  # agreement on the same requests
    page.wait_for_selector("#predictions svg")
    assert page.locator("#predictions .trace.bars").count() == 3  # side by side
    perf = {r[0]: r for r in cells(page, "#performance tr")[1:]}
    labelled = {k: int(r[1]) for k, r in perf.items()}
    assert sum(labelled[f"cancer/{v[n]}"] for n in ("logreg-C1", "tree-d3")) == 120
    assert labelled[f"cancer/{v['logreg-C0.01']}"] == 120
    page.wait_for_selector("#drift svg")
    assert "cancer drift" in page.inner_text("main")
    page.get_by_role("link", name="last 24h").click()
    page.wait_for_url("**window=24h")
    assert page.inner_text("#requests") == str(site["requests"])
    assert page.watch.errors == []


def test_a_prediction_links_back_to_everything(page: Any, site: dict[str, Any]) -> None:
    labelled = next(iter(site["labels"]))
    page.goto("/ui/predictions")
    page.fill("#prediction-id", labelled)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/predictions/{labelled}")
    table = dict(r[:2] for r in cells(page, "#prediction tr"))
    assert table["endpoint"].startswith(ENDPOINT)
    assert table["ground truth"].startswith(str(site["labels"][labelled]))
    page.get_by_role("link", name=table["made by run"]).click()
    page.wait_for_url("**/ui/runs/*")
    # from the endpoint page's newest predictions to one of them
    page.goto(f"/ui/endpoints/{ENDPOINT}")
    page.locator("a.pill.mono").first.click()
    page.wait_for_url("**/ui/predictions/*")
    assert page.inner_text("#prediction").count(ENDPOINT) >= 1
    missing = page.goto("/ui/predictions/0190aaaa-0000-7000-8000-000000000000")
    assert missing.status == 404


def test_resolving_an_alert_in_the_browser(page: Any, site: dict[str, Any]) -> None:
    page.goto("/ui/monitoring")
    page.wait_for_selector("#drift-share svg")
    alert_id = site["alerts"][0]
    row = page.locator(f"#alert-{alert_id}")
    row.get_by_role("button", name="Resolve").click()
    expect(row).to_contain_text("resolved")
    still_open = {a.id for a in site["yard"].monitoring.alerts(state="open", endpoint=ENDPOINT)}
    assert still_open == set(site["alerts"][1:])
    row.get_by_role("link", name=ENDPOINT).click()
    page.wait_for_url(f"**/ui/endpoints/{ENDPOINT}")


def test_keyboard_reaches_every_section(page: Any) -> None:
    page.goto("/ui/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    labels = []
    for _ in range(8):
        page.keyboard.press("Tab")
        labels.append(page.evaluate("document.activeElement.textContent"))
    assert labels[:7] == ["modelyard", "Runs", "Models", "Datasets", "Endpoints", "Monitoring",
                          "Predictions"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/monitoring")
    assert page.get_by_role("link", name="Monitoring").get_attribute("aria-current") == "page"


def test_an_empty_yard_says_what_to_do_next(tmp_path: Any, new_page: Callable[..., Any]) -> None:
    yard = my.connect(settings=Settings.load({}, home=tmp_path / "empty"))
    srv = live_dashboard(yard)
    try:
        page = new_page(srv.url)
        hints = {"/ui/": "modelyard demo", "/ui/runs": "yard.start_run",
                 "/ui/models": "run.log_model", "/ui/datasets": "yard.datasets.add",
                 "/ui/endpoints": "modelyard serve --model", "/ui/monitoring": "alert_rule",
                 "/ui/runs/compare": "Select two or more runs",
                 "/ui/predictions": "Paste one", "/ui/automation": "yard.automation.policy",
                 "/ui/automation/jobs": "modelyard scheduler",
                 "/ui/validation": "yard.validation.set_suite", "/ui/audit": "No records yet"}
        for path, hint in hints.items():
            page.goto(path)
            assert hint in page.inner_text("main"), path
        assert page.watch.errors == []
    finally:
        srv.stop()
        yard.close()
