"""The endpoint page's comparison of the model versions on the same traffic, in a real browser
over a yard whose predictions were served over HTTP (champion, canary, shadow) and labelled:
the agreement, labelled counts and the paired difference shown are those of the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.monitoring.compare import paired_accuracy

from .conftest import cells, seeded_dashboard
from .seed import ENDPOINT, seed_yard


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_dashboard(tmp_path_factory.mktemp("endpoint"), seed_yard) as site:
        yield site


def _by_hand(site: dict[str, Any]) -> dict[str, Any]:
    log = site["yard"].predictions.query(ENDPOINT, "2000-01-01", "2100-01-01").to_dicts()
    main = {r["id"]: r["output.prediction"] for r in log if r["route"] == "main"}
    shadow = [r for r in log if r["shadow"]]
    pairs = [(r["output.prediction"], main[r["request_id"]], r["request_id"])
             for r in shadow if r["request_id"] in main]
    labels = site["labels"]
    labelled = [(s, m, labels[pid]) for s, m, pid in pairs if pid in labels]
    d = paired_accuracy([s == y for s, _, y in labelled], [m == y for _, m, y in labelled])
    return {"same": sum(s == m for s, m, _ in pairs), "compared": len(pairs), "paired": d,
            "shadow_labelled": sum(1 for r in shadow if r["request_id"] in labels)}


def test_the_endpoint_page_compares_each_version_with_the_champion(
        page: Any, site: dict[str, Any]) -> None:
    v = site["versions"]
    hand = _by_hand(site)
    # a generous bound: on a loaded 2-core machine Chromium parses plotly.js slowly
    page.goto(f"/ui/endpoints/{ENDPOINT}", timeout=120_000)
    page.wait_for_selector("#comparison", timeout=120_000)  # loaded by htmx after the page
    rows = {r[0]: r for r in cells(page, "#comparison tr.comparison-row")}
    assert rows["main"][1:3] == [f"cancer/{v['logreg-C1']}", "champion"]
    assert rows["canary"][2] == "challenger" or rows["canary"][2] == "canary"
    nxt = rows["next"]
    assert nxt[1:4] == [f"cancer/{v['logreg-C0.01']}", "shadow", str(site["requests"])]
    assert nxt[4] == f"{hand['same'] / hand['compared'] * 100:.1f}% of {hand['compared']}"
    assert nxt[5] == str(hand["shadow_labelled"]) == str(len(site["labels"]))
    d = hand["paired"]
    assert nxt[7] == f"{d.difference:+.3f} accuracy (paired, n={d.n})"
    assert nxt[8] == f"[{d.low:+.3f}, {d.high:+.3f}]"
    assert nxt[9] == d.verdict
    assert "unpaired" in rows["canary"][7]
    # drift over time: one feature x time heatmap per model version that was monitored
    page.wait_for_selector("#drift svg")
    assert page.locator(".drift-grid").count() == 3
    page.wait_for_selector(".drift-grid >> nth=2 >> svg")
    assert page.watch.errors == []


def test_a_window_without_traffic_says_what_to_do(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"/ui/endpoints/{ENDPOINT}/comparison?window=15m")
    assert "No predictions in the last 15m" in page.inner_text("body") \
        or page.locator("#comparison").count() == 1
    page.goto("/ui/endpoints/nowhere/comparison")
    assert "nowhere" in page.inner_text("body")
