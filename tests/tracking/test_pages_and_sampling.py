"""Long lists and long histories read at the cost of what is shown: run search pages with
``offset``, and metric histories downsampled in the database (M4: each step range keeps its
first, last, lowest and highest value)."""

from __future__ import annotations

import math

import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import InvalidParameter
from modelyard.tracking.entities import Metric


def test_search_pages_with_offset(tyard: my.Yard, clock: FixedClock) -> None:
    ids = []
    for i in range(7):
        with tyard.start_run(experiment="pages", name=f"r{i}") as run:
            run.log_metrics({"m": float(i)})
        ids.append(run.id)
        clock.advance(1)
    newest_first = ids[::-1]
    pages = [[r.id for r in tyard.runs.search(max_results=3, offset=o)] for o in (0, 3, 6)]
    assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    by_metric = tyard.runs.search("metrics.m >= 2", order_by=["metrics.m ASC"],
                                  max_results=2, offset=2)
    assert [r.name for r in by_metric] == ["r4", "r5"]
    with pytest.raises(InvalidParameter, match="offset must be an integer") as info:
        tyard.runs.search(offset=-1)
    assert info.value.field == "offset"


def test_a_long_history_is_downsampled_in_the_database(tyard: my.Yard) -> None:
    n = 4000
    values = [math.sin(i / 50.0) for i in range(n)]
    values[1234] = 5.0  # a spike must survive downsampling
    values[2345] = -5.0
    values[3000] = math.nan
    with tyard.start_run(experiment="long") as run:
        run.log_batch([Metric(key="loss", value=v, step=i, timestamp=0)
                       for i, v in enumerate(values)])
    full = tyard.runs.metric_history(run.id, "loss")
    assert len(full) == n
    sampled = tyard.runs.metric_history(run.id, "loss", max_points=200)
    assert 50 < len(sampled) <= 200
    steps = [m.step for m in sampled]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == n - 1
    got = {m.step: m.value for m in sampled}
    assert got[1234] == 5.0 and got[2345] == -5.0
    assert all(got[s] == values[s] or (math.isnan(got[s]) and math.isnan(values[s]))
               for s in got)  # every point kept is a logged point
    short = tyard.runs.metric_history(run.id, "loss", max_points=n)
    assert len(short) == n  # nothing to reduce
    with pytest.raises(InvalidParameter, match="max_points must be an integer of at least 8"):
        tyard.runs.metric_history(run.id, "loss", max_points=3)


def test_sampling_works_the_same_over_http(remote_yard: my.Yard) -> None:
    with remote_yard.start_run(experiment="remote") as run:
        run.log_batch([Metric(key="acc", value=float(i % 7), step=i, timestamp=0)
                       for i in range(500)])
    sampled = remote_yard.runs.metric_history(run.id, "acc", max_points=40)
    assert 10 < len(sampled) <= 40
    assert [r.id for r in remote_yard.runs.search(max_results=1, offset=0)] == [run.id]
    assert remote_yard.runs.search(max_results=1, offset=1) == []
