"""The Pipelines page in a real browser: runs with their counts, one run drawn as its graph
with each step's status, cache hits (linked to the run they came from) and miss reasons; every
value written by a user (parameters, errors, step names) shown as text and inert."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

import modelyard as my

from .conftest import seeded_dashboard

SCRIPT = "</script><script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2;alert(1)">'


@my.step
def source(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


@my.step(name="scaled")
def scale(df: pd.DataFrame, label: str) -> pd.DataFrame:
    return df.assign(y=df["x"] * 2, label=label)


@my.step
def check(df: pd.DataFrame, label: str) -> int:
    if label == IMG:
        raise ValueError(f"refused {IMG}")
    return len(df)


@my.pipeline
def hostile_flow(n: int = 5, label: str = SCRIPT):
    df = source(n)
    check(scale(df, label), label)


def _seed(yard: my.Yard) -> dict[str, Any]:
    first = yard.pipelines.run(hostile_flow)
    second = yard.pipelines.run(hostile_flow, label=SCRIPT + "!")
    failed = yard.pipelines.run(hostile_flow, label=IMG, raise_on_failure=False)
    return {"first": first.id, "second": second.id, "failed": failed.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with seeded_dashboard(tmp_path_factory.mktemp("pipelines-ui"), _seed) as site:
        yield site


def _inert(page: Any) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined", "an injected script ran"
    assert page.watch.dialogs == [] and page.watch.errors == []


def test_the_runs_list_counts_steps_and_links_each_run(site: dict[str, Any],
                                                       new_page: Callable[..., Any]) -> None:
    page = new_page(site["url"], bypass_csp=True)
    page.goto("/ui/pipelines")
    assert page.title() == "Pipelines · modelyard"
    assert page.locator("nav a[aria-current=page]").inner_text() == "Pipelines"
    rows = page.locator("tr.pipeline-run-row")
    assert rows.count() == 3
    newest = rows.nth(0).inner_text()
    assert "failed" in newest
    page.click(f"a[href='/ui/pipelines/runs/{site['second']}']")
    page.wait_for_selector("svg.pipeline-graph")
    _inert(page)


def test_a_run_is_drawn_as_its_graph_with_hits_and_miss_reasons(
        site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    page = new_page(site["url"], bypass_csp=True)
    page.goto(f"/ui/pipelines/runs/{site['second']}")
    nodes = page.locator("svg.pipeline-graph g.step-node")
    assert sorted(nodes.evaluate_all("els => els.map(e => e.dataset.step)")) == [
        "check", "scaled", "source"]
    assert page.locator("svg .step-cached").count() == 1  # source: a hit
    assert page.locator("svg line").count() == 2  # source -> scaled -> check
    source_row = page.locator("tr.step-row[data-step=source]")
    assert "hit" in source_row.inner_text() and site["first"][:12] in source_row.inner_text()
    reasons = page.locator("tr.step-row[data-step=scaled] ul.reasons").inner_text()
    assert f"parameter 'label' changed: {SCRIPT!r} -> {SCRIPT + '!'!r}" in reasons
    _inert(page)


def test_a_failed_run_shows_its_error_and_skipped_steps_as_text(
        site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    page = new_page(site["url"], bypass_csp=True)
    page.goto(f"/ui/pipelines/runs/{site['failed']}")
    assert page.locator("svg .step-failed").count() == 1
    text = page.inner_text("body")
    assert f"ValueError: refused {IMG}" in text
    assert IMG in page.locator("table").first.inner_text()  # the parameter, as text
    _inert(page)
    page.goto("/ui/pipelines/runs/no-such-run")
    assert "No pipeline run with id 'no-such-run'" in page.inner_text("body")
