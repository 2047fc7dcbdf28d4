"""The README's picture of a backtest report: a screenshot of a report file made with Playwright
and the system's Chromium (as scripts/ui_screenshots.py does for the dashboard).

    .venv/bin/python scripts/backtest_screenshot.py backtest.html docs/backtest_report.png

``backtest.html`` comes from the README's example (``result.to_html("backtest.html")``) or
``modelyard backtest … --html backtest.html``. The page is shot down to the end of its charts.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def main(report: str, out: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(180_000)
        page.goto(Path(report).resolve().as_uri())
        page.wait_for_selector("#cost .main-svg")
        bottom = page.evaluate("document.getElementById('cost').getBoundingClientRect().bottom"
                               " + window.scrollY")
        page.screenshot(path=out, full_page=True, clip={"x": 0, "y": 0, "width": 1200, "height": bottom + 10})
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
