"""The prediction log's reads follow what was asked: 1 endpoint's data vs 50 endpoints' data.

    .venv/bin/python bench/predlog.py [--rows 10000000] [--endpoints 50] [--days 30]

Two yards are written (``bench/out/predlog``): ``fifty`` holds ``--rows`` predictions of
``--endpoints`` endpoints over ``--days`` days; ``one`` holds only endpoint ``e00``'s share of
them (the same rows). The data goes through the log's own code paths: compacted Parquet and id
indexes by ``wal.partitions.write_partition``/``write_id_index`` (what the compactor calls),
two segments per day, and the last ten minutes of every endpoint as a sealed segment written
by ``wal.writer.WalWriter`` and not compacted yet.

Then, each in a fresh process (peak RSS by ``/usr/bin/time``), on endpoint ``e00`` of each
yard: ``yard.predictions.get(id)`` of 200 ids spread over the 30 days, ``yard.predictions.query``
of one hour (the last one, so pending segments are read too) and ``yard.monitoring.run`` of
one day (drift against a reference table, quality, outliers, latency); each warm: after a
first call of the same kind on other data (imports, caches). The figures should not grow with the other 49 endpoints' data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, ROOT, print_table, run_in_venv

OUT = BENCH / "out" / "predlog"
END = datetime(2026, 11, 1, tzinfo=UTC)
FEATURES = 8
CITIES = np.array(["paris", "lyon", "nantes", "lille", "nice"])
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuid7(ms: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """UUIDv7 hex ids for millisecond timestamps (random bits from ``rng``), vectorised."""
    n = len(ms)
    raw = np.empty((n, 16), np.uint8)
    for i in range(6):
        raw[:, i] = (ms >> (8 * (5 - i))) & 0xFF
    rand = rng.integers(0, 256, size=(n, 10), dtype=np.uint8)
    raw[:, 6] = 0x70 | (rand[:, 0] & 0x0F)
    raw[:, 7] = rand[:, 1]
    raw[:, 8] = 0x80 | (rand[:, 2] & 0x3F)
    raw[:, 9:] = rand[:, 3:]
    text = np.empty((n, 32), np.uint8)
    text[:, 0::2] = _HEX[raw >> 4]
    text[:, 1::2] = _HEX[raw & 0x0F]
    return pa.array(text.view("S32").ravel(), pa.binary(32)).cast(pa.string())


def table(endpoint: str, ms: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """Flat log rows of one endpoint at ``ms`` (epoch milliseconds)."""
    n = len(ms)
    ids = uuid7(ms, rng)
    x = rng.normal(0.0, 1.0, (n, FEATURES))
    p = 1 / (1 + np.exp(-x[:, 0]))
    cols: dict[str, pa.Array] = {
        "id": ids,
        "time": pa.array(ms * 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "endpoint": pa.array([endpoint] * n, pa.string()),
        "route": pa.array(["main"] * n, pa.string()),
        "model_name": pa.array([endpoint] * n, pa.string()),
        "model_version": pa.array(np.ones(n, np.int64)),
        "latency_ms": pa.array(rng.gamma(2.0, 1.5, n)),
        "shadow": pa.array(np.zeros(n, bool)),
        "request_key": pa.nulls(n, pa.string()),
        "request_id": ids,
    }
    for j in range(FEATURES):
        cols[f"input.f{j}"] = pa.array(x[:, j])
    cols["input.city"] = pa.array(CITIES[rng.integers(0, len(CITIES), n)])
    cols["output.prediction"] = pa.array((p > 0.5).astype(np.int64))
    cols["output.proba.0"] = pa.array(1 - p)
    cols["output.proba.1"] = pa.array(p)
    return pa.table(cols)


def write_yards(rows: int, endpoints: int, days: int) -> dict[str, Path]:
    """The ``one`` and ``fifty`` yards (see the module docstring); returns their homes."""
    import modelyard as my
    from modelyard.config import Settings
    from modelyard.wal.partitions import write_id_index, write_partition
    from modelyard.wal.segments import encode_record, wal_dir
    from modelyard.wal.writer import WalWriter

    shutil.rmtree(OUT, ignore_errors=True)
    homes = {"one": OUT / "one", "fifty": OUT / "fifty"}
    yards = {k: my.connect(settings=Settings.load({}, home=h)) for k, h in homes.items()}
    names = [f"e{i:02d}" for i in range(endpoints)]
    per_segment = rows // (2 * days) // endpoints  # rows of one endpoint in one segment
    start_ms = int((END - timedelta(days=days)).timestamp() * 1000)
    half_day = 43_200_000
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for seg in range(2 * days):
        lo = start_ms + seg * half_day
        segment_id = uuid7(np.array([lo], np.int64), rng)[0].as_py()
        day = datetime.fromtimestamp(lo / 1000, tz=UTC).date().isoformat()
        parts = []
        for name in names:
            ms = np.sort(rng.integers(lo, lo + half_day, per_segment))
            t = table(name, ms, rng)
            for which, y in yards.items():
                if which == "fifty" or name == names[0]:
                    write_partition(y.backend.artifacts, name, day, segment_id, t)
            parts.append((name, t["id"].combine_chunks()))
        write_id_index(yards["fifty"].backend.artifacts, day, segment_id, parts)
        write_id_index(yards["one"].backend.artifacts, day, segment_id, parts[:1])
        if seg % 10 == 9:
            print(f"[bench] {seg + 1} of {2 * days} segments, {time.perf_counter() - t0:.0f}s",
                  file=sys.stderr)
    # the last ten minutes of every endpoint: a segment written by the writer, not compacted
    recent = max(1, rows // (days * 144) // endpoints)
    for which, y in yards.items():
        writer = WalWriter(wal_dir(y.settings.resolved_prediction_log_dir)).start()
        try:
            frames = []
            for name in names if which == "fifty" else names[:1]:
                ms = np.sort(rng.integers(int(END.timestamp() * 1000) - 600_000,
                                          int(END.timestamp() * 1000), recent))
                for row in table(name, ms, rng).to_pylist():
                    frames.append(encode_record(_payload(row)))
            writer.append_sync(frames)
        finally:
            writer.close()
        y.close()
    return homes


def _payload(row: dict) -> dict:
    """A flat row as the WAL payload the server writes."""
    out = {k: row[k] for k in ("id", "endpoint", "route", "model_name", "model_version",
                               "latency_ms", "shadow", "request_key", "request_id")}
    out["time"] = int(row["time"].timestamp() * 1_000_000)
    out["inputs"] = {k[6:]: v for k, v in row.items() if k.startswith("input.")}
    out["outputs"] = {"prediction": row["output.prediction"],
                      "proba": {"0": row["output.proba.0"], "1": row["output.proba.1"]}}
    return out


MEASURE = r"""
import json, statistics, sys, time
import numpy as np, polars as pl
import modelyard as my
from modelyard.config import Settings

