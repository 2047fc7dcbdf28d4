"""The prediction log is compacted by a child process while the server runs (off the request
path's GIL), and once more by the server itself when it stops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.compaction import CompactionWorker, has_work
from modelyard.serving.endpoints import endpoint_from_ref
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread
from modelyard.wal.segments import wal_dir

from .conftest import eventually, iris_rows


def _compacted(yard: my.Yard, ids: list[str]) -> bool:
    now = yard.clock.now()
    df = yard.predictions.query("iris", now - timedelta(minutes=5), now + timedelta(minutes=1))
    return set(ids) <= set(df["id"].to_list())


def _serving(yard: my.Yard, iris: Any, compaction: str) -> Iterator[CompactionWorker]:
    """A server sealing its segments every 0.3 s; yields its compaction once records it
    answered are in Parquet."""
    app = create_app(yard, [endpoint_from_ref("iris@production")],
                     ServerOptions(seal_seconds=0.3, compact_interval=0.2, poll_interval=0.2,
                                   compaction=compaction))
    with serve_in_thread(app) as url:
        body = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 3)}).json()
        worker = app.runtime.recorder.compactor
        assert worker is not None
        eventually(lambda: _compacted(yard, body["ids"]), "the running server's records in "
                   "Parquet")
        eventually(lambda: worker.passes >= 1, "the report of the pass")
        yield worker


def test_sealed_segments_are_compacted_by_a_child_process(serving_yard: my.Yard,
                                                          iris: Any) -> None:
    for worker in _serving(serving_yard, iris, "process"):
        pid = worker.child_pid
        assert pid is not None and pid != os.getpid()
        assert worker.last is not None and worker.last.records >= 3
    assert worker.child_pid is None  # the child ended with the server
    assert not has_work(wal_dir(serving_yard.settings.resolved_prediction_log_dir))


def test_compaction_in_a_thread_when_asked(serving_yard: my.Yard, iris: Any) -> None:
    for worker in _serving(serving_yard, iris, "thread"):
        assert worker.child_pid is None


def test_timing_metrics_are_exposed(model_server: Any, iris: Any) -> None:
    with model_server("iris@production") as url:
        assert httpx.post(f"{url}/predict/iris",
                          json={"records": iris_rows(iris, 1)}).status_code == 200
        def sampled() -> str | None:
            text = httpx.get(f"{url}/metrics").text
            return text if "modelyard_event_loop_lag_seconds_count" in text else None

        text = eventually(sampled, "a loop lag sample")
    for name in ("modelyard_prediction_log_wait_seconds_count",
                 "modelyard_wal_fsync_seconds_count", "modelyard_gc_pause_seconds"):
        assert name in text
