#!/usr/bin/env bash
# bench/distributed.py's Dask part on a bigger machine (the lent 16-core one): the scaling of
# batch scoring, a 24-trial search and a 52-step backtest from 2 to 16 Dask workers, against
# this process. Self-contained on a fresh machine holding only the repository: makes its own
# venv (.venv-bench, PyPI only), installs modelyard with the dask extra, runs the bench with
# a time limit, and leaves everything under $OUT (default ./bench-out):
#   env.txt          python, cores, memory, load average, package versions
#   install.log      pip's output
#   results.jsonl    one JSON line per case, appended as each finishes (kept if time runs out)
#   bench.log        the bench's progress and tables (stdout and stderr)
# Budget: under 6 minutes in all (install ~1-2 min; the bench is cut at BENCH_SECONDS).
#
#   OUT=/tmp/out bash scripts/gpu_distributed.sh
#   WORKERS=2,4,8,16 ROWS=2000000 EXECUTORS=serial,dask BENCH_SECONDS=240 bash scripts/gpu_distributed.sh
set -u -o pipefail

cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/bench-out}"
WORKERS="${WORKERS:-2,4,8,16}"
ROWS="${ROWS:-2000000}"
EXECUTORS="${EXECUTORS:-serial,dask}"
BENCH_SECONDS="${BENCH_SECONDS:-240}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "python: $($PY --version 2>&1)"
  echo "cores: $(nproc)"
  echo "memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
} > "$OUT/env.txt"

if [ ! -x .venv-bench/bin/python ]; then
  "$PY" -m venv .venv-bench || { echo "venv failed (python3-venv missing?)" | tee -a "$OUT/env.txt"; exit 1; }
fi
VPY=.venv-bench/bin/python
if ! timeout 200 "$VPY" -m pip install -q --disable-pip-version-check --progress-bar off \
    -e '.[dask]' > "$OUT/install.log" 2>&1; then
  echo "pip install failed or took over 200 s; see install.log" | tee -a "$OUT/env.txt"
  tail -20 "$OUT/install.log"
  exit 1
fi
"$VPY" -m pip list --format=freeze 2>/dev/null \
  | grep -iE '^(dask|distributed|scikit-learn|pandas|pyarrow|numpy)==' >> "$OUT/env.txt"

# the bench appends each case to results.jsonl as it finishes; a timeout keeps what was done
timeout --signal=INT --kill-after=15 "$BENCH_SECONDS" "$VPY" bench/distributed.py \
  --quick --rows "$ROWS" --workers "$WORKERS" --executors "$EXECUTORS" \
  --out "$OUT/results.jsonl" --root "${TMPDIR:-/tmp}" > "$OUT/bench.log" 2>&1
status=$?
echo "bench exit status: $status (124/130: cut at ${BENCH_SECONDS} s)" >> "$OUT/env.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"
grep -v '^\s*$' "$OUT/bench.log" | grep -vE '^(INFO|WARNING|DEBUG)|distributed\.' | tail -40
exit 0
