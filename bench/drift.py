"""Drift: modelyard vs Evidently's DataDriftPreset on the same data, plus a 10M-row window.

    .venv/bin/python bench/drift.py [--sizes 100000,1000000] [--stream-rows 10000000] [--skip-peer]

Data: 20 numerical + 5 categorical columns; 8 of them shifted in the current sample (6
numerical by 0.3-0.6 sd or a scale change, 2 categorical by moving probability mass). Each size
is written once to Parquet (``bench/out/drift``) and read by both sides. Each side runs in its
own subprocess (ours in ``.venv``, Evidently 0.7.23 in ``bench/.venv-evidently`` with pandas<3),
so its peak RSS (``/usr/bin/time``) is its own: reading the Parquet files, computing the drift of
every column with the default tests (above 1,000 rows both use normed Wasserstein for numerical
and Jensen-Shannon distance for categorical columns, threshold 0.1), and listing the drifted
columns.

Then a prediction-log window of ``--stream-rows`` rows (Parquet partitions in the prediction
log's layout, written by this script) is evaluated by ``yard.monitoring.run`` in batches; its
peak RSS is compared with a 1M-row window to show that memory does not grow with the window.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, ROOT, peer_venv, print_table, ratio, run_in_venv

OUT = BENCH / "out" / "drift"
N_NUM, N_CAT = 20, 5
SHIFTED = ["num_00", "num_03", "num_06", "num_09", "num_12", "num_15", "cat_0", "cat_3"]
CATS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def generate(n: int, *, shifted: bool, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for j in range(N_NUM):
        name = f"num_{j:02d}"
        base = rng.normal(10 * j, 1 + j % 4, n) if j % 3 else rng.lognormal(1 + j / 10, 0.5, n)
        if shifted and name in SHIFTED:
            sd = float(np.std(base))
            base = base * 1.5 if j == 15 else base + (0.3 + 0.1 * (j % 4)) * sd
        cols[name] = base
    for j in range(N_CAT):
        name = f"cat_{j}"
        p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
        if shifted and name in SHIFTED:
            p = np.array([0.15, 0.15, 0.2, 0.2, 0.15, 0.15])
        cols[name] = np.asarray(CATS)[rng.choice(len(CATS), n, p=p)]
    return pl.DataFrame(cols)


def write_data(n: int) -> tuple[Path, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    ref, cur = OUT / f"ref_{n}.parquet", OUT / f"cur_{n}.parquet"
    if not ref.exists():
        generate(n, shifted=False, seed=1).write_parquet(ref)
    if not cur.exists():
        generate(n, shifted=True, seed=2).write_parquet(cur)
    return ref, cur


OURS = r"""
import json, sys, time
import polars as pl
from modelyard.monitoring.drift import drift
t1 = time.perf_counter()
if sys.argv[3] == "eager":   # both tables in memory, as a user holding DataFrames
    ref = pl.read_parquet(sys.argv[1])
    cur = pl.read_parquet(sys.argv[2])
else:                        # the Parquet paths: drift reads one column of each at a time
    ref, cur = sys.argv[1], sys.argv[2]
t_read = time.perf_counter() - t1
t2 = time.perf_counter()
report = drift(ref, cur)
t_drift = time.perf_counter() - t2
print(json.dumps({"read_s": t_read, "drift_s": t_drift, "total_s": t_read + t_drift,
                  "drifted": sorted(report.drifted_features),
                  "tests": sorted({f.test for f in report.features})}))
"""

PEER = r"""
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
t1 = time.perf_counter()
ref = pd.read_parquet(sys.argv[1])
cur = pd.read_parquet(sys.argv[2])
t_read = time.perf_counter() - t1
t2 = time.perf_counter()
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
d = snap.dict()
t_drift = time.perf_counter() - t2
drifted, tests = [], set()
for m in d["metrics"]:
    cfg = m.get("config", {})
    if cfg.get("type", "").endswith("ValueDrift"):
        method = cfg["method"]
        tests.add(method)
        p_value = "p_value" in method
        v, t = m["value"], cfg["threshold"]
        if (v < t) if p_value else (v >= t):
            drifted.append(cfg["column"])
print(json.dumps({"read_s": t_read, "drift_s": t_drift, "total_s": t_read + t_drift,
                  "drifted": sorted(drifted), "tests": sorted(tests)}))
