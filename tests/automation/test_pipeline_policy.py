"""A pipeline as a retrain policy's entry point, run by the scheduler on its cron: the job runs
the pipeline with the policy's params and data windows, registers the model its last step made
(from the files that step stored) and links it to the run, the pipeline run and the step."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

import modelyard as my
from modelyard.automation.scheduler import Scheduler
from modelyard.errors import InvalidParameter

FLOW = textwrap.dedent('''
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    import modelyard as my


    @my.step
    def prepare(train) -> pd.DataFrame:
        return train.to_pandas().drop(columns=["ts"])


    @my.step
    def fit(frame: pd.DataFrame, depth: int) -> DecisionTreeClassifier:
        X, y = frame.drop(columns=["target"]), frame["target"]
        return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)


    @my.pipeline
    def nightly(train, depth: int = 2):
        return fit(prepare(train), depth)
''')


@pytest.fixture
def flow_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    folder = tmp_path / "flows"
    folder.mkdir()
    name = f"nightly_flow_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(FLOW)
    monkeypatch.syspath_prepend(str(folder))
    return folder, f"{name}:nightly"


def test_a_pipeline_policy_runs_on_the_cron_and_registers_its_model(
        cancer_yard: my.Yard, flow_entry: tuple[Path, str]) -> None:
    yard = cancer_yard
    folder, entry = flow_entry
    yard.automation.policy(
        "nightly-pipeline", model="cancer", entry_point=entry, code_path=str(folder),
        params={"depth": 3}, data={"train": {"dataset": "cancer", "last": "400d"}},
        triggers=[{"type": "cron", "cron": "0 * * * *"}], retries=0)
    sched = Scheduler.for_yard(yard, owner="test")
    assert sched.tick() == []
    yard.clock.advance(3600)
    [job] = sched.tick()
    assert job.status == "succeeded", job.logs + (job.error or "")
    mv = yard.models.get(job.model_version)
    run_id = mv.tags["modelyard.pipeline.run"]
    assert mv.tags["modelyard.pipeline.step"] == "fit" and mv.run_id is not None
    pipeline_run = yard.pipelines.get(run_id)
    assert pipeline_run.pipeline == "nightly" and pipeline_run.status == "succeeded"
    assert pipeline_run.params["depth"] == 3
    assert pipeline_run.params["train"]["$dataset"]["dataset"] == "cancer"
    assert yard.models.load(mv.ref).predict(
        yard.datasets.get("cancer").to_pandas().drop(columns=["ts", "target"]).head(3)
    ).shape == (3,)
    # the next hour: the window moved, so prepare runs again; its rows are the same, so the
    # tree is a cache hit and the new version has the same files
    yard.clock.advance(3600)
    [second] = sched.tick()
    again = yard.pipelines.get(yard.models.get(second.model_version).tags[
        "modelyard.pipeline.run"])
    assert {s.step: s.status for s in again.steps} == {"prepare": "succeeded", "fit": "cached"}
    assert yard.models.get(second.model_version).digest == mv.digest


def test_a_policy_naming_a_pipeline_without_the_data_parameter_is_refused(
        cancer_yard: my.Yard, flow_entry: tuple[Path, str]) -> None:
    folder, entry = flow_entry
    with pytest.raises(InvalidParameter, match=r"pipeline 'nightly', which has no parameter "
                                                r"'history' for its data role"):
        cancer_yard.automation.policy(
            "bad", model="cancer", entry_point=entry, code_path=str(folder),
            data={"history": {"dataset": "cancer", "last": "400d"}},
            triggers=[{"type": "cron", "cron": "0 * * * *"}])
