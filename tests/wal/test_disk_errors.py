"""The writer on a disk that refuses writes: a record is acknowledged only when its bytes are
durable; after an error it rolls to a new segment and retries; it recovers by itself.

ENOSPC comes from a real 256 KiB tmpfs mounted by the test (we run as root); EIO, and errors
of fsync (which tmpfs never fails), are injected at the OS call for this test's files only.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelyard.wal import writer as writer_module
from modelyard.wal.records import new_prediction_id
from modelyard.wal.segments import ScanReport, encode_record, list_segments, read_segment
from modelyard.wal.writer import LogUnavailable, WalWriter


def _rec(i: int) -> dict:
    pid, t = new_prediction_id()
    return {"id": pid, "time": t, "endpoint": "loans", "route": "main", "model_name": "m",
            "model_version": 1, "inputs": {"x": i, "pad": "p" * 200},
            "outputs": {"prediction": i % 2}, "latency_ms": 0.1, "shadow": False,
            "request_key": None, "request_id": pid}


def _on_disk(directory: Path) -> tuple[list[str], list[ScanReport]]:
    ids, reports = [], []
    for seg in list_segments(directory):
        report = ScanReport()
        ids += [r["id"] for r in read_segment(seg.path, report)]
        reports.append(report)
    return ids, reports


def _wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_full_disk_fails_requests_acknowledges_only_durable_records_and_recovers(
        small_disk: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (128 << 10))  # what a later clean-up gives back
    d = small_disk / "wal"
    w = WalWriter(d, retry_interval=0.05).start()
    acked: list[str] = []
    try:
        refused = 0
        for i in range(5000):
            rec = _rec(i)
            try:
                w.append_sync([encode_record(rec)])
            except LogUnavailable as exc:
                assert "No space left" in str(exc)
                refused += 1
                if refused == 3:
                    break
                continue
            acked.append(rec["id"])
        assert refused == 3 and len(acked) > 100
        assert w.error is not None and "No space left" in w.error
        assert w.status()["writable"] is False
        ids, reports = _on_disk(d)
        assert set(acked) <= set(ids) and len(ids) == len(set(ids))
        assert all(r.clean for r in reports)  # cut back: no half frame left behind
        # space returns: the writer notices by itself, with no request to tell it
        filler.unlink()
        _wait_for(lambda: w.error is None)
        rec = _rec(-1)
        w.append_sync([encode_record(rec)])
        acked.append(rec["id"])
    finally:
        w.close()
    ids, reports = _on_disk(d)
    assert set(acked) <= set(ids) and all(r.clean for r in reports)


class _Faults:
    """Fail ``os.write`` or ``os.fdatasync`` with ``err`` on this test's files, ``times``
    times (None: until cleared)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.directory = str(directory)
        self.plan: dict[str, tuple[int, int | None]] = {}
        self.calls: dict[str, int] = {"write": 0, "fdatasync": 0}
        real_write, real_sync = os.write, os.fdatasync

        def write(fd: int, data: bytes) -> int:
            self._maybe_fail("write", fd)
            return real_write(fd, data)

        def fdatasync(fd: int) -> None:
            self._maybe_fail("fdatasync", fd)
            real_sync(fd)

        monkeypatch.setattr(writer_module.os, "write", write)
        monkeypatch.setattr(writer_module.os, "fdatasync", fdatasync)

    def _maybe_fail(self, op: str, fd: int) -> None:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if not target.startswith(self.directory) or op not in self.plan:
            return
        err, left = self.plan[op]
        if left is not None:
            if left <= 0:
                return
            self.plan[op] = (err, left - 1)
        self.calls[op] += 1
        raise OSError(err, os.strerror(err))


@pytest.mark.parametrize(("op", "err"), [("fdatasync", errno.EIO), ("fdatasync", errno.ENOSPC),
                                          ("write", errno.EIO), ("write", errno.ENOSPC)])
def test_one_failed_write_or_fsync_is_retried_on_a_new_segment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str, err: int) -> None:
    faults = _Faults(monkeypatch, tmp_path)
    w = WalWriter(tmp_path).start()
    try:
        first = _rec(1)
        w.append_sync([encode_record(first)])
        old = w.segment_path
        faults.plan[op] = (err, 1)
        second = _rec(2)
        w.append_sync([encode_record(second)])  # acknowledged: written again elsewhere
        assert faults.calls[op] == 1
        assert w.segment_path != old and w.error is None
    finally:
        w.close()
    ids, reports = _on_disk(tmp_path)
    assert sorted(ids) == sorted([first["id"], second["id"]])  # once each
    assert all(r.clean for r in reports)


@pytest.mark.parametrize("op", ["fdatasync", "write"])
def test_a_disk_that_keeps_failing_fails_the_request_until_it_recovers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    faults = _Faults(monkeypatch, tmp_path)
    w = WalWriter(tmp_path, retry_interval=0.05).start()
    try:
        faults.plan[op] = (errno.EIO, None)
        refused = _rec(1)
        with pytest.raises(LogUnavailable, match="Input/output error"):
            w.append_sync([encode_record(refused)])
        assert w.error is not None and "Input/output error" in w.error
        with pytest.raises(LogUnavailable):
            w.append_sync([encode_record(_rec(2))])  # every batch tries the disk again
        del faults.plan[op]
        _wait_for(lambda: w.error is None)  # the probe saw the disk take a write
        ok = _rec(3)
        w.append_sync([encode_record(ok)])
    finally:
        w.close()
    ids, reports = _on_disk(tmp_path)
    assert refused["id"] not in ids and ok["id"] in ids
    assert all(r.clean for r in reports)
