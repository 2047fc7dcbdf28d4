"""The compactor: a segment it could not read completely is quarantined, never deleted, and
one bad segment never stops the others."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli
from modelyard.wal.compactor import compact, quarantined
from modelyard.wal.metrics import WalMetrics
from modelyard.wal.records import new_prediction_id
from modelyard.wal.segments import QUARANTINE, encode_record, list_segments, wal_dir

Segments = Callable[[bytes], Path]  # the wal_segment fixture

def _rec(i: int, endpoint: str = "loans") -> dict:
    pid, t = new_prediction_id()
    return {"id": pid, "time": t, "endpoint": endpoint, "route": "main", "model_name": "m",
            "model_version": 1, "inputs": {"x": i}, "outputs": {"prediction": i % 2},
            "latency_ms": 0.1, "shadow": False, "request_key": None, "request_id": pid}


def test_a_segment_with_a_bad_frame_is_compacted_and_quarantined(
        local_yard: my.Yard, wal_segment: Segments, caplog: pytest.LogCaptureFixture) -> None:
    d = wal_dir(local_yard.settings.resolved_prediction_log_dir)
    recs = [_rec(i) for i in range(4)]
    frames = [encode_record(r) for r in recs]
    bad = wal_segment(frames[0] + frames[1][:20] + frames[2] + frames[3])
    registry = CollectorRegistry()
    with caplog.at_level(logging.ERROR, logger="modelyard.wal"):
        result = compact(d, local_yard.backend.artifacts, metrics=WalMetrics(registry))
    assert result.records == 3 and result.segments == 1
    assert not bad.exists()  # moved, not deleted
    kept = d / QUARANTINE / bad.name
    assert kept.read_bytes().startswith(frames[0])
    assert str(kept) in caplog.text
    assert registry.get_sample_value("modelyard_wal_quarantined_segments_total") == 1.0
    [entry] = result.quarantined
    assert entry.records_recovered == 3 and entry.skipped_bytes == 20
    assert [s.reason for s in entry.skipped] == ["corrupt"]
    for r in (recs[0], recs[2], recs[3]):  # what could be read is in the Parquet log
        assert local_yard.predictions.get(r["id"]).inputs == r["inputs"]
    assert quarantined(d) == [entry]
    assert json.loads((d / QUARANTINE / f"{bad.name[:32]}.json").read_text())["path"] == str(kept)


def test_one_bad_segment_does_not_stop_the_others(
        local_yard: my.Yard, wal_segment: Segments) -> None:
    d = wal_dir(local_yard.settings.resolved_prediction_log_dir)
    first = [_rec(i) for i in range(3)]
    wal_segment(b"".join(encode_record(r) for r in first))
    garbage = wal_segment(random.Random(3).randbytes(4096))
    last = [_rec(i) for i in range(3, 6)]
    wal_segment(b"".join(encode_record(r) for r in last))
    result = compact(d, local_yard.backend.artifacts)
    assert result.segments == 3 and result.records == 6
    assert [q.segment for q in result.quarantined] == [garbage.name[:32]]
    assert result.quarantined[0].records_recovered == 0
    assert list_segments(d) == []
    for r in first + last:
        assert local_yard.predictions.get(r["id"]).inputs == r["inputs"]


def test_a_segment_whose_parquet_cannot_be_written_waits_for_the_next_pass(
        local_yard: my.Yard, wal_segment: Segments) -> None:
    d = wal_dir(local_yard.settings.resolved_prediction_log_dir)
    art = local_yard.backend.artifacts
    blocked = Path(art.path("predlog/endpoint=blocked"))
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the partition folder should be")
    stuck = wal_segment(encode_record(_rec(1, "blocked")))
    fine = _rec(2, "loans")
    wal_segment(encode_record(fine))
    result = compact(d, art)
    assert result.segments == 1 and list(result.failed) == [str(stuck)]
    assert stuck.exists() and not (d / QUARANTINE).exists()
    assert local_yard.predictions.get(fine["id"]).inputs == {"x": 2}
    blocked.unlink()
    assert compact(d, art).segments == 1 and list_segments(d) == []


def test_doctor_lists_quarantined_segments(local_yard: my.Yard, wal_segment: Segments) -> None:
    d = wal_dir(local_yard.settings.resolved_prediction_log_dir)
    good = encode_record(_rec(1))
    seg = wal_segment(good + b"\x00" * 100 + good)
    runner = CliRunner()
    home = str(local_yard.settings.home)
    assert runner.invoke(cli, ["--home", home, "predictions", "compact"]).exit_code == 0
    r = runner.invoke(cli, ["--home", home, "predictions", "doctor"])
    assert r.exit_code == 0, r.output
    assert str(d / QUARANTINE / seg.name) in r.output
    assert "2 records recovered" in r.output and "100 bytes skipped" in r.output
    r = runner.invoke(cli, ["--home", home, "predictions", "doctor", "--json"])
    [entry] = json.loads(r.output)
    assert entry["records_recovered"] == 2 and entry["skipped"][0]["length"] == 100


def test_doctor_says_when_nothing_is_quarantined(local_yard: my.Yard) -> None:
    r = CliRunner().invoke(cli, ["--home", str(local_yard.settings.home), "predictions", "doctor"])
    assert r.exit_code == 0 and "no quarantined segments" in r.output


def test_the_quarantine_is_listed_over_http(
        local_yard: my.Yard, wal_segment: Segments, server_factory: object) -> None:
    wal_segment(random.Random(5).randbytes(300))
    local_yard.predictions.compact()
    srv = server_factory(local_yard)  # type: ignore[operator]
    with my.connect(srv.url) as remote:
        [entry] = remote.backend.predictions.quarantined()
    assert entry.size == 300 and entry.records_recovered == 0
