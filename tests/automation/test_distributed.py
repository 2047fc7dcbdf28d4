"""Training on partitioned data: dataset fragments become the partitions of a Dask DataFrame
for xgboost.dask and lightgbm.dask on a real LocalCluster; the models equal the ones trained
in one process on the same rows."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import modelyard as my
from modelyard.automation.distributed import (
    FrozenView,
    freeze,
    partitions,
    train_lightgbm,
    train_xgboost,
)
from modelyard.automation.executors import DaskExecutor, SerialExecutor
from modelyard.errors import InvalidParameter

from .distdata import FEATURES, loans


@pytest.fixture(scope="module")
def fragments_yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    """A yard whose dataset 'loans' has 4 fragments, one per quarter of 2025."""
    home = tmp_path_factory.mktemp("dist")
    yard = my.connect(settings=my.Settings.load({}, home=home / "home"))
    data = loans(8_000, "2025-01-01", "2026-01-01", seed=1)
    quarters = np.array_split(np.arange(len(data)), 4)
    yard.datasets.add("loans", data.iloc[quarters[0]], time_column="ts")
    for rows in quarters[1:]:
        yard.datasets.append("loans", data.iloc[rows])
    yield yard
    yard.close()


def test_frozen_views_read_the_same_rows_anywhere(fragments_yard: my.Yard) -> None:
    view = fragments_yard.datasets.window("loans", "2025-03-01", "2025-09-01")
    frozen = pickle.loads(pickle.dumps(freeze(view)))
    assert isinstance(frozen, FrozenView)
    assert frozen.to_pandas().equals(view.to_pandas())
    assert frozen.count() == view.count()
    narrower = frozen.window("2025-04-01", "2025-05-01")
    assert narrower.count() == fragments_yard.datasets.window(
        "loans", "2025-04-01", "2025-05-01").count()
    with pytest.raises(InvalidParameter, match="cannot travel in time"):
        frozen.at("2025-01-01")


def test_fragments_map_to_partitions(fragments_yard: my.Yard) -> None:
    whole = fragments_yard.datasets.get("loans")
    assert len(partitions(whole)) == 4
    window = fragments_yard.datasets.window("loans", "2025-04-15", "2025-06-01")
    parts = partitions(window)
    assert len(parts) == 1 and parts[0].start is not None   # only Q2's fragment holds rows


def _proba(booster: object, frame: object) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(frame))  # type: ignore[attr-defined]


def test_xgboost_dask_equals_local(fragments_yard: my.Yard, dask_executor: DaskExecutor) -> None:
    view = fragments_yard.datasets.window("loans", "2025-01-01", "2025-10-01")
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 0}
    local = train_xgboost(SerialExecutor(), view, label="target", params=params,
                          num_boost_round=15)
    dist = train_xgboost(dask_executor, view, label="target", params=params, num_boost_round=15)
    X = view.to_pandas(columns=FEATURES)
    np.testing.assert_allclose(_proba(dist, X), _proba(local, X), rtol=0, atol=1e-6)
    mv = fragments_yard.models.register(dist, "loans-xgb", example=X.head(5))
    loaded = fragments_yard.models.load(mv.ref)
    np.testing.assert_allclose(loaded.predict(X.head(50)), _proba(local, X.head(50)), atol=1e-6)


def test_lightgbm_dask_equals_local(fragments_yard: my.Yard, dask_executor: DaskExecutor) -> None:
    view = fragments_yard.datasets.get("loans")
    params = {"n_estimators": 15, "num_leaves": 15, "random_state": 0, "deterministic": True}
    local = train_lightgbm(None, view, label="target", params=params)
    dist = train_lightgbm(dask_executor, view, label="target", params=params)
    X = view.to_pandas(columns=FEATURES)
    np.testing.assert_allclose(dist.predict_proba(X), local.predict_proba(X), atol=1e-9)


def test_bad_training_input_is_named(fragments_yard: my.Yard) -> None:
    view = fragments_yard.datasets.get("loans")
    with pytest.raises(InvalidParameter, match="label must be a column of loans"):
        train_xgboost(None, view, label="defaulted")
    with pytest.raises(InvalidParameter, match="features must be columns"):
        train_lightgbm(None, view, label="target", features=["income", "zip"])


TRAIN_ON_EXECUTOR = '''
from modelyard.automation.distributed import train_xgboost

def train(params, data, run, executor):
    run.log_params({"executor": executor.kind})
    return train_xgboost(executor, data["train"], label="target", num_boost_round=5,
                         params={"objective": "binary:logistic", "seed": 0})

def plain(params, data, run):
    raise AssertionError("not called")
'''


def test_run_training_hands_the_executor_to_the_entry_point(
        fragments_yard: my.Yard, dask_executor: DaskExecutor, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.automation.retrain import run_training

    (tmp_path / "xgb_on_executor.py").write_text(TRAIN_ON_EXECUTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {"train": fragments_yard.datasets.window("loans", "2025-01-01", "2025-07-01")}
    mv = run_training(fragments_yard, "xgb_on_executor:train", model_name="xgb-exec", data=data,
                      executor=dask_executor)
    assert mv.flavor == "xgboost"
    assert fragments_yard.runs.get(mv.run_id).params["executor"] == "dask"
    with pytest.raises(InvalidParameter, match="does not take one"):
        run_training(fragments_yard, "xgb_on_executor:plain", model_name="xgb-exec", data=data,
                     executor="serial")
    with pytest.raises(InvalidParameter, match="does not take one"):
        fragments_yard.automation.policy(
            "p", model="xgb-exec", entry_point="xgb_on_executor:plain", executor="dask",
            data={"train": {"dataset": "loans", "last": "90d"}})
    with pytest.raises(InvalidParameter, match="executor"):
        fragments_yard.automation.policy(
            "p", model="xgb-exec", entry_point="xgb_on_executor:train", executor="spark://x",
            data={"train": {"dataset": "loans", "last": "90d"}})
