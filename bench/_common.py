"""Shared helpers for the benchmarks: a peer's own venv, timing, peak memory, a ratio table.

Peers (MLflow, Evidently, DVC, deltalake …) are installed into ``bench/.venv-<name>`` by the
bench that needs them, never into the project's ``.venv``. A peer's side of a benchmark runs
as a script in that venv (``run_in_venv``); ours runs in this interpreter or a subprocess.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def peer_venv(name: str, requirements: Sequence[str]) -> Path:
    """Create (once) ``bench/.venv-<name>`` with ``requirements``; returns its python."""
    where = BENCH / f".venv-{name}"
    python = where / "bin" / "python"
    stamp = where / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(where)
    print(f"[bench] installing {name} peer: {' '.join(requirements)}", file=sys.stderr)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        check=True,
    )
    stamp.write_text(wanted)
    return python


def run_in_venv(python: Path, script: str, *args: str, env: dict[str, str] | None = None,
                cwd: str | Path | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run ``script`` (Python source) with the peer's interpreter; it must print one JSON
    object as its last line of stdout, which is returned (with ``peak_rss_mb`` added)."""
    full_env = {**os.environ, **(env or {})}
    bin_dir = str(python.parent)
    full_env["PATH"] = bin_dir + os.pathsep + full_env.get("PATH", "")
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "__RSS_KB__=%M", str(python), "-c", script, *args]
        if Path("/usr/bin/time").exists() else [str(python), "-c", script, *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"peer script failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    result: dict[str, Any] = json.loads(lines[-1])
    for ln in proc.stderr.splitlines():
        if ln.startswith("__RSS_KB__="):
            result["peak_rss_mb"] = int(ln.split("=", 1)[1]) / 1024
    return result


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    widths = [max(len(str(h)), *(len(_fmt(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n## {title}")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(_fmt(v).ljust(w) for v, w in zip(r, widths)) + " |")


def ratio(ours: float, theirs: float, higher_is_better: bool = True) -> str:
    if not ours or not theirs:
        return "n/a"
    x = ours / theirs if higher_is_better else theirs / ours
    return f"{x:.1f}x"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)
