"""The automation, validation and audit pages in a real browser, over a yard whose retrain
policies the scheduler ran to every outcome (``seed_automation``: rolled back, refused, failed,
succeeded, never run): what each page shows is checked against the data, the links between
jobs, policies, model versions, reports and audit records are followed, and a policy is
disabled and enabled again from its page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

import modelyard as my
from modelyard.automation.history import stage_times
from modelyard.clock import FixedClock
from modelyard.config import Settings
from modelyard.ui.pages import audit as audit_page
from modelyard.ui.pages import automation as automation_page

from .conftest import cells, live_dashboard, seeded_dashboard
from .seed_automation import seed_automation

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("automation")
    with seeded_dashboard(root / "home", lambda yard: seed_automation(yard, root / "project"),
                          clock=FixedClock(START)) as site:
        yield site


def test_the_policies_with_their_triggers_state_and_last_job(page: Any,
                                                             site: dict[str, Any]) -> None:
    yard = site["yard"]
    page.goto("/ui/automation")
    rows = {r[0]: r for r in cells(page, "#policies tr.policy-row")}
    assert sorted(rows) == sorted(p.name for p in yard.automation.policies())
    for name, row in rows.items():
        policy = yard.automation.get(name)
        assert row[5] == ("enabled" if policy.enabled else "disabled"), name
        jobs = yard.automation.jobs(policy=name, limit=1)
        assert row[6].startswith(jobs[0].status if jobs else "none yet"), name
    assert "every 1h · next 2026-03-01 02:00:00" in rows["hourly"][3]
    assert "cron 0 3 * * * (Europe/Paris) · next 2026-03-01 02:00:00" in rows["nightly"][3]
    jobs = cells(page, "#recent-jobs tr.job-row")
    assert [r[3] for r in jobs] == [j.status for j in yard.automation.jobs()]
    reports = cells(page, "#recent-reports tr.report-row")
    assert [(r[1], r[2]) for r in reports] == [(f"{r.model}/{r.version}", r.status)
                                               for r in yard.validation.reports()]
    assert cells(page, "#protected tr")[1][0] == "cancer@production"
    page.get_by_role("link", name="hourly").first.click()
    page.wait_for_url("**/ui/automation/policies/hourly")
    triggers = cells(page, "#triggers tr")[1]
    assert triggers[0] == "every 1h" and triggers[1] == "2026-03-01T01:00:00+00:00"
    assert "accuracy < 0.8" in page.inner_text("#spec")
    assert [r[2] for r in cells(page, "#policy-jobs tr.job-row")] == ["rolled_back"]
    assert page.watch.errors == []


def test_a_rolled_back_job_shows_its_stages_decisions_and_log(page: Any,
                                                               site: dict[str, Any]) -> None:
    yard = site["yard"]
    job = yard.automation.job(site["jobs"]["hourly"])
    page.goto(f"/ui/automation/jobs/{job.id}")
    expect(page.locator("h1")).to_contain_text("rolled_back")
    stages = [(r[0], r[1], r[2]) for r in cells(page, "#stages tr")[1:]]
    assert stages == [(s.stage, s.start.strftime("%Y-%m-%d %H:%M:%S"),
                       s.end.strftime("%Y-%m-%d %H:%M:%S") if s.end else "")
                      for s in stage_times(job)]
    page.wait_for_selector("#stage-times svg")
    decided = {r[0]: r for r in cells(page, "#decisions tr.decision")}
    assert list(decided) == ["validate", "deploy", "rollback"]
    assert decided["deploy"][1] == "moved" and "moved production from 1 to 2" in decided["deploy"][3]
    rollback = job.rollback
    assert (f"accuracy = {rollback['value']:.4g} < 0.8 over {rollback['rows']} rows; "
            "production back from 2 to 1") in decided["rollback"][3]
    assert yard.models.get("cancer@production").version == 1
    logs = page.inner_text("#job-logs")
    assert "training on 400 rows" in logs and "breached the watch" in logs
    page.locator("#job").get_by_role("link", name=job.model_version).click()
    page.wait_for_url(f"**/ui/models/{job.model_version}")
    reports = cells(page, "#version-reports tr.report-row")
    assert [r[2] for r in reports] == ["passed"]
    assert f"job {job.id[:13]}… of hourly (rolled_back)" in page.inner_text("main")
    page.get_by_role("link", name=f"job {job.id[:13]}… of hourly (rolled_back)").click()
    page.wait_for_url(f"**/ui/automation/jobs/{job.id}")
    assert page.watch.errors == []


def test_a_refused_job_links_to_the_report_that_said_no(page: Any, site: dict[str, Any]) -> None:
    yard = site["yard"]
    job = yard.automation.job(site["jobs"]["constant"])
    report = yard.validation.report(job.report_id)
    page.goto(f"/ui/automation/jobs/{job.id}")
    assert "refused by the gate on metric:accuracy, champion:accuracy" in \
        page.inner_text("#decisions")
    assert "try the baseline" in page.inner_text("#job")  # the manual run's reason
    page.locator("#decisions").get_by_role("link", name="the report").click()
    page.wait_for_url(f"**/ui/validation/reports/{report.id}")
    rows = {r[0]: r for r in cells(page, "#checks tr.check-row")}
    assert list(rows) == [c.name for c in report.checks]
    for c in report.checks:
        row = rows[c.name]
        assert row[3] == c.status and row[4] == f"{c.value:.4g}" and row[5] == (c.threshold or "")
        if c.ci:
            assert row[6] == f"[{c.ci[0]:.4g}, {c.ci[1]:.4g}]"
        assert row[7] == str(c.n_rows)
    data = {r[0]: r for r in cells(page, "#report-data tr")[1:]}
    holdout = report.data["holdout"]
    assert data["holdout"][1:4] == [holdout["dataset"], str(holdout["version"]), holdout["digest"]]
    assert data["training: train"][3] == report.data["train"]["train"]["digest"]
    assert f"by job {job.id[:13]}…" in page.inner_text("main")
    page.get_by_role("link", name=report.against).click()  # the champion it was held to
    page.wait_for_url(f"**/ui/models/{report.against}")
    assert page.watch.errors == []


def test_a_failed_job_shows_its_traceback(page: Any, site: dict[str, Any]) -> None:
    page.goto(f"/ui/automation/jobs/{site['jobs']['flaky']}")
    error = page.inner_text("#job-error")
    assert "Traceback" in error and "RuntimeError: the training data service is down" in error
    assert page.inner_text("#decisions").count("Nothing decided") == 0
    assert "This job decided nothing (it ended at done)" in page.inner_text("#decisions")


def test_the_job_history_filters_and_pages(page: Any, site: dict[str, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    yard = site["yard"]
    monkeypatch.setattr(automation_page, "PAGE_SIZE", 2)
    page.goto("/ui/automation/jobs")
    ids = [j.id for j in yard.automation.jobs()]
    first = [r[0] for r in cells(page, "#jobs tr.job-row")]
    assert first == [i[:13] + "…" for i in ids[:2]]
    page.get_by_role("link", name="next →").click()
    page.wait_for_url("**page=2")
    assert [r[0] for r in cells(page, "#jobs tr.job-row")] == [i[:13] + "…" for i in ids[2:4]]
    page.select_option("#job-status", "failed")
    page.click("form[role=search] button")
    page.wait_for_url("**status=failed**")
    assert [r[1] for r in cells(page, "#jobs tr.job-row")] == ["flaky"]


def test_a_policy_is_disabled_and_enabled_from_its_page(page: Any, site: dict[str, Any]) -> None:
    yard = site["yard"]
    page.goto("/ui/automation/policies/register")
    page.get_by_role("button", name="Disable").click()
    page.wait_for_url("**/ui/automation/policies/register")
    expect(page.locator("h1")).to_contain_text("disabled")
    assert yard.automation.get("register").enabled is False
    page.get_by_role("button", name="Enable").click()
    expect(page.locator("h1")).to_contain_text("enabled")
    assert yard.automation.get("register").enabled is True
    records = yard.backend.audit.records(target="policy:register", newest_first=True, limit=2)
    assert [r.action for r in records] == ["policy.enable", "policy.disable"]


def test_the_audit_log_filters_pages_and_verifies(page: Any, site: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    audit = site["yard"].backend.audit
    head = audit.head()
    page.goto("/ui/audit")
    expect(page.locator("#chain-status")).to_contain_text(
        f"The chain verifies: {head.seq} records")
    assert "1 signed checkpoints" in page.inner_text("#chain-status")
    assert cells(page, "#checkpoints tr")[1][0] == str(site["checkpoint"].size)
    page.fill("#audit-target", "policy:*")
    page.fill("#audit-action", "job.queue")
    page.click("#audit-filters button")
    page.wait_for_url("**action=job.queue**")
    shown = [(int(r[0]), r[3], r[4]) for r in cells(page, "#audit-records tr.audit-row")]
    expected = audit.records(target="policy:*", action="job.queue", newest_first=True)
    assert shown == [(r.seq, r.action, r.target) for r in expected]
    page.locator("#audit-records").get_by_role("link", name="policy:hourly").click()
    page.wait_for_url("**/ui/automation/policies/hourly")
    page.goto("/ui/audit?since=yesterday")
    assert "since must be an ISO-8601 date" in page.inner_text("#audit-error")
    monkeypatch.setattr(audit_page, "PAGE_SIZE", 10)
    page.goto("/ui/audit")
    first = [int(r[0]) for r in cells(page, "#audit-records tr.audit-row")]
    assert first == list(range(head.seq, head.seq - 10, -1))
    page.get_by_role("link", name="older →").click()
    page.wait_for_url("**before=*")
    second = [int(r[0]) for r in cells(page, "#audit-records tr.audit-row")]
    assert second == list(range(head.seq - 10, head.seq - 20, -1))
    page.click("#reverify")
    expect(page.locator("#chain-status")).to_contain_text("The chain verifies")
    assert page.watch.errors == []


def test_a_broken_chain_is_shown_with_the_first_broken_record(
        tmp_path: Any, new_page: Callable[..., Any]) -> None:
    yard = my.connect(settings=Settings.load({}, home=tmp_path / "home"))
    srv = live_dashboard(yard)
    try:
        for i in range(3):
            with yard.start_run(experiment="e", name=f"r{i}"):
                pass
        with yard.backend.db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        page = new_page(srv.url)
        page.goto("/ui/audit")
        expect(page.locator("#chain-status")).to_contain_text("The chain is broken at record 2")
        assert "record 2" in page.inner_text("#chain-problems")
        assert cells(page, "#audit-records tr.audit-row")[-2][2] == "mallory"
    finally:
        srv.stop()
        yard.close()
