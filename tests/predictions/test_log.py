from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import InvalidParameter, NotFound
from modelyard.predictions import reader
from modelyard.predictions.entities import PredictionRecord
from modelyard.wal.compactor import compact
from modelyard.wal.segments import encode_record, list_segments, wal_dir
from modelyard.wal.writer import WalWriter

T0 = datetime(2026, 3, 1, 23, 59, 0, tzinfo=UTC)


@pytest.fixture
def clocked_yard(tmp_path: Path) -> my.Yard:
    settings = my.Settings.load({}, home=tmp_path / "home")
    y = my.connect(settings=settings, clock=FixedClock(T0))
    yield y
    y.close()


def _log(y: my.Yard, n: int, *, version: int = 1, endpoint: str = "loans", **inputs: object) -> list[str]:
    return y.predictions.log(
        [{"endpoint": endpoint, "route": "main", "model_name": "loans", "model_version": version,
          "inputs": {"x": float(i), **inputs}, "outputs": {"prediction": i % 2,
                                                            "proba": {"0": 0.25, "1": 0.75}}}
         for i in range(n)]
    )


def test_get_finds_a_compacted_record_by_id(clocked_yard: my.Yard) -> None:
    ids = _log(clocked_yard, 5)
    rec = clocked_yard.predictions.get(ids[3])
    assert isinstance(rec, PredictionRecord)
    assert rec.id == ids[3] and rec.time == T0
    assert rec.inputs == {"x": 3.0}
    assert rec.outputs == {"prediction": 1, "proba": {"0": 0.25, "1": 0.75}}
    assert rec.model_version == 1 and rec.shadow is False


def test_parquet_layout_and_flat_columns(clocked_yard: my.Yard) -> None:
    _log(clocked_yard, 3)
    art = clocked_yard.backend.artifacts
    files = reader.partition_files(art, "loans", T0.date(), T0.date())
    assert len(files) == 1
    assert "/predlog/endpoint=loans/date=2026-03-01/" in files[0]
    import pyarrow.parquet as pq

    assert pq.read_schema(files[0]).names == [
        "id", "time", "endpoint", "route", "model_name", "model_version", "latency_ms",
        "shadow", "request_key", "request_id", "input.x", "output.prediction", "output.proba.0",
        "output.proba.1",
    ]


def test_query_prunes_dates_and_unions_schemas(clocked_yard: my.Yard) -> None:
    clock = clocked_yard.clock
    _log(clocked_yard, 4, version=1)
    clock.advance(120)  # the next day: another partition
    _log(clocked_yard, 2, version=2, extra="a")
    df = clocked_yard.predictions.query("loans", T0 - timedelta(hours=1), T0 + timedelta(days=1))
    assert df.height == 6
    assert df["model_version"].to_list() == [1, 1, 1, 1, 2, 2]
    assert df["input.extra"].to_list() == [None] * 4 + ["a", "a"]
    day2 = clocked_yard.predictions.query("loans", T0 + timedelta(minutes=1), T0 + timedelta(days=1))
    assert day2.height == 2
    only_v1 = clocked_yard.predictions.query("loans", T0, T0 + timedelta(days=1), model_version=1,
                                             limit=3)
    assert only_v1.height == 3


def test_batches_cover_the_window(clocked_yard: my.Yard) -> None:
    _log(clocked_yard, 7)
    batches = list(clocked_yard.predictions.batches("loans", T0, T0, batch_size=3))
    assert sum(b.num_rows for b in batches) == 7


def test_pending_segments_are_read_before_compaction(clocked_yard: my.Yard) -> None:
    ids = clocked_yard.predictions.log(
        [{"endpoint": "loans", "route": "main", "model_name": "loans", "model_version": 1,
          "inputs": {"x": 1.0}, "outputs": {"prediction": 0}}], compact_now=False)
    assert clocked_yard.predictions.get(ids[0]).inputs == {"x": 1.0}
    assert clocked_yard.predictions.query("loans", T0, T0).height == 1


def test_compaction_keeps_segments_of_live_writers_and_takes_orphans(tmp_path: Path) -> None:
    art = my.connect(settings=my.Settings.load({}, home=tmp_path / "h")).backend.artifacts
    d = wal_dir(tmp_path / "log")
    live = WalWriter(d).start()
    rec = {"id": "01a205d79279721a9f29951c1a71eae5", "time": 1_795_394_343_545_000,
           "endpoint": "e", "route": "r", "model_name": "m", "model_version": 1,
           "inputs": {"a": 1}, "outputs": {"prediction": 1}, "latency_ms": 0.5,
           "shadow": False, "request_key": None}
    live.append_sync([encode_record(rec)])
    assert compact(d, art).segments == 0  # still open and locked by its writer
    # an orphan: an open segment nobody holds (its process was killed)
    orphan = d / ("01a205d79279721a9f29951c1a71eae6" + ".open")
    orphan.write_bytes(encode_record({**rec, "id": "01a205d79279721a9f29951c1a71eae6"}))
    result = compact(d, art)
    assert result.segments == 1 and result.records == 1
    live.close()
    assert compact(d, art).records == 1
    assert list_segments(d) == []
    assert reader.get(art, "01a205d79279721a9f29951c1a71eae5").inputs == {"a": 1}


def test_unknown_id_is_not_found(clocked_yard: my.Yard) -> None:
    _log(clocked_yard, 1)
    with pytest.raises(NotFound, match="No prediction with id"):
        clocked_yard.predictions.get("01a205d79279721a9f29951c1a71eae5")
    with pytest.raises(InvalidParameter, match="UUIDv7"):
        clocked_yard.predictions.get("not-an-id")


def test_reversed_window_is_rejected(clocked_yard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="end must not be before start"):
        clocked_yard.predictions.query("loans", T0, T0 - timedelta(days=1))


def test_store_query_returns_records_on_both_backends(yard: my.Yard) -> None:
    ids = yard.predictions.log(
        [{"endpoint": "e1", "route": "main", "model_name": "m", "model_version": 3,
          "inputs": {"x": 2.5}, "outputs": {"prediction": "yes"}}])
    now = yard.clock.now()
    recs = yard.backend.predictions.query("e1", now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert [r.id for r in recs] == ids
    assert recs[0].outputs == {"prediction": "yes"}


def test_predictions_over_http(yard: my.Yard, remote_yard: my.Yard) -> None:
    ids = yard.predictions.log(
        [{"endpoint": "e2", "route": "main", "model_name": "m", "model_version": 1,
          "inputs": {"x": float(i)}, "outputs": {"prediction": i}} for i in range(3)])
    assert remote_yard.predictions.get(ids[2]).inputs == {"x": 2.0}
    now = yard.clock.now()
    df = remote_yard.predictions.query("e2", now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert df["id"].to_list() == ids and df["input.x"].to_list() == [0.0, 1.0, 2.0]
    with pytest.raises(NotFound):
        remote_yard.predictions.get("01a205d79279721a9f29951c1a71eae5")
    with pytest.raises(InvalidParameter, match="needs a local yard"):
        remote_yard.predictions.scan("e2", now, now)
