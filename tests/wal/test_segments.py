"""The segment format: a bad frame anywhere hides nothing after it, and is reported."""

from __future__ import annotations

import random
from pathlib import Path

from modelyard.wal.segments import (
    MAGIC,
    PADDING,
    ScanReport,
    encode_record,
    endpoint_key,
    iter_frames,
    read_segment,
)


def _rec(i: int, endpoint: str = "loans") -> dict:
    return {"id": f"{i:032x}", "time": 1_772_000_000_000_000 + i, "endpoint": endpoint,
            "inputs": {"x": i}, "outputs": {"prediction": i % 2}}


def _segment(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / ("0" * 32 + ".sealed")
    path.write_bytes(data)
    return path


def test_a_torn_frame_in_the_middle_hides_nothing_after_it(tmp_path: Path) -> None:
    frames = [encode_record(_rec(i)) for i in range(5)]
    torn = frames[2][: len(frames[2]) // 2]  # a write cut short, then more frames appended
    path = _segment(tmp_path, b"".join(frames[:2]) + torn + b"".join(frames[3:]))
    report = ScanReport()
    got = [r["inputs"]["x"] for r in read_segment(path, report)]
    assert got == [0, 1, 3, 4]
    assert not report.clean and report.frames == 4
    [skipped] = report.skipped
    assert skipped.offset == len(frames[0]) + len(frames[1])
    assert skipped.length == len(torn) and skipped.reason == "corrupt"


def test_a_flipped_byte_costs_one_frame(tmp_path: Path) -> None:
    frames = [encode_record(_rec(i)) for i in range(4)]
    data = bytearray(b"".join(frames))
    data[len(frames[0]) + 30] ^= 0x40  # inside the payload of frame 1: its crc fails
    report = ScanReport()
    got = [r["inputs"]["x"] for r in read_segment(_segment(tmp_path, bytes(data)), report)]
    assert got == [0, 2, 3]
    assert [(s.offset, s.length, s.reason) for s in report.skipped] == [
        (len(frames[0]), len(frames[1]), "corrupt")]


def test_a_corrupt_length_does_not_swallow_the_frames_it_spans(tmp_path: Path) -> None:
    frames = [encode_record(_rec(i)) for i in range(4)]
    data = bytearray(b"".join(frames))
    data[len(frames[0]) + 4: len(frames[0]) + 8] = (len(data)).to_bytes(4, "little")
    got = [r["inputs"]["x"] for r in read_segment(_segment(tmp_path, bytes(data)))]
    assert got == [0, 2, 3]


def test_a_truncated_tail_is_reported_as_tail(tmp_path: Path) -> None:
    frames = [encode_record(_rec(i)) for i in range(3)]
    data = b"".join(frames)[:-7]
    report = ScanReport()
    got = [r["inputs"]["x"] for r in read_segment(_segment(tmp_path, data), report)]
    assert got == [0, 1]
    [skipped] = report.skipped
    assert skipped.reason == "tail" and skipped.offset + skipped.length == len(data)


def test_a_segment_of_random_bytes_yields_nothing_and_says_so(tmp_path: Path) -> None:
    data = random.Random(7).randbytes(100_000) + MAGIC + random.Random(8).randbytes(100)
    report = ScanReport()
    assert read_segment(_segment(tmp_path, data), report) == []
    assert report.frames == 0 and report.skipped_bytes == len(data)


def test_good_frames_after_garbage_are_found(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(5000) + encode_record(_rec(9))
    report = ScanReport()
    assert [r["inputs"]["x"] for r in read_segment(_segment(tmp_path, data), report)] == [9]
    assert [(s.offset, s.length, s.reason) for s in report.skipped] == [(0, 5000, "corrupt")]


def test_padding_is_skipped_and_filters_pass_over_other_endpoints() -> None:
    data = (encode_record(_rec(1, "a")) + PADDING + encode_record(_rec(2, "b"))
            + encode_record(_rec(3, "a")))
    report = ScanReport()
    taken = list(iter_frames(data, report, key=endpoint_key("a"), lo_us=1_772_000_000_000_002))
    assert [t for t, _ in taken] == [1_772_000_000_000_003]
    assert report.clean and report.frames == 1
