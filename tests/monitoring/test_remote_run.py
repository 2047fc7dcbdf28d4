"""A remote yard's monitor run happens on the server, over the whole window (no silent cap);
a remote query reads every page; a run loads only its endpoint's labels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import modelyard as my
from modelyard.wal.records import new_prediction_id

from .conftest import records

N = 100_001  # one more than a page of the predictions route


def test_a_remote_run_reads_the_whole_window_on_the_server(
        local_yard: my.Yard, server_factory: Callable[..., Any]) -> None:
    local_yard.predictions.log(records(N, seed=3))
    srv = server_factory(local_yard)
    start, end = "2000-01-01", "2100-01-01"
    with my.connect(srv.url, settings=my.Settings.load({}, home=local_yard.settings.home / "c")) \
            as remote:
        result = remote.monitoring.run("loans", start=start, end=end,
                                       reference="window:2000-01-01/2100-01-01")
        assert result.run.n_rows == N  # was cut at 100,000 without a word
        assert [f.kind for f in result.findings if f.kind in ("no_data", "log_unreadable")] == []
        assert remote.predictions.query("loans", start, end).height == N
        assert remote.predictions.query("loans", start, end, limit=5).height == 5
        assert remote.monitoring.runs("loans")[0].n_rows == N  # stored by the server
        in_a_day = remote.monitoring.run("loans", window=timedelta(days=1), save=False)
        assert in_a_day.run.window_end - in_a_day.run.window_start == timedelta(days=1)


def test_a_run_loads_only_its_endpoints_labels(local_yard: my.Yard) -> None:
    now = local_yard.clock.now()
    ids = {name: [new_prediction_id()[0] for _ in range(3)] for name in ("a", "b", "none")}
    for name, pids in ids.items():
        local_yard.monitoring.feedback(pids, [1, 0, 1],
                                       endpoint=None if name == "none" else name)
    got, _ = local_yard.backend.monitoring.feedback_labels(
        now - timedelta(minutes=5), now + timedelta(minutes=5), "a")
    assert sorted(got) == sorted(ids["a"] + ids["none"])
