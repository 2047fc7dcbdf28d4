"""Sustained traffic at 80% of the measured saturation, with the durable prediction log: no
request fails, memory stays flat, and the log holds exactly the answered predictions.

(``bench/reliability.py`` runs the same for 60 s; here a few seconds.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelyard as my

from .conftest import iris_rows
from .harness import answers, closed_loop, free_port, model_server, open_loop, wait_for

RSS_GROWTH_BOUND = 64 << 20  # bytes; a leak of a few hundred bytes a request would pass it


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_80_percent_of_saturation_loses_nothing_and_memory_stays_flat(
        serving_yard: my.Yard, iris: Any, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = model_server(Path(serving_yard.settings.home), port, tmp_path / "serve.log")
    try:
        wait_for(lambda: answers(url, "/readyz"), "the model server to be ready", 180)
        body = {"records": iris_rows(iris, 1)}
        warm = closed_loop(f"{url}/predict/iris", body, 1.0)
        saturation = closed_loop(f"{url}/predict/iris", body, 2.0)
        rate = 0.8 * saturation.rate
        rss_start = server.rss()
        load = open_loop(f"{url}/predict/iris", body, rate, 6.0)
        rss_end = server.rss()
        assert server.alive()
    finally:
        log = server.stop()
    assert warm.failures == saturation.failures == load.failures == [], log[-2000:]
    assert load.sent == int(rate * 6.0) == len(load.answered)
    assert rss_end - rss_start < RSS_GROWTH_BOUND, (rss_start, rss_end)
    answered = warm.answered + saturation.answered + load.answered
    df = serving_yard.predictions.query("iris", "2000-01-01", "2100-01-01")
    assert df.height == len(answered)  # each answered prediction once, nothing else
    assert set(df["id"].to_list()) == set(answered)
