"""Reads of the log: a bad frame is skipped and reported; what is read follows what was
asked (other endpoints' data, other times and other segments are never opened)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import modelyard as my
from modelyard.ids import new_id, uuid7_time
from modelyard.predictions import reader
from modelyard.wal.compactor import compact
from modelyard.wal.records import new_prediction_id
from modelyard.wal.segments import (
    encode_record,
    endpoint_key,
    list_segments,
    wal_dir,
    write_index,
)

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


def _tripwire_segment(directory: Path, keys: dict[int, tuple[int, int | None]]) -> Path:
    """A "segment" that fails any read (a folder), with an index saying what it holds."""
    directory.mkdir(parents=True, exist_ok=True)
    segment_id = new_id()
    path = directory / f"{segment_id}.sealed"
    path.mkdir()
    write_index(directory, segment_id, keys)
    return path


def _tripwire_parquet(path: str) -> None:
    """A "Parquet file" that fails any read (a folder)."""
    Path(path).mkdir(parents=True)


def test_get_opens_only_what_can_hold_the_id(local_yard: my.Yard) -> None:
    day = 86_400_000_000
    old = _rec(1)
    other = _rec(2, endpoint="other")
    local_yard.predictions.log([old, other])  # compacted: record files and id indexes
    t = old["time"]
    art = local_yard.backend.artifacts
    date = uuid7_time(old["id"]).date().isoformat()
    # things get must not touch: a segment of yesterday, an id index of other ids of the
    # same date, and another endpoint's record file of that date
    _tripwire_segment(wal_dir(local_yard.settings.resolved_prediction_log_dir),
                      {endpoint_key("loans"): (t - day, t - day + 1)})
    _tripwire_parquet(art.path(f"predlog/_ids/date={date}/{'0' * 32}_{'0' * 31}1_{'f' * 32}"
                               ".parquet"))
    _tripwire_parquet(art.path(f"predlog/endpoint=zzz/date={date}/{'e' * 32}.parquet"))
    assert local_yard.predictions.get(old["id"]).inputs == {"x": 1}
    assert local_yard.predictions.get(other["id"]).endpoint == "other"
    pending = _rec(3)
    local_yard.predictions.log([pending], compact_now=False)  # in a live segment
    assert local_yard.predictions.get(pending["id"]).inputs == {"x": 3}


def test_a_window_opens_only_segments_that_hold_its_endpoint(local_yard: my.Yard) -> None:
    rec = _rec(1)
    local_yard.predictions.log([rec], compact_now=False)
    _tripwire_segment(wal_dir(local_yard.settings.resolved_prediction_log_dir),
                      {endpoint_key("other"): (0, None)})
    df = local_yard.predictions.query("loans", "2000-01-01", "2100-01-01")
    assert df["id"].to_list() == [rec["id"]]
    w = local_yard.predictions.window("loans", "2000-01-01", "2100-01-01")
    assert sum(b.num_rows for b in w.batches()) == 1


def test_a_window_reads_the_log_once(local_yard: my.Yard) -> None:
    recs = [_rec(i) for i in range(3)]
    local_yard.predictions.log(recs[:2])  # compacted
    local_yard.predictions.log(recs[2:], compact_now=False)  # pending
    w = local_yard.predictions.window("loans", "2000-01-01", "2100-01-01")
    assert "input.x" in w.columns
    for seg in list_segments(wal_dir(local_yard.settings.resolved_prediction_log_dir)):
        seg.path.unlink()  # the window holds what it read: nothing is read again
    assert sorted(r for b in w.batches(columns=["id"]) for r in b.column("id").to_pylist()) \
        == sorted(r["id"] for r in recs)


def test_a_compaction_between_listing_and_reading_neither_hides_nor_repeats(
        local_yard: my.Yard) -> None:
    recs = [_rec(i) for i in range(3)]
    local_yard.predictions.log(recs, compact_now=False)
    before = local_yard.predictions.query("loans", "2000-01-01", "2100-01-01")
    compact(wal_dir(local_yard.settings.resolved_prediction_log_dir),
            local_yard.backend.artifacts)
    after = local_yard.predictions.query("loans", "2000-01-01", "2100-01-01")
    assert before["id"].to_list() == after["id"].to_list() == sorted(r["id"] for r in recs)


def test_a_label_is_checked_against_its_prediction_only(local_yard: my.Yard) -> None:
    rec = _rec(1)
    rec["outputs"] = {"prediction": 1, "proba": {"0": 0.3, "1": 0.7}}
    pending = _rec(2, endpoint="other")
    local_yard.predictions.log([rec])
    local_yard.predictions.log([pending], compact_now=False)
    date = uuid7_time(rec["id"]).date().isoformat()
    art = local_yard.backend.artifacts
    _tripwire_parquet(art.path(f"predlog/endpoint=zzz/date={date}/{'e' * 32}.parquet"))
    _tripwire_segment(wal_dir(local_yard.settings.resolved_prediction_log_dir),
                      {endpoint_key("zzz"): (0, 1)})
    with pytest.raises(my.InvalidParameter, match=r"classes of model m/1 \('0', '1'\)"):
        local_yard.feedback(rec["id"], "approved")
    assert local_yard.monitoring.feedback([rec["id"], pending["id"]], [1, 0]).created == 2
