"""Batch scoring: Parquet files (a glob, a folder, a dataset version) scored by partitions on
this process, local processes and a real Dask cluster (the same predictions), written with a
prediction id per row; a run that fails part way resumes without redoing what was written;
bad input fails before anything is written; predictions can go to the prediction log."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from typer.testing import CliRunner

import modelyard as my
from modelyard.automation.executors import DaskExecutor, LocalExecutor, SerialExecutor
from modelyard.automation.scoring import score
from modelyard.cli.main import app
from modelyard.errors import AlreadyExists, InvalidParameter, SchemaMismatch

FEATURES = ["income", "age", "debt"]


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "row": np.arange(n) + seed * 100_000,
        "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
        "income": rng.integers(10, 90, n).astype(float),
        "age": rng.integers(18, 70, n).astype(float),
        "debt": rng.integers(0, 60, n).astype(float),
        "region": rng.choice(["north", "south"], n),
    })
    frame["target"] = ((frame.income - frame.debt + rng.normal(0, 8, n)) > 25).astype(int)
    return frame


@pytest.fixture(scope="module")
def scored_yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[my.Yard, Path]]:
    """A yard with model loans/1 (inputs: the features and a 'region' category it ignores)
    and three input files of 1,500 rows in row groups of 500."""
    root = tmp_path_factory.mktemp("scoring")
    yard = my.connect(settings=my.Settings.load({}, home=root / "home"))
    train = _rows(2_000, seed=9)
    train["region"] = pd.Categorical(train["region"], categories=["north", "south"])
    model = make_pipeline(ColumnTransformer([("x", "passthrough", FEATURES)]),
                          LogisticRegression(max_iter=500))
    model.fit(train[[*FEATURES, "region"]], train["target"])
    yard.models.register(model, "loans", example=train[[*FEATURES, "region"]].head(20))
    inputs = root / "in"
    inputs.mkdir()
    for i in range(3):
        pq.write_table(pa.Table.from_pandas(_rows(1_500, seed=i), preserve_index=False),
                       inputs / f"day-{i}.parquet", row_group_size=500)
    yield yard, inputs
    yard.close()


def _read(dest: Path) -> pd.DataFrame:
    return pd.read_parquet(dest).sort_values("row").reset_index(drop=True)


def test_scores_every_row_with_ids_and_the_version(scored_yard: tuple[my.Yard, Path],
                                                    tmp_path: Path) -> None:
    yard, inputs = scored_yard
    seen: list[int] = []
    result = score(yard, "loans/1", str(inputs / "day-*.parquet"), str(tmp_path / "out"),
                   executor=SerialExecutor(), partition_rows=1_000, progress=seen.append)
    assert (result.rows, result.partitions, result.written, result.skipped) == (4_500, 6, 6, 0)
    assert sum(seen) == 4_500
    out = _read(tmp_path / "out")
    source = pd.concat([_rows(1_500, seed=i) for i in range(3)]).sort_values("row")
    loaded = yard.models.load("loans/1")
    np.testing.assert_array_equal(out["prediction"], loaded.predict(source))
    np.testing.assert_allclose(out[["proba.0", "proba.1"]].to_numpy(),
                               loaded.predict_proba(source), rtol=1e-12)
    assert list(out["ts"]) == list(source["ts"])           # the inputs are kept
    assert out["prediction_id"].is_unique
    assert {uuid.UUID(hex=i).version for i in out["prediction_id"]} == {7}
    assert set(out["model_name"]) == {"loans"} and set(out["model_version"]) == {1}


def test_dask_partitions_give_the_local_predictions(scored_yard: tuple[my.Yard, Path],
                                                    tmp_path: Path,
                                                    dask_executor: DaskExecutor) -> None:
    yard, inputs = scored_yard
    with LocalExecutor(2) as local:
        score(yard, "loans/1", str(inputs), str(tmp_path / "local"), executor=local,
              partition_rows=500, keep=["row"])
    result = score(yard, "loans/1", str(inputs), str(tmp_path / "dask"),
                   executor=dask_executor, partition_rows=500, keep=["row"])
    assert result.written == 9 and "dask" in result.executor
    a, b = _read(tmp_path / "local"), _read(tmp_path / "dask")
    assert list(a.columns) == list(b.columns) == [
        "row", "prediction", "proba.0", "proba.1", "prediction_id", "model_name",
        "model_version"]
    pd.testing.assert_frame_equal(a.drop(columns="prediction_id"),
                                  b.drop(columns="prediction_id"))
    assert not set(a["prediction_id"]) & set(b["prediction_id"])


def test_a_run_that_fails_part_way_resumes_where_it_stopped(
        scored_yard: tuple[my.Yard, Path], tmp_path: Path) -> None:
    yard, good = scored_yard
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in sorted(good.glob("*.parquet")):
        (inputs / path.name).write_bytes(path.read_bytes())
    broken = _rows(1_500, seed=1)
    broken.loc[1_200, "region"] = "west"          # found only when its row group is read
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False),
                   inputs / "day-1.parquet", row_group_size=500)
    dest = tmp_path / "out"
    with pytest.raises(SchemaMismatch, match=r"day-1\.parquet \(partition 5, row groups \[2\]\).*'west'.* row 200"):
        score(yard, "loans/1", str(inputs), str(dest), executor=SerialExecutor(),
              partition_rows=500)
    written = {p.name: p.read_bytes() for p in dest.glob("part-*.parquet")}
    assert sorted(written) == [f"part-0000{i}.parquet" for i in range(9) if i != 5]
    assert not list(dest.glob(".part-*"))            # no half-written file is left

    broken.loc[1_200, "region"] = "north"         # the data fixed, the same command again
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False),
                   inputs / "day-1.parquet", row_group_size=500)
    result = score(yard, "loans/1", str(inputs), str(dest), executor=SerialExecutor(),
                   partition_rows=500)
    assert (result.skipped, result.written, result.rows) == (8, 1, 4_500)
    for name, data in written.items():
        assert (dest / name).read_bytes() == data    # what was written is not redone
    assert len(_read(dest)) == 4_500 and _read(dest)["prediction_id"].is_unique


def test_bad_input_fails_before_anything_is_written(scored_yard: tuple[my.Yard, Path],
                                                    tmp_path: Path) -> None:
    yard, inputs = scored_yard
    lacking = tmp_path / "lacking.parquet"
    pq.write_table(pa.Table.from_pandas(_rows(10, 1).drop(columns="income")), lacking)
    with pytest.raises(SchemaMismatch, match=r"lacks column\(s\) \['income'\]"):
        score(yard, "loans/1", str(lacking), str(tmp_path / "a"), executor=SerialExecutor())
    with pytest.raises(InvalidParameter, match="keep must name columns"):
        score(yard, "loans/1", str(inputs), str(tmp_path / "b"), keep=["zip"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InvalidParameter, match="could not reach the Dask scheduler"):
        score(yard, "loans/1", str(inputs), str(tmp_path / "c"),
              executor=f"dask://127.0.0.1:{port}")
    assert not any((tmp_path / d).exists() for d in "abc")
    dest = tmp_path / "d"
    score(yard, "loans/1", str(inputs / "day-0.parquet"), str(dest), executor=SerialExecutor())
    with pytest.raises(AlreadyExists, match="other inputs or options"):
        score(yard, "loans/1", str(inputs), str(dest), executor=SerialExecutor())
    again = score(yard, "loans/1", str(inputs), str(dest), executor=SerialExecutor(),
                  overwrite=True)
    assert again.written == 3 and len(pd.read_parquet(dest)) == 4_500


def test_dataset_versions_score_and_log_for_monitoring(scored_yard: tuple[my.Yard, Path],
                                                       tmp_path: Path) -> None:
    yard, _ = scored_yard
    yard.datasets.add("incoming", _rows(700, seed=5), time_column="ts")
    result = score(yard, "loans/1", "dataset:incoming", str(tmp_path / "out"),
                   executor=SerialExecutor(), log_endpoint="loans-batch")
    assert result.logged == 700
    out = pd.read_parquet(tmp_path / "out")
    logged = yard.predictions.query("loans-batch", "2000-01-01", "2100-01-01")
    assert set(logged["id"]) == set(out["prediction_id"])
    record = yard.predictions.get(out["prediction_id"].iloc[0])
    assert record.route == "batch" and record.model_version == 1
    assert set(record.inputs) == {*FEATURES, "region"}
    assert set(record.outputs["proba"]) == {"0", "1"}
    rerun = score(yard, "loans/1", "dataset:incoming", str(tmp_path / "out"),
                  executor=SerialExecutor(), log_endpoint="loans-batch")
    assert (rerun.skipped, rerun.logged) == (1, 0)   # logged once, not again


def test_cli_scores_and_refuses_bad_input_with_one_line(scored_yard: tuple[my.Yard, Path],
                                                        tmp_path: Path) -> None:
    yard, inputs = scored_yard
    runner = CliRunner()
    home = ["--home", str(yard.settings.home)]
    done = runner.invoke(app, [*home, "score", "loans/1", str(inputs / "*.parquet"),
                               str(tmp_path / "out"), "--executor", "serial", "--keep", "row"])
    assert done.exit_code == 0, done.output
    assert "scored 4,500 rows with loans/1" in done.output
    assert list(pd.read_parquet(tmp_path / "out").columns)[:2] == ["row", "prediction"]
    bad = runner.invoke(app, [*home, "score", "loans/1", str(tmp_path / "nothing-*.parquet"),
                              str(tmp_path / "x")])
    assert bad.exit_code == 1
    assert bad.output.strip().startswith("error: source") and "matches no Parquet" in bad.output
    assert not (tmp_path / "x").exists()
