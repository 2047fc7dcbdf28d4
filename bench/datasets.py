"""Dataset versions: modelyard against DVC and Delta Lake on the same Parquet files.

    .venv/bin/python bench/datasets.py                      # 1M and 10M rows x 20 columns
    .venv/bin/python bench/datasets.py --sizes 1000000 --appends 10

1. Snapshot: add (+ profile, for us) a file of N rows x 20 columns. DVC: ``dvc add`` (through
   its Python API, so interpreter start-up is not counted), Delta: ``write_deltalake`` into a
   new table. Wall time, peak RSS of the process, storage.
2. Appends: a 100k-row start then ``--appends`` appends of 100k rows, then a read of an early
   version (the 5th). Ours: ``append`` + ``as_of``; Delta: ``mode="append"`` + ``version=``;
   DVC: a new part file in a tracked folder + ``dvc add`` on the folder, then restoring the
   folder's old ``.dvc`` file + ``dvc checkout`` + reading it. Storage after the appends.

The data is generated once under ``bench/out/datasets`` and the same files go to all three.
Each side runs in its own process (ours in the project's venv, peers in ``bench/.venv-<peer>``)
so each peak RSS is that side's own; the sides run ``--repeat`` times, interleaved, and the
median run of each is reported with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, ROOT, peer_venv, print_table, ratio, run_in_venv

DATA = BENCH / "out" / "datasets"
OURS_PYTHON = ROOT / ".venv" / "bin" / "python"
EARLY = 5  # the version read back after the appends


# ---- data --------------------------------------------------------------------------------------
def make_chunk(n: int, seed: int, start_us: int) -> pa.Table:
    """n rows x 20 columns: event time, 8 floats, 6 integers, 4 categories, 1 flag."""
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {
        "ts": pa.array(start_us + np.arange(n, dtype=np.int64) * 1_000_000, pa.timestamp("us", "UTC"))
    }
    for i in range(8):
        cols[f"f{i}"] = pa.array(np.round(rng.normal(100 * i, 10 + i, n), 2))
    for i in range(6):
        cols[f"i{i}"] = pa.array(rng.integers(0, 10 ** (i + 1), n))
    cats = [np.array([f"c{j}" for j in range(k)]) for k in (3, 10, 50, 500)]
    for i, values in enumerate(cats):
        cols[f"s{i}"] = pa.array(values[rng.integers(0, len(values), n)])
    cols["flag"] = pa.array(rng.random(n) < 0.1)
    return pa.table(cols)


def write_file(path: Path, n: int, seed: int, start_us: int = 1_767_225_600_000_000) -> Path:
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == n:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    step = 1_000_000
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, make_chunk(1, 0, 0).schema) as writer:
        for i, lo in enumerate(range(0, n, step)):
            writer.write_table(make_chunk(min(step, n - lo), seed + i, start_us + lo * 1_000_000))
    tmp.replace(path)
    return path


# ---- the three sides ---------------------------------------------------------------------------
OURS_SNAPSHOT = r"""
import json, sys, time, shutil
from pathlib import Path
import modelyard as my
path, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
yard = my.connect(f"sqlite:///{work}/yard.db", artifacts=f"{work}/artifacts", home=work)
yard.datasets  # imports, as the peers' imports happen before their clocks start
t = time.perf_counter()
dv = yard.datasets.add("bench", path, time_column="ts")
seconds = time.perf_counter() - t
assert dv.n_rows > 0 and dv.profile["f0"].count == dv.n_rows
size = sum(p.stat().st_size for p in Path(work).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "rows": dv.n_rows, "fragments": len(dv.fragments),
                  "bytes": size}))
"""

OURS_APPENDS = r"""
import json, sys, time, shutil
from pathlib import Path
import modelyard as my
parts, work = sorted(Path(sys.argv[1]).glob("part-*.parquet")), sys.argv[2]
early = int(sys.argv[3])
shutil.rmtree(work, ignore_errors=True)
yard = my.connect(f"sqlite:///{work}/yard.db", artifacts=f"{work}/artifacts", home=work)
import modelyard.datasets.timetravel  # imports, as the peers' imports happen before their clocks start
yard.datasets.add("bench", str(parts[0]), time_column="ts")
t = time.perf_counter()
for part in parts[1:]:
    dv = yard.datasets.append("bench", str(part))
