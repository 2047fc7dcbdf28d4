#!/usr/bin/env bash
# Micro-batching of a PyTorch MLP on a GPU: bench/batching.py --models mlp --device cuda, on a
# fresh machine that has only this repository (no venv), results under $OUT.
#
#   scripts/gpu_bench.sh --fetch-wheels   # here, with PyPI: the serving path's packages that
#                                         # the GPU image lacks, as cp312 wheels in .whl/
#   scripts/gpu_bench.sh                  # there (OUT=... set; .whl/ carried if no PyPI)
#
# On the GPU machine it makes a venv that sees the packages of python3 when that already
# imports torch (the image's CUDA build is used as is; nothing is downloaded for it),
# else a plain venv and torch from PyPI. modelyard's own dependencies come from .whl/ when that
# folder exists (offline: pip --no-index), else from PyPI (`pip install -e .`); either way the
# bench runs the repo's src/ on PYTHONPATH. Under 6 minutes: --quick (5 s per side).
# Environment: OUT (default ./gpu-bench-out), DEVICE (default cuda), BENCH_ARGS (extra args),
# WHEELS (the wheel folder, default .whl).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
WHEELS="$(cd "$ROOT" && realpath -m "${WHEELS:-.whl}")"  # WHEELS=folder: another one
# modelyard's imports on the serving path that the GPU image (python 3.12) does not hold,
# pinned as in the project's venv (pydantic and pydantic-core must match each other)
# (not polars, 54 MB: only registration's importance hook reaches it, and it logs and goes on)
NEEDED="sqlalchemy==2.1.9 greenlet==3.5.6 alembic==1.20.1 mako==1.4.3 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
typing-inspection==0.4.5 orjson==3.13.0 uuid-utils==1.2.0 uvicorn==0.54.0 httptools==0.9.0"

if [ "${1:-}" = "--fetch-wheels" ]; then
    mkdir -p "$WHEELS"
    exclude="$(git rev-parse --git-path info/exclude)"  # it travels only when carried
    name="/$(realpath --relative-to="$ROOT" "$WHEELS")/"
    grep -qxF "$name" "$exclude" 2>/dev/null || echo "$name" >> "$exclude"
    for spec in $NEEDED; do
        python3 -m pip download -q --no-deps --only-binary=:all: \
            --python-version "${PYVER:-3.12}" \
            --implementation cp --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 -d "$WHEELS" "$spec" || exit 1
    done
    du -sh "$WHEELS"
    exit 0
fi

OUT="${OUT:-$ROOT/gpu-bench-out}"
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
LOG="$OUT/gpu_bench.log"
exec > >(tee -a "$LOG") 2>&1
echo "== $(date -u) on $(hostname): $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader

VENV="${TMPDIR:-/tmp}/modelyard-gpu-venv"
SITE=""  # set when no venv could be made: packages go to a folder on PYTHONPATH instead
rm -rf "$VENV"
if python3 -c 'import torch' 2>/dev/null; then
    echo "== system torch $(python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())')"
    if python3 -m venv --system-site-packages "$VENV" \
            || { rm -rf "$VENV"; python3 -m venv --without-pip --system-site-packages "$VENV"; }; then
        # python3 may itself be a venv (the GPU image's is), whose packages
        # --system-site-packages does not reach: its site-packages go on the new venv's path,
        # after the venv's own
        site_dirs="$(python3 -c 'import site; print("\n".join(site.getsitepackages()))')"
        "$VENV/bin/python" - "$site_dirs" <<'PYEOF' || exit 1
import site, sys
from pathlib import Path
(Path(site.getsitepackages()[0]) / "zz_system_python.pth").write_text(sys.argv[1] + "\n")
PYEOF
        PY="$VENV/bin/python"
        if "$PY" -m pip --version >/dev/null 2>&1; then
            PIP=("$PY" -m pip install)
        else  # a venv without pip (no ensurepip here): the system pip installs into it
            PIP=(python3 -m pip --python "$PY" install)
        fi
    else
        echo "== no venv could be made: packages into a folder on PYTHONPATH"
        rm -rf "$VENV"
        PY=python3
        SITE="$VENV-site"
        PIP=(python3 -m pip install --target "$SITE")
    fi
else
    echo "== no system torch: a plain venv, torch from PyPI"
    python3 -m venv "$VENV" || exit 1
    PY="$VENV/bin/python"
    PIP=("$PY" -m pip install)
    "${PIP[@]}" -q --retries 1 --timeout 30 torch || {
        echo "could not install torch" | tee "$OUT/result.txt"; exit 1; }
fi
PIP+=(-q --disable-pip-version-check --no-compile)
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "== modelyard's dependencies from $WHEELS (offline)"
    "${PIP[@]}" --no-index --no-deps "$WHEELS"/*.whl || exit 1
elif [ -n "$SITE" ]; then
    echo "== modelyard's dependencies from PyPI"
    "${PIP[@]}" --retries 1 --timeout 30 $NEEDED || {
        echo "no PyPI here? Run scripts/gpu_bench.sh --fetch-wheels where PyPI is reached" \
             "and carry .whl/" | tee "$OUT/result.txt"; exit 1; }
else
    echo "== modelyard from PyPI (pip install -e .)"
    "${PIP[@]}" --retries 1 --timeout 30 -e . || {
        echo "pip install -e . failed: no PyPI here? Run scripts/gpu_bench.sh --fetch-wheels" \
             "where PyPI is reached and carry .whl/" | tee "$OUT/result.txt"; exit 1; }
fi
export PYTHONPATH="$ROOT/src${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$PY" -c 'import modelyard, modelyard.serving.app, uvicorn, torch; print("== imports ok; cuda:", torch.cuda.is_available())' \
    || { echo "modelyard does not import: see the log" > "$OUT/result.txt"; exit 1; }
command -v wrk >/dev/null || echo "== no wrk: the closed loop is bench/open_loop.py --closed"

# shellcheck disable=SC2086 # BENCH_ARGS is a list of words
timeout 300 "$PY" bench/batching.py --models mlp --device "$DEVICE" --quick --peer none \
    --out "$OUT" ${BENCH_ARGS:-} | tee "$OUT/result.txt"
rc=${PIPESTATUS[0]}
echo "== exit $rc, $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$rc"