"""


# ---- the streamed prediction-log window --------------------------------------------------------

def write_window(home: Path, rows: int, *, chunk: int = 1_000_000) -> tuple[datetime, datetime]:
    """Parquet partitions of endpoint ``bench`` in the prediction log's layout, one file per
    million rows (the compactor's flat columns)."""
    from modelyard.artifacts.store import open_artifact_store

    artifacts = open_artifact_store(str(home / "artifacts"))
    start = datetime(2026, 3, 1, tzinfo=UTC)
    base = f"{artifacts.root}/predlog/endpoint=bench"
    shutil.rmtree(base, ignore_errors=True)
    t_us = int(start.timestamp() * 1e6)
    for k, offset in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - offset)
        frame = generate(n, shifted=True, seed=100 + k)
        rng = np.random.default_rng(200 + k)
        times = t_us + (offset + np.arange(n, dtype=np.int64)) * 1000  # one row per ms
        meta = pl.DataFrame({
            "id": pl.int_range(offset, offset + n, eager=True).cast(pl.String).str.zfill(32),
            "time": pl.Series(times).cast(pl.Datetime("us", "UTC")),
            "endpoint": pl.Series(["bench"] * n), "route": pl.Series(["champion"] * n),
            "model_name": pl.Series(["bench"] * n), "model_version": pl.Series([1] * n, dtype=pl.Int64),
            "latency_ms": pl.Series(rng.gamma(2.0, 2.0, n)), "shadow": pl.Series([False] * n),
            "request_key": pl.Series([None] * n, dtype=pl.String),
        })
        inputs = frame.rename({c: f"input.{c}" for c in frame.columns})
        pred = pl.Series("output.prediction", (frame["num_01"].to_numpy() > 10).astype(np.int64))
        out = pl.concat([meta, inputs], how="horizontal").with_columns(pred)
        day = datetime.fromtimestamp(times[0] / 1e6, tz=UTC).date().isoformat()
        path = Path(f"{base}/date={day}/bench-{k:04d}.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        out.write_parquet(path, row_group_size=65_536)
    end = start + timedelta(milliseconds=rows)
    return start, end


STREAM = r"""
import json, sys, time
import polars as pl
import modelyard as my
from modelyard.config import Settings
home, start, end, ref_path = sys.argv[1:5]
yard = my.connect(settings=Settings.load({}, home=home))
reference = pl.read_parquet(ref_path)
t0 = time.perf_counter()
result = yard.monitoring.run("bench", start=start, end=end, reference=reference, save=False, alerts=False)
wall = time.perf_counter() - t0
g = result.groups[0]
print(json.dumps({"rows": result.run.n_rows, "wall_s": wall, "drifted": sorted(g.drift.drifted_features),
                  "outlier_share": g.outliers.get("share"), "p99_ms": g.latency.get("latency_p99_ms")}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--stream-rows", type=int, default=10_000_000)
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    ours_python = ROOT / ".venv" / "bin" / "python"
    peer_python = None if args.skip_peer else peer_venv(
        "evidently", ["evidently==0.7.23", "pandas<3", "scikit-learn", "scipy", "numpy"])
    rows, checks = [], []
    for n in (int(s) for s in args.sizes.split(",")):
        ref, cur = write_data(n)
        peer = run_in_venv(peer_python, PEER, str(ref), str(cur)) if peer_python else {}
        for mode in ("eager", "by column"):
            ours = run_in_venv(ours_python, OURS, str(ref), str(cur), mode.split()[0], cwd=ROOT)
            rows.append([f"{n:,}", mode, ours["total_s"], peer.get("total_s", float("nan")),
                         ratio(ours["total_s"], peer.get("total_s", 0), higher_is_better=False),
                         ours["peak_rss_mb"], peer.get("peak_rss_mb", float("nan")),
                         ratio(ours["peak_rss_mb"], peer.get("peak_rss_mb", 0), higher_is_better=False)])
            checks.append((n, mode, ours, peer))
    print_table("Drift of 25 columns (8 shifted): read from Parquet + compute (default tests), "
                "each side in its own process", rows,
                ["rows per side", "ours: input", "ours s", "Evidently s", "speed-up",
                 "ours peak MB", "Evidently peak MB", "memory: Evidently / ours"])
    print(f"\nShifted columns: {SHIFTED}")
    for n, mode, ours, peer in checks:
        print(f"{n:>9,} rows  ours, {mode} ({', '.join(ours['tests'])}; read {ours['read_s']:.2f}s, "
              f"drift {ours['drift_s']:.2f}s): {ours['drifted']}")
        if peer and mode == "eager":
            print(f"{'':>15}Evidently ({', '.join(peer['tests'])}; read {peer['read_s']:.2f}s, "
                  f"drift {peer['drift_s']:.2f}s): {peer['drifted']}")
            print(f"{'':>15}same columns: {ours['drifted'] == peer['drifted']}; "
                  f"ours == shifted: {sorted(SHIFTED) == ours['drifted']}")

    if args.stream_rows:
        home = OUT / "yard"
        ref, _ = write_data(100_000)
        stream_rows = []
        for n in sorted({min(1_000_000, args.stream_rows), args.stream_rows}):
            t0 = time.perf_counter()
            start, end = write_window(home, n)
            gen = time.perf_counter() - t0
            res = run_in_venv(ours_python, STREAM, str(home), start.isoformat(), end.isoformat(),
                              str(ref), cwd=ROOT)
            size = sum(p.stat().st_size for p in (home / "artifacts" / "predlog").rglob("*.parquet"))
            stream_rows.append([f"{res['rows']:,}", f"{size / 1e6:,.0f}", res["wall_s"],
                                res["rows"] / res["wall_s"], res["peak_rss_mb"], len(res["drifted"])])
            print(f"[bench] window of {n:,} rows written in {gen:.1f}s; drifted: {res['drifted']}",
                  file=sys.stderr)
        print_table("yard.monitoring.run on a prediction-log window (streamed in 65,536-row batches; "
                    "drift, quality, outliers, latency)", stream_rows,
                    ["rows", "Parquet MB", "wall s", "rows/s", "peak RSS MB", "drifted columns"])


if __name__ == "__main__":
    main()
