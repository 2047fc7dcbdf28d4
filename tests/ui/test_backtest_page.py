"""Backtest reports in the dashboard, in a real browser: the Automation page lists the stored
backtests with their best policy and links each run and its report; the run's page links the
report; the report draws its charts inside a sandbox (its scripts run, nothing else loads,
no dashboard cookie or origin); a value written by a user (a column named as markup) stays
text; a run that is not a backtest has no report."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

import modelyard as my
from modelyard.automation.executors import SerialExecutor
from modelyard.ui.pages.automation import REPORT_POLICY, url_backtest

from .conftest import cells, seeded_dashboard

IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'

TRAINING = textwrap.dedent('''
    from sklearn.linear_model import LogisticRegression
    from modelyard.automation.retrain import TrainingResult

    def train(params, data, run):
        frame = data["train"].to_pandas()
        X = frame.drop(columns=["ts", "target"])
        return TrainingResult(LogisticRegression().fit(X, frame["target"]), example=X.head(3))
''')


def _rows(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ts = pd.date_range("2025-01-01", "2025-04-01", periods=n, tz="UTC")
    x = rng.normal(size=n)
    weird = rng.normal(size=n) + (ts >= pd.Timestamp("2025-03-01", tz="UTC")) * 3.0
    return pd.DataFrame({"ts": ts, "x": x, IMG: weird,
                         "target": (x + rng.normal(0, 0.5, n) > 0).astype(int)})


def _seed(yard: my.Yard, code: Path) -> dict[str, Any]:
    code.mkdir()
    (code / "ui_bt_model.py").write_text(TRAINING)
    sys.path.insert(0, str(code))
    try:
        yard.datasets.add("loans", _rows(2_000), time_column="ts")
        result = yard.backtest(
            entry_point="ui_bt_model:train", data={"train": {"dataset": "loans", "last": "21d"}},
            start="2025-02-03", end="2025-03-31", every="1w", label="target",
            knowledge="event", executor=SerialExecutor(),
            policies=["never", {"name": "weird-drift", "triggers": [
                {"type": "drift", "feature": IMG, "metric": "psi", "threshold": 0.5}]}])
    finally:
        sys.path.remove(str(code))
    with yard.start_run(experiment="plain", name="not-a-backtest") as run:
        run.log_metric("x", 1.0)
    return {"result": result, "plain": run.id}


@pytest.fixture
def page(site: dict[str, Any], new_page: Any) -> Any:
    """A page on the site; a report inlines Plotly (~4 MB): minutes on a loaded machine."""
    page = new_page(site["url"])
    page.set_default_timeout(180_000)
    page.set_default_navigation_timeout(180_000)
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("backtest-ui")
    with seeded_dashboard(root / "home", lambda yard: _seed(yard, root / "code")) as site:
        yield site


def test_the_automation_page_lists_backtests_and_opens_a_report(page: Any,
                                                                 site: dict[str, Any]) -> None:
    result = site["result"]
    page.goto("/ui/automation")
    [row] = cells(page, "#backtests tr.backtest-row")
    best = max(result.summary, key=lambda s: s.mean or 0.0)
    assert row[1] == "ui_bt_model:train" and row[2:5] == ["2025-02-03", "2025-03-31", "1w"]
    assert row[5] == "never, weird-drift" and row[6].startswith(f"{best.policy} accuracy")
    with page.expect_response(lambda r: "/automation/backtests/" in r.url) as response:
        page.locator("#backtests").get_by_role("link", name="report").click()
    assert response.value.headers["content-security-policy"] == REPORT_POLICY
    page.wait_for_selector("#metric .main-svg")          # Plotly ran inside the sandbox
    assert page.inner_text("h1") == "Backtest of ui_bt_model:train"
    assert page.locator("#drift .main-svg").count() >= 1
    assert IMG in (page.locator("details").text_content() or "")   # the column, as text
    assert page.evaluate("window.__pwned") is None
    cookie = page.evaluate("() => { try { return document.cookie } catch (e) { return e.name } }")
    assert cookie == "SecurityError"                     # an opaque origin: no cookies
    assert page.watch.dialogs == [] and page.watch.errors == []


def test_the_run_page_links_its_report(page: Any, site: dict[str, Any]) -> None:
    run_id = site["result"].run_id
    page.goto(f"/ui/runs/{run_id}")
    link = page.locator("#backtest-report")
    assert link.get_attribute("href") == url_backtest(run_id)
    link.click()
    page.wait_for_selector("#metric .main-svg")
    page.goto(f"/ui/runs/{site['plain']}")
    assert page.locator("#backtest-report").count() == 0
    assert page.watch.errors == []


def test_a_run_that_is_not_a_backtest_has_no_report(page: Any, site: dict[str, Any]) -> None:
    response = page.goto(url_backtest(site["plain"]))
    assert response.status == 404
    expect(page.locator("body")).to_contain_text("is not a backtest")
    assert page.goto(url_backtest("no-such-run")).status == 404
