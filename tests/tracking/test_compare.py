"""Runs side by side: params that differ are flagged, metrics and data inputs line up, and
metric histories come back downsampled per run."""

from __future__ import annotations

import pandas as pd
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter, NotFound
from modelyard.tracking.compare import MAX_COMPARED, compare_runs
from modelyard.tracking.entities import Metric


def test_compare_flags_what_differs(tyard: my.Yard) -> None:
    dv = tyard.datasets.add("loans", pd.DataFrame({"x": [1.0, 2.0]}))
    ids = []
    for c, steps in ((1.0, 2000), (0.1, 3)):
        with tyard.start_run(experiment="cmp", datasets=[dv] if c == 1.0 else None) as run:
            run.log_params({"C": c, "solver": "lbfgs"})
            run.log_batch([Metric(key="loss", value=1 / (s + 1), step=s, timestamp=0)
                           for s in range(steps)])
            if c == 1.0:
                run.log_metrics({"auc": 0.9})
        ids.append(run.id)
    cmp = compare_runs(tyard.runs, ids + [ids[0]], max_points=100)
    assert [r.id for r in cmp.runs] == ids  # each run once
    params = {p.key: (p.values, p.differs) for p in cmp.params}
    assert params == {"C": (["1.0", "0.1"], True), "solver": (["lbfgs", "lbfgs"], False)}
    metrics = {p.key: p.values for p in cmp.metrics}
    assert metrics["auc"] == [0.9, None]
    assert [(i.key, i.values, i.differs) for i in cmp.inputs] == [
        ("training: loans", ["loans/1", None], True)]
    long, short = cmp.histories["loss"]
    assert long.run_id == ids[0] and len(long.steps) <= 100 and long.steps[-1] == 1999
    assert short.steps == [0, 1, 2]


def test_compare_refuses_bad_selections(tyard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="run_ids must name 1 to"):
        compare_runs(tyard.runs, [])
    with pytest.raises(InvalidParameter):
        compare_runs(tyard.runs, [f"r{i}" for i in range(MAX_COMPARED + 1)])
    with pytest.raises(NotFound):
        compare_runs(tyard.runs, ["0" * 32])
