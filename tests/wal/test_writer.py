from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from modelyard.errors import InvalidParameter
from modelyard.wal.records import new_prediction_id
from modelyard.wal.segments import encode_record, list_segments, read_records
from modelyard.wal.writer import LogUnavailable, WalWriter


def _rec(i: int) -> dict:
    pid, t = new_prediction_id()
    return {"id": pid, "time": t, "endpoint": "loans", "route": "main", "model_name": "loans",
            "model_version": 1, "inputs": {"x": i}, "outputs": {"prediction": i % 2},
            "latency_ms": 1.0, "shadow": False, "request_key": None}


def test_append_sync_is_on_disk_before_it_returns(tmp_path: Path) -> None:
    w = WalWriter(tmp_path).start()
    try:
        w.append_sync([encode_record(_rec(i)) for i in range(3)])
        on_disk = [r["inputs"]["x"] for p in w.segment_paths for r in read_records(p)]
        assert on_disk == [0, 1, 2]
    finally:
        w.close()


@pytest.mark.parametrize("lanes", [1, 2])
def test_concurrent_requests_share_fsyncs(tmp_path: Path, lanes: int) -> None:
    w = WalWriter(tmp_path, lanes=lanes).start()

    async def many() -> None:
        async def one(i: int) -> None:
            fut = w.append_wait([encode_record(_rec(i))])
            assert fut is not None
            await fut

        await asyncio.gather(*(one(i) for i in range(200)))

    try:
        asyncio.run(many())
        assert w.records_written == 200
        assert w.fsyncs < 200
    finally:
        w.close()
    segs = list_segments(tmp_path)
    assert 1 <= len(segs) <= 2 and all(s.sealed for s in segs)
    assert sum(len(read_records(s.path)) for s in segs) == 200


def test_async_durability_does_not_wait(tmp_path: Path) -> None:
    w = WalWriter(tmp_path, durability="async").start()

    async def go() -> object:
        return w.append_wait([encode_record(_rec(1))])

    try:
        assert asyncio.run(go()) is None
    finally:
        w.close()
    assert sum(len(read_records(s.path)) for s in list_segments(tmp_path)) == 1


def test_segments_seal_by_size(tmp_path: Path) -> None:
    w = WalWriter(tmp_path, seal_bytes=500).start()
    try:
        for i in range(10):
            w.append_sync([encode_record(_rec(i))])
    finally:
        w.close()
    segs = list_segments(tmp_path)
    assert len(segs) > 2 and all(s.sealed for s in segs)
    assert sum(len(read_records(s.path)) for s in segs) == 10


def test_closed_writer_refuses_appends(tmp_path: Path) -> None:
    w = WalWriter(tmp_path).start()
    w.close()
    with pytest.raises(LogUnavailable, match="not running"):
        w.append([encode_record(_rec(1))])


def test_unknown_durability_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="durability must be one of"):
        WalWriter(tmp_path, durability="sometimes")


def test_open_segment_is_locked_while_writing(tmp_path: Path) -> None:
    from modelyard.wal.segments import try_lock

    w = WalWriter(tmp_path).start()
    try:
        assert w.segment_path is not None
        fd = os.open(w.segment_path, os.O_RDONLY)
        try:
            assert not try_lock(fd)
        finally:
            os.close(fd)
    finally:
        w.close()


def test_each_lane_has_its_own_segment_and_seal_seals_them(tmp_path: Path) -> None:
    w = WalWriter(tmp_path, lanes=3).start()
    try:
        assert len(set(w.segment_paths)) == 3
        w.append_sync([encode_record(_rec(1))])
        w.seal()
        sealed = [s for s in list_segments(tmp_path) if s.sealed]
        assert len(sealed) == 1 and len(read_records(sealed[0].path)) == 1
        assert len([s for s in list_segments(tmp_path) if not s.sealed]) == 3
    finally:
        w.close()
