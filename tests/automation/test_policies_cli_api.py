"""``modelyard policies``/``jobs``/``scheduler --once``, the REST routes, lease takeover and
the commit trigger."""

from __future__ import annotations

import json
import subprocess
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.automation.scheduler import Scheduler
from modelyard.cli.main import app

from .test_scheduler import _champion, _policy


def _cli(yard: my.Yard, db_url: str, tmp_path: Path, *args: str) -> object:
    where = ["--db", db_url, "--artifacts", str(tmp_path / "artifacts"), "--home",
             str(yard.settings.home)]
    return CliRunner().invoke(app, [*where, *args])


def test_policies_and_jobs_from_the_command_line(cancer_yard: my.Yard, db_url: str,
                                                 tmp_path: Path,
                                                 project: tuple[Path, str]) -> None:
    yard = cancer_yard  # the CLI runs on the real clock: the window reaches back to the rows
    folder, entry = project
    (folder / "policy.yaml").write_text(textwrap.dedent(f'''
        name: nightly
        model: cancer
        entry_point: {entry}
        data: {{train: {{dataset: cancer, last: 100000d}}}}
        triggers: [{{type: cron, cron: "0 3 * * *", timezone: Europe/Paris}}]
    '''))
    saved = _cli(yard, db_url, tmp_path, "policies", "set", str(folder / "policy.yaml"))
    assert saved.exit_code == 0, saved.output
    assert "policy nightly saved (revision 1, enabled)" in saved.output
    assert yard.automation.get("nightly").spec.code_path == str(folder.resolve())
    listed = json.loads(_cli(yard, db_url, tmp_path, "policies", "list", "--json").output)
    assert [p["name"] for p in listed] == ["nightly"]
    shown = _cli(yard, db_url, tmp_path, "policies", "show", "nightly")
    assert "Europe/Paris" in shown.output and "no jobs yet" in shown.output
    assert _cli(yard, db_url, tmp_path, "policies", "disable", "nightly").exit_code == 0
    assert yard.automation.get("nightly").enabled is False
    assert _cli(yard, db_url, tmp_path, "policies", "enable", "nightly").exit_code == 0
    queued = _cli(yard, db_url, tmp_path, "policies", "run", "nightly", "--reason", "now")
    assert queued.exit_code == 0 and queued.output.startswith("job ")
    ran = _cli(yard, db_url, tmp_path, "scheduler", "--once")
    assert ran.exit_code == 0 and "nightly succeeded done" in ran.output, ran.output
    [job] = json.loads(_cli(yard, db_url, tmp_path, "jobs", "list", "--json").output)
    assert (job["trigger"], job["status"], job["reason"]) == ("manual", "succeeded",
                                                              {"reason": "now"})
    shown = _cli(yard, db_url, tmp_path, "jobs", "show", job["id"])
    assert "cancer/1" in shown.output and "no validation suite: registered only" in shown.output
    table = _cli(yard, db_url, tmp_path, "jobs", "list")
    assert "nightly" in table.output and "manual" in table.output
    bad = _cli(yard, db_url, tmp_path, "policies", "enable", "nightlyy")
    assert bad.exit_code == 1
    assert bad.output.startswith("error: No policy named 'nightlyy'; the policies are nightly.")
    (folder / "bad.yaml").write_text("name: b\nmodel: cancer\nentry_point: x:y\n"
                                     "triggers: [{type: cron, cron: '0 3 * *'}]\n"
                                     "data: {train: {dataset: cancer}}\n")
    refused = _cli(yard, db_url, tmp_path, "policies", "set", str(folder / "bad.yaml"))
    assert refused.exit_code == 1 and "cron must be a cron expression" in refused.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_policies_and_jobs_over_rest(cancer_yard: my.Yard, server_factory, tmp_path: Path,
                                     project: tuple[Path, str]) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("hourly", _policy(project))
    live = server_factory(yard)
    remote = my.connect(live.url, settings=my.Settings.load({}, home=tmp_path / "client"))
    try:
        assert [p.name for p in remote.automation.policies()] == ["hourly"]
        assert remote.automation.disable("hourly").enabled is False
        job = remote.automation.run_now("hourly")
        [ran] = Scheduler.for_yard(yard, owner="a").tick()
        assert ran.id == job.id and ran.status == "succeeded"
        assert remote.automation.job(job.id).model_version == "cancer/2"
        assert [j.id for j in remote.automation.jobs(policy="hourly")] == [job.id]
        with pytest.raises(my.NotFound, match="No job with id 'nope'"):
            remote.automation.job("nope")
        with pytest.raises(my.InvalidParameter, match="the scheduler works on the database"):
            Scheduler.for_yard(remote)
    finally:
        remote.close()


def test_a_job_whose_scheduler_died_is_resumed_by_another(cancer_yard: my.Yard,
                                                          project: tuple[Path, str]) -> None:
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("hourly", _policy(project))
    yard.clock.advance(3600)
    dead = Scheduler.for_yard(yard, owner="dead", lease=timedelta(seconds=30))
    dead.plan()
    [taken] = yard.backend.automation.claim("dead", timedelta(seconds=30))  # then it dies
    other = Scheduler.for_yard(yard, owner="alive")
    assert other.tick() == []  # its lease still holds
    yard.clock.advance(31)
    [resumed] = other.tick()
    assert resumed.id == taken.id and resumed.status == "succeeded" and resumed.attempt == 1
    assert yard.backend.automation.update_job(taken.id, "dead", log="late") is False
    assert "taken by alive" in yard.automation.job(taken.id).logs


def test_a_new_commit_of_the_entry_points_repository_triggers_a_job(
        cancer_yard: my.Yard, project: tuple[Path, str]) -> None:
    folder, _ = project

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                       cwd=folder, check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    yard = cancer_yard
    _champion(yard, project)
    yard.automation.policy("on-commit", _policy(project, triggers=[{"type": "commit"}],
                                                deploy={"mode": "none"}, poll="0s"))
    sched = Scheduler.for_yard(yard, owner="s")
    assert sched.tick() == []
    (folder / "notes.txt").write_text("a change\n")
    git("add", "notes.txt")
    git("commit", "-q", "-m", "second")
    [job] = sched.tick()
    assert job.trigger == "commit" and job.status == "succeeded"
    run = yard.runs.get(yard.models.get(job.model_version).run_id)  # type: ignore[arg-type]
    assert run.code_commit == job.reason["commit"] and job.reason["previous"] != run.code_commit
    assert sched.tick() == []
