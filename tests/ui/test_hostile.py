"""Data is never code: hostile strings seeded in every field a user can write (metric keys,
params, tags, run and experiment names, descriptions, journal text, dataset column names,
category values, alert rules and messages) are shown literally on every dashboard page and in
the HTML reports, and none of them runs (no dialog, no global set by the payload)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard as my

from .conftest import seeded_dashboard

SCRIPT = "</script><script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2;alert(1)">'
SVG = "\"'><svg onload=\"window.__pwned=3;alert(1)\">"
COMMENT = "<!--<script>window.__pwned=4</script>"
SEP = "\u2028x\u2029"
PAYLOADS = (SCRIPT, IMG, SVG, COMMENT)


def _seed(yard: my.Yard, out: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        SCRIPT: rng.normal(0, 1, n),
        IMG: rng.choice([SVG, SCRIPT, COMMENT + SEP], n),
        "x": rng.normal(0, 1, n),
        "ts": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
    })
    dv = yard.datasets.add("hostile", frame, time_column="ts")
    yard.datasets.describe("hostile", SCRIPT, description=IMG, unit=SVG, owner=COMMENT,
                           sensitivity=SCRIPT)
    with yard.start_run(experiment=SVG, name=IMG, datasets=[dv]) as run:
        run.log_params({SCRIPT: IMG, "plain": SVG})
        run.set_tags({SVG: SCRIPT, "note": COMMENT})
        for step in range(3):
            run.log_metric(SCRIPT, 1.0 / (step + 1), step=step)
            run.log_metric(COMMENT, float(step), step=step)
        model = LogisticRegression().fit(frame[["x"]], (frame["x"] > 0).astype(int))
        mv = run.log_model(model, name="hostile", example=frame[["x"]].head(3))
    yard.models.set_description("hostile", SCRIPT)
    yard.models.set_alias("hostile", "production", mv.version, reason=SVG)
    yard.models.journal("hostile", IMG, version=mv.version)
    yard.models.journal("hostile", COMMENT)

    # served traffic with hostile feature names and category values, a drifted window,
    # a monitor run against the dataset, and alerts whose rule name and feature are hostile
    current = frame.assign(**{SCRIPT: frame[SCRIPT] + 3.0})
    records = [{"endpoint": "hostile", "route": "main", "model_name": "hostile",
                "model_version": mv.version, "latency_ms": 1.0,
                "inputs": {SCRIPT: float(r[SCRIPT]), IMG: r[IMG]},
                "outputs": {"prediction": int(r[SCRIPT] > 0)}} for _, r in current.iterrows()]
    yard.predictions.log(records)
    yard.monitoring.alert_rule(SVG, metric="psi", feature="*", op=">", threshold=0.0,
                               endpoint="hostile")
    yard.monitoring.run("hostile", window="1d", reference="dataset:hostile/1")
    alerts = yard.monitoring.alerts(state="open")
    assert alerts, "the seeded rule opened no alert"

    job, report_id = _seed_automation(yard, out)

    report = out / "monitor.html"
    yard.monitoring.report("hostile", window="1d", reference="dataset:hostile/1", path=str(report))
    drift = out / "drift.html"
    my.drift(frame.drop(columns="ts"), current.drop(columns="ts")).to_html(drift, title=IMG)
    return {"run": run.id, "alerts": [a.message for a in alerts], "reports": [report, drift],
            "job": job, "report": report_id}


def _seed_automation(yard: my.Yard, out: Path) -> tuple[str, str]:
    """A retrain policy with hostile params whose training prints and raises hostile text
    (run once by the scheduler, with a hostile reason), and a validation report with hostile
    check names, messages, thresholds, slices, details and data. (Policy names follow the
    name rule: a hostile one is refused when saved.)"""
    import sys
    import textwrap

    from modelyard.automation.scheduler import Scheduler
    from modelyard.validation.entities import CheckResult, ValidationReport

    folder = out / "project"
    folder.mkdir()
    (folder / "hostile_training.py").write_text(textwrap.dedent(f'''
        def train(params, data, run):
            print({SCRIPT!r})
            print({COMMENT!r})
            raise RuntimeError({SVG!r})
    '''))
    sys.path.insert(0, str(folder))
    yard.automation.policy("hostile-retrain", model="hostile",
                           entry_point="hostile_training:train", code_path=str(folder),
                           params={"note": SCRIPT, IMG: SVG},
                           data={"train": {"dataset": "hostile"}}, retries=0)
    yard.automation.run_now("hostile-retrain", reason=IMG)
    [job] = Scheduler.for_yard(yard, owner="hostile").tick()
    assert job.status == "failed", job.status
    report = yard.backend.validation.add_report(report=ValidationReport(
        model="hostile", version=1, status="failed", checks=[CheckResult(
            name=SCRIPT, type="custom", status="failed", value=0.5, threshold=IMG,
            message=SVG, slice=COMMENT, n_rows=3,
            details={"traceback": SCRIPT, IMG: SVG})],
        data={"holdout": {"dataset": "hostile", "version": 1, "digest": IMG,
                          "window_start": COMMENT}}))
    return job.id, report.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("hostile")
    with seeded_dashboard(home, lambda yard: _seed(yard, home)) as site:
        yield site


def _assert_inert(page: Any, *, shown: tuple[str, ...] = ()) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined", "an injected script ran"
    assert page.watch.dialogs == [], f"a payload opened dialogs: {page.watch.dialogs}"
    text = page.inner_text("body")
    for s in shown:
        assert s in text, f"{s!r} is not shown literally"


PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("/ui/", (IMG,)),
    ("/ui/runs", (IMG, SCRIPT, SVG, COMMENT)),
    ("/ui/runs/{run}", (IMG, SCRIPT, SVG, COMMENT)),
    ("/ui/runs?filter=" + quote(f"params.x = '{SCRIPT}' and"), ()),
    ("/ui/runs/" + quote(SVG, safe=""), ()),
    ("/ui/models", (SCRIPT,)),
    ("/ui/models/hostile", (SCRIPT, SVG, IMG, COMMENT)),
    ("/ui/models/hostile/1", (IMG,)),
    ("/ui/datasets/hostile", (SCRIPT, IMG, SVG, COMMENT)),
    ("/ui/monitoring", (SVG,)),
    ("/ui/automation", ()),
    ("/ui/automation/policies/hostile-retrain", (SCRIPT, IMG, SVG)),
    ("/ui/automation/jobs/{job}", (SCRIPT, IMG, SVG, COMMENT)),
    ("/ui/validation/reports/{report}", (SCRIPT, IMG, SVG, COMMENT)),
    ("/ui/audit", (SCRIPT,)),
    ("/ui/audit?target=" + quote(f"experiment:{SVG}"), (f"experiment:{SVG}",)),
    ("/ui/audit?target=" + quote(f"dataset:hostile#{SCRIPT}"), (f"dataset:hostile#{SCRIPT}",)),
    ("/ui/audit?actor=" + quote(IMG) + "&since=" + quote(SVG), (SVG[3:],)),  # in a repr
]


def _page(site: dict[str, Any], new_page: Callable[..., Any]) -> Any:
    """A page that ignores the dashboard's Content-Security-Policy: the escaping alone must
    keep every payload inert (the policy is a second line, tested on its own)."""
    return new_page(site["url"], bypass_csp=True)


@pytest.mark.parametrize(("path", "shown"), PAGES, ids=[p for p, _ in PAGES])
def test_pages_show_hostile_strings_as_text(site: dict[str, Any], new_page: Callable[..., Any],
                                            path: str, shown: tuple[str, ...]) -> None:
    page = _page(site, new_page)
    page.goto(path.format(run=site["run"], job=site["job"], report=site["report"]))
    page.wait_for_load_state("load")
    _assert_inert(page, shown=shown)


def test_charts_draw_from_hostile_data(site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    page = _page(site, new_page)
    page.goto(f"/ui/runs/{site['run']}")
    page.wait_for_selector(".plot svg")
    titles = page.locator(".plot .gtitle").all_text_contents()
    assert SCRIPT in titles and COMMENT in titles  # metric keys as chart titles, as text
    page.goto("/ui/datasets/hostile")
    page.wait_for_selector(".plot svg")
    _assert_inert(page)
    ticks = page.locator(".plot .xtick").all_text_contents()
    assert SVG in ticks  # a category value as an axis label, as text
    assert page.watch.errors == []


def test_alert_messages_are_text(site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    page = _page(site, new_page)
    page.goto("/ui/")
    _assert_inert(page, shown=tuple(site["alerts"][:1]))


@pytest.mark.parametrize("which", [0, 1], ids=["monitor-report", "drift-report"])
def test_html_reports_show_hostile_strings_as_text(site: dict[str, Any],
                                                   new_page: Callable[..., Any],
                                                   which: int) -> None:
    page = _page(site, new_page)
    page.goto(site["reports"][which].as_uri())
    page.wait_for_selector(".js-plotly-plot svg")
    _assert_inert(page, shown=(SCRIPT, IMG))
    assert page.locator(".js-plotly-plot").count() >= 2
    titles = " ".join(page.locator(".gtitle").all_text_contents())
    assert SCRIPT in titles and IMG in titles  # feature names in the chart titles, as text
    assert page.watch.errors == []


def test_the_policy_stops_an_inline_script_the_escaping_missed(
        site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    """The second line: with the dashboard's policy, a script element added to the page (as
    an injection would) does not run."""
    page = new_page(site["url"])
    page.goto("/ui/")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__pwned = 5'; document.body.appendChild(s); }""")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert any("Content Security Policy" in e for e in page.watch.errors)
