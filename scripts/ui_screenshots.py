"""Screenshots of the dashboard's main pages for the README (docs/screenshots/*.png).

    PYTHONPATH=src .venv/bin/python scripts/ui_screenshots.py [OUT_DIR]

Seeds a yard in a temporary folder the way the browser tests do (``tests/ui/seed.py``: runs,
models, a dataset, predictions served over HTTP by a champion, a shadow and a canary, labels,
a drifted window and its alerts), serves the dashboard on loopback and photographs each page
with Debian's Chromium (1280 px wide, the top 900 px).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import modelyard as my
from modelyard.api.app import create_app
from modelyard.api.server import BackgroundServer
from modelyard.config import Settings
from modelyard.ui.app import PREFIX, PUBLIC_PATHS, install
from ui.conftest import CHROMIUM, CHROMIUM_ARGS
from ui.seed import ENDPOINT, seed_yard


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ui-shots-") as tmp:
        yard = my.connect(settings=Settings.load({}, home=Path(tmp)))
        seeded = seed_yard(yard)
        runs = seeded["runs"]
        pages = {
            "overview": "/ui/",
            "runs": "/ui/runs",
            "compare": "/ui/runs/compare?" + "&".join(f"ids={i}" for i in runs.values()),
            "run": f"/ui/runs/{runs['logreg-C1']}",
            "endpoint": f"/ui/endpoints/{ENDPOINT}",
            "model-version": "/ui/models/cancer/1",
            "dataset": "/ui/datasets/cancer-train",
            "monitoring": "/ui/monitoring",
            "prediction": f"/ui/predictions/{next(iter(seeded['labels']))}",
        }
        app = create_app(yard, yard.settings, extensions=[install], public_paths=PUBLIC_PATHS,
                         login_path=f"{PREFIX}/login")
        with BackgroundServer(app) as srv, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=srv.url)
            for name, path in pages.items():
                page.goto(path)
                if page.locator(".plot").count():
                    page.wait_for_selector(".plot svg")
                page.wait_for_timeout(300)  # let Plotly finish its transitions
                page.screenshot(path=str(out / f"{name}.png"))
                print(out / f"{name}.png")
            browser.close()
        yard.close()


if __name__ == "__main__":
    main()
