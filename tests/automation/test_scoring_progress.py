"""Batch scoring's progress bar: ``modelyard score``'s counter gets the total rows first and
reaches it as partitions finish; a run resumed after a failure starts the bar at the rows
already written and scores only the rest."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import modelyard as my
from modelyard.automation.executors import LocalExecutor, SerialExecutor
from modelyard.automation.scoring import score
from modelyard.cli._render import count_progress
from modelyard.errors import SchemaMismatch

FEATURES = ["income", "debt"]


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"income": rng.integers(10, 90, n).astype(float),
                          "debt": rng.integers(0, 60, n).astype(float),
                          "region": rng.choice(["north", "south"], n)})
    frame["target"] = ((frame.income - frame.debt) > 25).astype(int)
    return frame


@pytest.fixture(scope="module")
def model_yard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[my.Yard]:
    yard = my.connect(settings=my.Settings.load(
        {}, home=tmp_path_factory.mktemp("score-progress") / "home"))
    train = _rows(500, seed=1)
    train["region"] = pd.Categorical(train["region"], categories=["north", "south"])
    model = make_pipeline(ColumnTransformer([("x", "passthrough", FEATURES)]),
                          LogisticRegression(max_iter=300))
    model.fit(train[[*FEATURES, "region"]], train["target"])
    yard.models.register(model, "loans", example=train[[*FEATURES, "region"]].head(10))
    yield yard
    yard.close()


class Recorder:
    """Forwards to the CLI's counter and keeps what it was told."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.totals: list[int] = []
        self.steps: list[int] = []

    def set_total(self, n: int) -> None:
        self.totals.append(n)
        self.counter.set_total(n)

    def __call__(self, n: int) -> None:
        self.steps.append(n)
        self.counter(n)


def _write(folder: Path, region_at: dict[int, str] | None = None) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(2):
        frame = _rows(600, seed=10 + i)
        for row, value in (region_at or {}).items() if i == 1 else ():
            frame.loc[row, "region"] = value
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       folder / f"day-{i}.parquet", row_group_size=200)


def _bar(fn: Any) -> tuple[Recorder, str]:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=120, color_system=None)
    with count_progress("scoring with loans/1", None, delay=0, output=terminal) as advance:
        recorder = Recorder(advance)
        fn(recorder)
    return recorder, out.getvalue()


def test_the_bar_gets_the_total_and_reaches_it(model_yard: my.Yard, tmp_path: Path) -> None:
    _write(tmp_path / "in")
    with LocalExecutor(2) as ex:
        recorder, text = _bar(lambda p: score(model_yard, "loans/1", str(tmp_path / "in"),
                                              str(tmp_path / "out"), executor=ex,
                                              partition_rows=200, progress=p))
    assert recorder.totals == [1_200]
    assert recorder.steps[0] == 0 and sorted(recorder.steps[1:]) == [200] * 6
    assert "scoring with loans/1" in text and "1200/1200 rows" in text


def test_a_resumed_run_starts_the_bar_at_what_was_written(model_yard: my.Yard,
                                                          tmp_path: Path) -> None:
    _write(tmp_path / "in", region_at={450: "west"})   # day-1's third row group is bad
    dest = str(tmp_path / "out")
    failed, _ = _bar(lambda p: pytest.raises(SchemaMismatch, score, model_yard, "loans/1",
                                             str(tmp_path / "in"), dest,
                                             executor=SerialExecutor(), partition_rows=200,
                                             progress=p))
    assert failed.totals == [1_200] and sum(failed.steps) <= 1_000   # stopped at the bad one
    _write(tmp_path / "in")                                            # the data fixed
    resumed, text = _bar(lambda p: score(model_yard, "loans/1", str(tmp_path / "in"), dest,
                                         executor=SerialExecutor(), partition_rows=200,
                                         progress=p))
    assert resumed.steps == [1_000, 200]
    assert "1200/1200 rows" in text
    assert len(pd.read_parquet(dest)) == 1_200