append_seconds = time.perf_counter() - t
when = yard.datasets.get("bench", version=early).created_at
t = time.perf_counter()
table = yard.datasets.as_of("bench", when).to_arrow()
read_seconds = time.perf_counter() - t
size = sum(p.stat().st_size for p in Path(work).rglob("*") if p.is_file())
print(json.dumps({"append_seconds": append_seconds, "read_seconds": read_seconds,
                  "read_rows": table.num_rows, "bytes": size, "versions": dv.version}))
"""

DELTA_SNAPSHOT = r"""
import json, sys, time, shutil
from pathlib import Path
import pyarrow.parquet as pq
from deltalake import write_deltalake
path, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
t = time.perf_counter()
reader = pq.ParquetFile(path)
import pyarrow as pa
batches = pa.RecordBatchReader.from_batches(reader.schema_arrow, reader.iter_batches())
write_deltalake(work, batches)
seconds = time.perf_counter() - t
size = sum(p.stat().st_size for p in Path(work).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "bytes": size}))
"""

DELTA_APPENDS = r"""
import json, sys, time, shutil
from pathlib import Path
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
parts, work = sorted(Path(sys.argv[1]).glob("part-*.parquet")), sys.argv[2]
early = int(sys.argv[3])
shutil.rmtree(work, ignore_errors=True)
write_deltalake(work, pq.read_table(parts[0]))
t = time.perf_counter()
for part in parts[1:]:
    write_deltalake(work, pq.read_table(part), mode="append")
append_seconds = time.perf_counter() - t
t = time.perf_counter()
table = DeltaTable(work, version=early - 1).to_pyarrow_table()
read_seconds = time.perf_counter() - t
size = sum(p.stat().st_size for p in Path(work).rglob("*") if p.is_file())
print(json.dumps({"append_seconds": append_seconds, "read_seconds": read_seconds,
                  "read_rows": table.num_rows, "bytes": size}))
"""

DVC_SNAPSHOT = r"""
import json, os, sys, time, shutil
from pathlib import Path
path, work = sys.argv[1], Path(sys.argv[2])
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
os.chdir(work)
from dvc.repo import Repo
repo = Repo.init(no_scm=True)
shutil.copyfile(path, "data.parquet")          # the file is in the workspace before `dvc add`
t = time.perf_counter()
repo.add("data.parquet")
seconds = time.perf_counter() - t
size = sum(p.stat().st_size for p in (work / ".dvc" / "cache").rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "bytes": size}))
"""

DVC_APPENDS = r"""
import json, os, sys, time, shutil
from pathlib import Path
import pyarrow.dataset as ds
parts, work = sorted(Path(sys.argv[1]).glob("part-*.parquet")), Path(sys.argv[2])
early = int(sys.argv[3])
history = Path(str(work) + "-history")   # kept outside the repo: what git would hold
for folder in (work, history):
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
os.chdir(work)
from dvc.repo import Repo
repo = Repo.init(no_scm=True)
os.mkdir("data")
shutil.copyfile(parts[0], "data/" + parts[0].name)
repo.add("data")
shutil.copyfile("data.dvc", history / "v1.dvc")
seconds = 0.0
for i, part in enumerate(parts[1:], start=2):
    shutil.copyfile(part, "data/" + part.name)   # a new file in the tracked folder
    t = time.perf_counter()
    repo.add("data")
    seconds += time.perf_counter() - t
    shutil.copyfile("data.dvc", history / f"v{i}.dvc")
t = time.perf_counter()
shutil.copyfile(history / f"v{early}.dvc", "data.dvc")
repo.checkout("data.dvc", force=True)
table = ds.dataset("data", format="parquet").to_table()
read_seconds = time.perf_counter() - t
size = sum(p.stat().st_size for p in (work / ".dvc" / "cache").rglob("*") if p.is_file())
print(json.dumps({"append_seconds": seconds, "read_seconds": read_seconds,
                  "read_rows": table.num_rows, "bytes": size}))