home, what, end = sys.argv[1:4]
yard = my.connect(settings=Settings.load({}, home=home))
end = pl.Series([end]).str.to_datetime(time_zone="UTC")[0]
out = {}
if what == "get":
    days = pl.scan_parquet(f"{home}/artifacts/predlog/endpoint=e00/**/*.parquet").select("id")
    ids = days.collect()["id"].to_numpy()
    pick = ids[np.random.default_rng(1).integers(0, len(ids), 201)]
    yard.predictions.get(pick[0])  # warm: imports, first file system calls
    times = []
    for pid in pick[1:]:
        t0 = time.perf_counter()
        rec = yard.predictions.get(pid)
        times.append((time.perf_counter() - t0) * 1000)
        assert rec.id == pid
    times.sort()
    out = {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times))],
           "max_ms": times[-1]}
elif what == "query":
    from datetime import timedelta
    yard.predictions.query("e00", end - timedelta(hours=30), end - timedelta(hours=29))  # warm
    t0 = time.perf_counter()
    df = yard.predictions.query("e00", end - timedelta(hours=1), end)
    out = {"seconds": time.perf_counter() - t0, "rows": df.height}
else:
    from datetime import timedelta
    rng = np.random.default_rng(5)
    ref = pl.DataFrame({f"f{j}": rng.normal(0.0, 1.0, 5000) for j in range(8)})
    yard.monitoring.run("e00", start=end - timedelta(days=3), end=end - timedelta(days=2),
                        reference=ref, save=False, alerts=False)  # warm: imports, caches
    t0 = time.perf_counter()
    result = yard.monitoring.run("e00", start=end - timedelta(days=1), end=end, reference=ref,
                                 save=False, alerts=False)
    out = {"seconds": time.perf_counter() - t0, "rows": result.run.n_rows}
print(json.dumps(out))
"""


def measure(home: Path, what: str) -> dict:
    python = ROOT / ".venv" / "bin" / "python"
    env = {"PYTHONPATH": str(ROOT / "src")}
    return run_in_venv(python, MEASURE, str(home), what, END.isoformat(), env=env, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--endpoints", type=int, default=50)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--reuse", action="store_true", help="Measure the yards written last time.")
    args = ap.parse_args()
    homes = {"one": OUT / "one", "fifty": OUT / "fifty"}
    if not args.reuse:
        t0 = time.perf_counter()
        homes = write_yards(args.rows, args.endpoints, args.days)
        print(f"[bench] wrote {args.rows:,} predictions in {time.perf_counter() - t0:.0f}s",
              file=sys.stderr)
    sizes = {k: sum(p.stat().st_size for p in (h / "artifacts" / "predlog").rglob("*.parquet"))
             for k, h in homes.items()}
    results = {k: {w: measure(h, w) for w in ("get", "query", "monitor")}
               for k, h in homes.items()}
    load = os.getloadavg()
    label = {"one": "1 endpoint", "fifty": f"{args.endpoints} endpoints"}
    rows = []
    for k in ("one", "fifty"):
        r = results[k]
        rows.append([f"{label[k]} ({sizes[k] / 1e6:,.0f} MB of Parquet)",
                     f"{r['get']['median_ms']:.1f} / {r['get']['p95_ms']:.1f} ms",
                     f"{r['get']['peak_rss_mb']:.0f}",
                     f"{r['query']['seconds'] * 1000:.0f} ms ({r['query']['rows']:,} rows)",
                     f"{r['query']['peak_rss_mb']:.0f}",
                     f"{r['monitor']['seconds']:.2f} s ({r['monitor']['rows']:,} rows)",
                     f"{r['monitor']['peak_rss_mb']:.0f}"])
    print_table(f"prediction log of {args.rows:,} predictions over {args.days} days, endpoint "
                f"e00 ({datetime.now(UTC):%Y-%m-%d}; load average "
                f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores)", rows,
                ["data in the log", "get(id) warm, median / p95", "get peak MB",
                 "query, 1 hour", "query peak MB", "monitoring.run, 1 day", "run peak MB"])


if __name__ == "__main__":
    main()
