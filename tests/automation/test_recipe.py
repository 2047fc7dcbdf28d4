"""The recipe retrain executes is stored with the run when it is created: a writer who changes
the run's tags afterwards does not change what retrain runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris

import modelyard as my
from modelyard.automation.retrain import retrain, run_training
from modelyard.tracking.store import TrackingStore
from modelyard.transport import endpoints_of

TRAINING = textwrap.dedent('''
    from sklearn.tree import DecisionTreeClassifier

    def train(params, data, run):
        frame = data["train"].to_pandas()
        return DecisionTreeClassifier(**params).fit(frame.drop(columns=["target"]),
                                                    frame["target"])

    def hijack(params, data, run):
        raise RuntimeError("the hijacked entry point ran")
''')


@pytest.fixture
def trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "iris_training.py").write_text(TRAINING)
    monkeypatch.syspath_prepend(str(folder))
    return "iris_training:train"


def test_retrain_runs_the_recipe_stored_at_creation_not_a_tag(yard: my.Yard,
                                                               trainer: str) -> None:
    frame = load_iris(as_frame=True).frame
    dv = yard.datasets.add("iris", frame)
    original = run_training(yard, trainer, model_name="iris", data={"train": dv},
                            params={"max_depth": 2, "random_state": 0})
    run = yard.runs.get(original.run_id)
    assert run.recipe is not None and run.recipe["entry_point"] == trainer
    # a writer rewrites what used to be the recipe's home (and adds a tag of that name)
    forged = {**run.recipe, "entry_point": "iris_training:hijack"}
    yard.backend.tracking.set_tags(run.id, {"modelyard.training": json.dumps(forged)})
    again = retrain(yard, original.ref, as_of=pd.Timestamp.now(tz="UTC"))
    assert yard.runs.get(again.run_id).recipe["entry_point"] == trainer
    assert again.source_version == original.ref


def test_no_operation_changes_a_recipe() -> None:
    writers = {spec.name for _, spec in endpoints_of(TrackingStore)
               if spec.permission != "read"}
    assert "create_run" in writers
    import inspect

    for name in writers - {"create_run"}:
        assert "recipe" not in inspect.signature(getattr(TrackingStore, name)).parameters


def test_the_recipe_travels_over_http(remote_yard: my.Yard) -> None:
    run = remote_yard.runs.start("e", recipe={"entry_point": "m:f", "params": {"a": 1}})
    run.end()
    assert remote_yard.runs.get(run.id).recipe == {"entry_point": "m:f", "params": {"a": 1}}
