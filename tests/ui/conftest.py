"""Browser fixtures of the dashboard tests: Debian's Chromium driven by Playwright, one browser
per test session, a fresh context per test, and a screenshot of every page left open by a
failed test (in the test's tmp dir, named in the failure report)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import modelyard as my
from modelyard.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: while Playwright's sync API is open it leaves its event loop
    # set as the thread's running loop, so a later test of the same xdist worker calling
    # asyncio.run() would fail with "cannot be called from a running event loop".
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watch:
    """What a page did that it must not: dialogs opened, page errors, console errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" else None)


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest,
             tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``new_page(base_url, **context_options)``: a page in a fresh browser context (own
    cookies), with ``page.watch`` recording dialogs and errors. Every page of a failed test
    is saved as a screenshot under the test's tmp dir."""
    from playwright.sync_api import Error as PlaywrightError

    contexts: list[Any] = []
    pages: list[Any] = []

    def make(base_url: str, **options: Any) -> Any:
        context = browser.new_context(base_url=base_url, **options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.watch = Watch()
        page.watch.attach(page)
        pages.append(page)
        return page

    yield make
    if request.node.stash.get(_FAILED, False):
        for i, page in enumerate(pages):
            shot = tmp_path / f"failure-{i}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failed page {page.url}: {shot}")
            except PlaywrightError as exc:  # the page may be gone; the report must still come
                print(f"no screenshot of {page.url}: {exc}")
    for context in contexts:
        context.close()


@pytest.fixture
def page(site: dict[str, Any], new_page: Callable[..., Any]) -> Any:
    """A page on the module's ``site`` (its seeded dashboard)."""
    return new_page(site["url"])


def cells(page: Any, selector: str) -> list[list[str]]:
    """The texts of the cells of each row matched by ``selector``."""
    return [r.locator("td, th").all_inner_texts() for r in page.locator(selector).all()]


@contextmanager
def seeded_dashboard(home: Path, seed: Callable[[my.Yard], dict[str, Any]], *,
                     auth: bool = False, clock: Any = None) -> Iterator[dict[str, Any]]:
    """A yard in ``home`` (on ``clock``, default the real one) filled by ``seed(yard)`` and a
    live dashboard over it: yields ``{"url", "yard", **seeded}`` (for a module-scoped
    fixture)."""
    yard = my.connect(settings=Settings.load({}, home=home), clock=clock)
    try:
        seeded = seed(yard)
        srv = live_dashboard(yard, auth=auth)
        try:
            yield {"url": srv.url, "yard": yard, **seeded}
        finally:
            srv.stop()
    finally:
        yard.close()


def live_dashboard(yard: my.Yard, *, auth: bool = False) -> Any:
    """A ``modelyard server`` app with the dashboard over ``yard``, started on loopback (the
    caller stops it)."""
    from modelyard.api.app import create_app
    from modelyard.api.server import BackgroundServer
    from modelyard.cli.core import _dashboard

    settings = yard.settings.model_copy(update={"auth_enabled": auth})
    return BackgroundServer(create_app(yard, settings, **_dashboard())).start()


def open_alert(yard: my.Yard, endpoint: str = "alerting") -> str:
    """Log a drifted window of predictions for ``endpoint``, monitor it against a dataset,
    and return the id of the alert its rule opened."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 300)})
    yard.datasets.add(f"{endpoint}-ref", reference)
    yard.predictions.log([
        {"endpoint": endpoint, "route": "main", "model_name": endpoint, "model_version": 1,
         "latency_ms": 2.0, "inputs": {"x": float(x)}, "outputs": {"prediction": int(x > 0)}}
        for x in rng.normal(3, 1, 300)
    ])
    yard.monitoring.alert_rule(f"{endpoint}-drift", metric="drift_share", op=">=",
                               threshold=0.5, endpoint=endpoint)
    yard.monitoring.run(endpoint, window="1d", reference=f"dataset:{endpoint}-ref")
    alerts = yard.monitoring.alerts(state="open", endpoint=endpoint)
    assert len(alerts) == 1, alerts
    return alerts[0].id
