"""``modelyard pipelines run|list|show|resume`` and the REST routes (a remote yard runs the
steps where it is started and records them on the server)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app

from .conftest import Project
from .test_runs import FAILING


def _cli(yard: my.Yard, project: Project, *args: str) -> object:
    return CliRunner().invoke(app, ["--home", str(yard.settings.home), *args])


def test_run_show_and_list_from_the_command_line(local_yard: my.Yard, project: Project,
                                                 monkeypatch: object) -> None:
    monkeypatch.chdir(project.root)  # type: ignore[attr-defined]
    target = f"{project.name}.flow:flow"
    first = _cli(local_yard, project, "pipelines", "run", target, "--param", "factor=3",
                 "-p", "n=50")
    assert first.exit_code == 0, first.output
    assert "succeeded" in first.output and "no earlier completed run" in first.output
    second = _cli(local_yard, project, "pipelines", "run", target, "--param", "factor=4",
                  "-p", "n=50", "--json")
    run = json.loads(second.output)
    steps = {s["step"]: s for s in run["steps"]}
    assert steps["load"]["status"] == "cached"
    assert steps["features"]["reasons"] == ["parameter 'factor' changed: 3.0 -> 4.0"]
    shown = _cli(local_yard, project, "pipelines", "show", run["id"])
    assert "hit: " in shown.output and "parameter 'factor' changed: 3.0 -> 4.0" in shown.output
    assert "after" in shown.output and "load" in shown.output
    listed = _cli(local_yard, project, "pipelines", "list")
    assert run["id"] in listed.output and listed.output.count("flow") >= 2


def test_bad_command_lines_are_one_error_line(local_yard: my.Yard, project: Project,
                                              monkeypatch: object) -> None:
    monkeypatch.chdir(project.root)  # type: ignore[attr-defined]
    target = f"{project.name}.flow:flow"
    for args, message in [
        (["--param", "factor=big"], ("error: parameter 'factor' of pipeline 'flow' must be "
                                     "float. Got 'big' instead.")),
        (["--param", "fctor=2"], "error: pipeline 'flow' has no parameter 'fctor'"),
        (["--param", "factor"], "error: --param must look like key=value."),
    ]:
        out = CliRunner().invoke(app, ["--home", str(local_yard.settings.home), "pipelines",
                                       "run", target, *args])
        assert out.exit_code == 1 and message in out.output, out.output
    missing = _cli(local_yard, project, "pipelines", "run", "nowhere_at_all:flow")
    assert missing.exit_code == 1
    assert "error: pipeline module 'nowhere_at_all' cannot be imported" in missing.output
    unknown = _cli(local_yard, project, "pipelines", "show", "nope")
    assert unknown.exit_code == 1 and "No pipeline run with id 'nope'" in unknown.output


def test_resume_from_the_command_line(local_yard: my.Yard, project: Project,
                                      monkeypatch: object) -> None:
    monkeypatch.chdir(project.root)  # type: ignore[attr-defined]
    project.flow()
    project.write("failing", FAILING)
    failed = _cli(local_yard, project, "pipelines", "run", f"{project.name}.failing:chain")
    assert failed.exit_code == 1 and "ZeroDivisionError: the data had no rows" in failed.output
    run_id = local_yard.pipelines.runs()[0].id
    project.calls()
    project.write("failing", FAILING.replace("BROKEN = True", "BROKEN = False"))
    resumed = _cli(local_yard, project, "pipelines", "resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert project.calls() == ["after", "fragile"]
    assert local_yard.pipelines.get(run_id).status == "succeeded"


def test_a_remote_yard_runs_the_steps_here_and_records_them_there(
        remote_yard: my.Yard, yard: my.Yard, project: Project, tmp_path: Path) -> None:
    flow = project.flow()
    first = remote_yard.pipelines.run(flow.flow, n=60)
    second = remote_yard.pipelines.run(flow.flow, n=60)
    assert {s.status for s in second.steps} == {"cached"}
    stored = yard.pipelines.get(first.id)  # the server's own view
    assert stored.status == "succeeded" and stored.output("evaluate") == \
        second.output("evaluate")
    assert [r.id for r in remote_yard.pipelines.runs()] == [second.id, first.id]