"""


def _median_runs(sides: dict[str, tuple[Path, str]], args: list[str], repeat: int,
                 key: str) -> dict[str, dict]:
    """Run every side ``repeat`` times, interleaved (ours, peer, ours, peer …) so that a
    change in the shared machine's load hits all sides alike; for each side, the run with
    the median ``key``."""
    runs: dict[str, list[dict]] = {who: [] for who in sides}
    for _ in range(repeat):
        for who, (python, script) in sides.items():
            try:
                runs[who].append(run_in_venv(python, script, *args[who]))  # type: ignore[index]
            except RuntimeError as exc:  # a crash (seen once: pyarrow aborting at exit)
                print(f"[bench] {who} failed, running it again: {str(exc)[-300:]}",
                      file=sys.stderr)
                runs[who].append(run_in_venv(python, script, *args[who]))  # type: ignore[index]
    return {who: sorted(r, key=lambda x: x[key])[len(r) // 2] for who, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="rows of the snapshot files, comma-separated")
    parser.add_argument("--appends", type=int, default=50)
    parser.add_argument("--append-rows", type=int, default=100_000)
    parser.add_argument("--peers", default="dvc,delta", help="dvc,delta or a subset ('' for none)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per side, interleaved; the median is reported")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    peers = {p for p in args.peers.split(",") if p}
    work = DATA / "work"
    shutil.rmtree(work, ignore_errors=True)

    dvc = peer_venv("dvc", ["dvc", "pyarrow"]) if "dvc" in peers else None
    delta = peer_venv("deltalake", ["deltalake", "pyarrow"]) if "delta" in peers else None
    snapshot_sides = {"ours": (OURS_PYTHON, OURS_SNAPSHOT)}
    append_sides = {"ours": (OURS_PYTHON, OURS_APPENDS)}
    for who, python, snap, appends in (("DVC", dvc, DVC_SNAPSHOT, DVC_APPENDS),
                                       ("Delta", delta, DELTA_SNAPSHOT, DELTA_APPENDS)):
        if python is not None:
            snapshot_sides[who] = (python, snap)
            append_sides[who] = (python, appends)
    print(f"[bench] load average before: {os.getloadavg()}", file=sys.stderr)

    rows = []
    for n in sizes:
        path = write_file(DATA / f"snapshot-{n}.parquet", n, seed=n)
        mb = path.stat().st_size / 1e6
        result = _median_runs(
            snapshot_sides, {who: [str(path), str(work / who)] for who in snapshot_sides},
            args.repeat, "seconds",
        )
        ours = result["ours"]
        label = f"add {n:,} rows x 20 cols ({mb:,.0f} MB Parquet)"
        rows.append([f"{label}: ours (add + profile)", ours["seconds"], ours["peak_rss_mb"],
                     ours["bytes"] / 1e6, ""])
        for who, peer in (("DVC", "DVC dvc add"), ("Delta", "Delta write")):
            if who in result:
                theirs = result[who]
                rows.append([f"{label}: {peer}", theirs["seconds"], theirs["peak_rss_mb"],
                             theirs["bytes"] / 1e6,
                             ratio(ours["seconds"], theirs["seconds"], higher_is_better=False)])
        shutil.rmtree(work, ignore_errors=True)
    if rows:
        print_table(f"Snapshot (median of {args.repeat} interleaved runs; seconds; ratio = peer "
                    f"time / our time; load average {_load()})", rows,
                    ["case", "seconds", "peak RSS MB", "stored MB", "ours faster by"])

    parts_dir = DATA / f"parts-{args.append_rows}"
    for i in range(args.appends + 1):
        write_file(parts_dir / f"part-{i:03d}.parquet", args.append_rows, seed=10_000 + i,
                   start_us=1_767_225_600_000_000 + i * args.append_rows * 1_000_000)
    for stale in sorted(parts_dir.glob("part-*.parquet"))[args.appends + 1:]:
        stale.unlink()
    early = min(EARLY, args.appends + 1)
    results = _median_runs(
        append_sides, {who: [str(parts_dir), str(work / who), str(early)] for who in append_sides},
        args.repeat, "append_seconds",
    )
    ours = results["ours"]
    shutil.rmtree(work, ignore_errors=True)
    expected_rows = early * args.append_rows
    rows = []
    for who, r in results.items():
        assert r["read_rows"] == expected_rows, (who, r["read_rows"], expected_rows)
        rows.append([
            who, r["append_seconds"], r["append_seconds"] / args.appends * 1000,
            r["read_seconds"] * 1000, r["bytes"] / 1e6, r["peak_rss_mb"],
            "" if who == "ours" else ratio(ours["append_seconds"], r["append_seconds"], False),
            "" if who == "ours" else ratio(ours["read_seconds"], r["read_seconds"], False),
        ])
    print_table(
        f"{args.appends} appends of {args.append_rows:,} rows, then a read of version {early} "
        f"({expected_rows:,} rows); median of {args.repeat} interleaved runs; load average "
        f"{_load()}",
        rows,
        ["who", "appends s", "ms/append", f"read v{early} ms", "stored MB", "peak RSS MB",
         "ours faster (append)", "ours faster (read)"],
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
