"""The same pipeline on the executors: local processes and a real Dask LocalCluster. Steps are
imported by name on the workers; outputs come back, are stored, and a second run is all hits."""

from __future__ import annotations

from typing import Any

import modelyard as my
from modelyard.automation.executors import LocalExecutor

from .conftest import Project


def _run_twice(yard: my.Yard, project: Project, executor: Any) -> None:
    flow = project.flow()
    first = yard.pipelines.run(flow.flow, executor=executor)
    assert first.status == "succeeded" and first.executor == executor.describe()
    assert project.calls() == ["evaluate", "features", "load", "stats", "train"]
    assert 0.0 <= first.output("evaluate") <= 1.0
    second = yard.pipelines.run(flow.flow, executor=executor)
    assert {s.status for s in second.steps} == {"cached"} and project.calls() == []
    third = yard.pipelines.run(flow.flow, executor=executor, factor=5.0)
    assert project.calls() == ["evaluate", "features", "train"]
    assert third.output("evaluate") == first.output("evaluate") or third.status == "succeeded"


def test_a_pipeline_runs_on_local_processes(local_yard: my.Yard, project: Project) -> None:
    with LocalExecutor(2) as executor:
        _run_twice(local_yard, project, executor)


def test_a_pipeline_runs_on_a_dask_local_cluster(local_yard: my.Yard, project: Project,
                                                 dask_executor: Any) -> None:
    _run_twice(local_yard, project, dask_executor)
