"""A yard with a dataset of breast-cancer rows (event times, a segment column) and two
registered versions trained through run_training: ``cancer/1`` (logistic regression, alias
``production``) and ``cancer/2`` (a gradient-boosted model)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import modelyard as my
from modelyard.automation.retrain import run_training

TRAINING = textwrap.dedent('''
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from modelyard.automation.retrain import TrainingResult

    def train(params, data, run):
        frame = data["train"].to_pandas()
        X, y = frame.drop(columns=["ts", "target", "size_band"]), frame["target"]
        if params.get("kind") == "gbm":
            model = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0)
        elif params.get("kind") == "constant":
            from sklearn.dummy import DummyClassifier
            model = DummyClassifier(strategy="constant", constant=0)
        else:
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        return TrainingResult(model.fit(X, y), example=X.head(5))
''')


def cancer_frame() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [c.replace(" ", "_") for c in data.columns]
    data.insert(0, "ts", pd.date_range("2025-01-01", periods=len(data), freq="12h", tz="UTC"))
    bands = pd.cut(data["mean_radius"], [0, 12, 16, 21, 100], labels=["s", "m", "l", "xl"])
    data["size_band"] = bands.astype(str)
    return data


@dataclass
class Cancer:
    yard: my.Yard
    holdout_start: str = "2025-08-01"


@pytest.fixture
def trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "cancer_validation_training.py").write_text(TRAINING)
    monkeypatch.syspath_prepend(str(folder))
    return "cancer_validation_training:train"


@pytest.fixture
def cancer(yard: my.Yard, trainer: str) -> my.Yard:
    frame = cancer_frame()
    dv = yard.datasets.add("cancer", frame, time_column="ts")
    train = yard.datasets.view("cancer", version=dv.version, window_start="2025-01-01",
                               window_end="2025-08-01")
    v1 = run_training(yard, trainer, model_name="cancer", data={"train": train},
                      params={"kind": "lr"})
    run_training(yard, trainer, model_name="cancer", data={"train": train},
                 params={"kind": "gbm"})
    yard.models.set_alias("cancer", "production", v1.version)
    return yard
