"""Reads of the log: a bad frame is skipped and reported; what is read follows what was
asked (other endpoints' data, other times and other segments are never opened)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import modelyard as my
from modelyard.predictions import reader
from modelyard.wal.records import new_prediction_id
from modelyard.wal.segments import encode_record

Segments = Callable[[bytes], Path]  # the wal_segment fixture

def _rec(i: int, endpoint: str = "loans", t: int | None = None) -> dict:
    pid, now = new_prediction_id()
    return {"id": pid, "time": now if t is None else t, "endpoint": endpoint, "route": "main",
            "model_name": "m", "model_version": 1, "inputs": {"x": i},
            "outputs": {"prediction": i % 2}, "latency_ms": 0.1, "shadow": False,
            "request_key": None, "request_id": pid}


def test_reads_skip_a_bad_frame_of_a_pending_segment_and_report_it(
        local_yard: my.Yard, wal_segment: Segments, caplog: pytest.LogCaptureFixture) -> None:
    recs = [_rec(i) for i in range(3)]
    frames = [encode_record(r) for r in recs]
    seg = wal_segment(frames[0] + b"garbage" + frames[1] + frames[2])
    with caplog.at_level(logging.WARNING, logger="modelyard.predictions"):
        assert local_yard.predictions.get(recs[2]["id"]).inputs == {"x": 2}
        w = reader.window(local_yard, "loans", "2000-01-01", "2100-01-01")
    assert w.skipped_bytes == len(b"garbage")
    assert sum(b.num_rows for b in w.batches()) == 3
    assert str(seg) in caplog.text
    result = local_yard.monitoring.run("loans", start="2000-01-01", end="2100-01-01", save=False)
    [finding] = [f for f in result.findings if f.kind == "log_unreadable"]
    assert finding.value == len(b"garbage")
