"""Serving: modelyard's model server vs ``mlflow models serve`` (MLflow 3.17.2), one run.

    .venv/bin/python bench/serving.py [--duration 10]

The same model on both sides: GradientBoostingClassifier(n_estimators=100, random_state=0)
fitted on scikit-learn's breast_cancer data with the same scikit-learn version (so the trees are
identical). Each server runs alone, 1 worker, on loopback; ``wrk`` drives the same closed-loop
load (single-row JSON requests) at concurrency 8 and 64 for ``--duration`` seconds:

- MLflow: ``mlflow models serve --env-manager local`` (its venv in ``bench/.venv-mlflow``),
  body ``{"dataframe_records": [row]}``;
- modelyard: ``modelyard serve`` with the durable prediction log (each answer waits for the
  group-committed fsync) and with logging off, body ``{"records": [row]}``.

Then the tail: ``bench/open_loop.py`` (in its own process, sharing the cores with the server)
sends requests by the clock at 25%, 50% and 80% of modelyard's saturation (its best durable
req/s above), and at 50% with the log off, and measures each request's latency from its
intended send time, so a stall shows in every request that should have gone out meanwhile. For each rate the server's own
histograms (``/metrics``: event-loop lag, GC pauses, the durable wait and each fsync) are
read before and after, and ``--profile`` samples the server with py-spy during one more run
at 50% (where its CPU time goes, by function; not in the latency table, as the sampler
takes CPU from the server). ``--no-peer`` skips MLflow. Timings on a shared 2-core
machine are noisy: compare within one run; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, peer_venv, print_table, ratio

TRAIN = '''
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
data = load_breast_cancer(as_frame=True)
X, y = data.data, data.target
model = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y)
'''

MLFLOW_SAVE = TRAIN + '''
import json, sys
import mlflow.sklearn, skops.io
from mlflow.models import infer_signature
path = sys.argv[1]
tmp = path + ".probe.skops"
skops.io.dump(model, tmp)
trusted = skops.io.get_untrusted_types(file=tmp)
mlflow.sklearn.save_model(model, path, signature=infer_signature(X, model.predict(X)),
                          input_example=X[:2], serialization_format="skops",
                          skops_trusted_types=trusted)
print(json.dumps({"saved": path}))
'''

LUA = '''
local f = io.open(os.getenv("BODY_FILE"), "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
'''

NICE = 0  # --nice: the niceness of every process this bench starts (servers and clients)


def niced(cmd: list[str]) -> list[str]:
    """``cmd`` run at niceness ``NICE`` (``nice`` execs it: the process id stays)."""
    return ["nice", "-n", str(NICE), *cmd] if NICE else cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def fsync_latency(folder: Path, n: int = 200) -> tuple[float, float]:
    """p50 and p99 (ms) of appending one record-sized write and fdatasync'ing it, in
    ``folder``: the floor under the durable log's latency on this disk, right now."""
    path = folder / ".fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    times = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 900)
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return times[n // 2], times[min(n - 1, int(n * 0.99))]


def wrk(url: str, body_file: Path, lua: Path, connections: int, duration: int) -> dict[str, Any]:
    out = subprocess.run(
        niced(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s",
               "--timeout", "30s", "--latency", "-s", str(lua), url]),
        capture_output=True, text=True, env={**os.environ, "BODY_FILE": str(body_file)},
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "errors": errors,
            "requests": total}


def histograms(metrics: str) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts (summed over labels) of the server's timing histograms."""
    out: dict[str, dict[float, float]] = {}
    for line in metrics.splitlines():
        m = re.match(r'(modelyard_\w+)_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\} (\S+)', line)
        if m and m.group(1) in TIMING:
            le = float("inf") if m.group(2) == "+Inf" else float(m.group(2))
            by = out.setdefault(m.group(1), {})
            by[le] = by.get(le, 0.0) + float(m.group(3))
    return out


TIMING = {"modelyard_event_loop_lag_seconds": "loop lag",
          "modelyard_gc_pause_seconds": "GC pause",
          "modelyard_prediction_log_wait_seconds": "durable wait",
          "modelyard_wal_fsync_seconds": "fsync",
          "modelyard_predict_latency_seconds": "server latency"}


def summarise(before: dict[str, dict[float, float]],
              after: dict[str, dict[float, float]]) -> dict[str, dict[str, Any]]:
    """Per timing histogram, over a run: count, and the bucket bounds (ms) that hold the
    p50 / p99 / the slowest sample (a histogram knows no more)."""
    out: dict[str, dict[str, Any]] = {}
    for name, label in TIMING.items():
        cum = {le: c - before.get(name, {}).get(le, 0.0) for le, c in after.get(name, {}).items()}
        bounds = sorted(cum)
        total = cum.get(float("inf"), 0.0)
        if not total:
            continue

        out[label] = {"count": int(total), "p50_ms": _bound(cum, 0.5),
                      "p99_ms": _bound(cum, 0.99), "max_ms": _bound(cum, 1.0),
                      "over_5ms": int(total - max((cum[le] for le in bounds if le <= 0.005),
                                                  default=0.0))}
    return out


def _bound(cum: dict[float, float], q: float) -> str:
    """The upper bound (ms) of the bucket that holds quantile ``q``."""
    total = cum[float("inf")]
    for le in sorted(cum):
        if cum[le] >= q * total:
            return "> 1000" if le == float("inf") else f"<= {le * 1000:g}"
    return "?"


def profile_table(raw: Path, top: int = 30) -> list[tuple[str, float, float]]:
    """From py-spy's raw (collapsed) samples of the threads holding the GIL: (function, % of
    samples anywhere on the stack, % as the innermost frame), the most frequent innermost
    first, then modelyard's own functions by their inclusive share (lines merged)."""
    total = 0
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    leaves = sorted(own, key=lambda f: -own[f])[:top]
    ours = [f for f in sorted(inclusive, key=lambda f: -inclusive[f])
            if "modelyard/" in f and "cli/" not in f and f not in leaves][:top // 2]
    return [(f, 100 * inclusive[f] / total, 100 * own.get(f, 0) / total)
            for f in leaves + ours]


def open_loop_run(url: str, body: Path, rate: float, seconds: int) -> dict[str, Any]:
    """``bench/open_loop.py`` at ``rate`` for ``seconds``, in its own process."""
    out = subprocess.run(niced([sys.executable, str(BENCH / "open_loop.py"), url, str(body),
                                str(rate), str(seconds)]), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its children, live or ended."""
    import psutil

    proc = psutil.Process(pid)
    t = proc.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in proc.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--no-peer", action="store_true", help="Skip MLflow.")
    parser.add_argument("--profile", action="store_true",
                        help="Sample the server with py-spy during the 50%% open-loop run.")
    parser.add_argument("--nice", type=int, default=0,
                        help="Run the servers and load generators at this niceness (e.g. -10 "
                        "on a machine shared with other work; needs root for < 0).")
    args = parser.parse_args()
    global NICE
    NICE = args.nice
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    import sklearn

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    lua = work / "post.lua"
    lua.write_text(LUA)
    loads = [load_average()]

    # ---- the model, on both sides ---------------------------------------------------------
    ns: dict[str, Any] = {}
    exec(TRAIN, ns)  # noqa: S102 - the same training code the MLflow side runs
    X, model = ns["X"], ns["model"]
    row = {k: float(v) for k, v in X.iloc[0].items()}
    ours_body, mlflow_body = work / "ours.json", work / "mlflow.json"
    ours_body.write_text(json.dumps({"records": [row]}))
    mlflow_body.write_text(json.dumps({"dataframe_records": [row]}))

    import modelyard as my

    home = work / "home"
    with my.connect(settings=my.Settings.load({}, home=home)) as yard:
        mv = yard.models.register(model, "cancer", example=X[:5])
        yard.models.set_alias("cancer", "production", mv.version)

    results: dict[str, dict[int, dict[str, Any]]] = {}
    modelyard_bin = str(Path(sys.executable).parent / "modelyard")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}

    def start(cmd: list[str], side_env: dict[str, str]) -> subprocess.Popen[Any]:
        return subprocess.Popen(niced(cmd), env=side_env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def run_side(name: str, cmd: list[str], ready: str, url: str, body: Path,
                 side_env: dict[str, str]) -> None:
        proc = start(cmd, side_env)
        try:
            wait_for(ready)
            httpx.post(url, content=body.read_bytes(),
                       headers={"content-type": "application/json"}).raise_for_status()
            wrk(url, body, lua, 8, 2)  # warm-up
            results[name] = {}
            for c in (8, 64):
                cpu = cpu_seconds(proc.pid)
                r = results[name][c] = wrk(url, body, lua, c, args.duration)
                # the server's CPU per answered request: what the load average cannot hide
                r["cpu_ms_per_request"] = 1000 * (cpu_seconds(proc.pid) - cpu) / r["requests"]
            loads.append(load_average())
            print(f"[bench] {name}: " + ", ".join(
                f"c{c} {r['rps']:.0f} req/s p99 {r['p99_ms']:.1f} ms"
                for c, r in results[name].items()) + f" (load {loads[-1]})", file=sys.stderr)
        finally:
            stop(proc)

    if not args.no_peer:
        python = peer_venv("mlflow", ["mlflow==3.17.2", "pandas<3",
                                      f"scikit-learn=={sklearn.__version__}"])
        mlflow_model = work / "mlflow-model"
        peer_env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true",
                    "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run([str(python), "-c", MLFLOW_SAVE, str(mlflow_model)], check=True,
                       env=peer_env, capture_output=True)
        port = free_port()
        run_side("mlflow", [str(python.parent / "mlflow"), "models", "serve", "-m",
                            str(mlflow_model), "--env-manager", "local", "-h", "127.0.0.1",
                            "-p", str(port), "-w", "1"],
                 f"http://127.0.0.1:{port}/ping", f"http://127.0.0.1:{port}/invocations",
                 mlflow_body, peer_env)
    fsync_before = fsync_latency(home)
    serve = [modelyard_bin, "serve", "--model", "cancer@production", "--home", str(home),
             "--log-level", "warning"]
    for durability in ("durable", "off"):
        port = free_port()
        run_side(f"modelyard ({durability})",
                 [*serve, "--port", str(port), "--durability", durability],
                 f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{port}/predict/cancer",
                 ours_body, env)
    fsync_after = fsync_latency(home)

    # ---- the tail: open loop at 25%, 50%, 80% of saturation -------------------------------
    durable = results["modelyard (durable)"]
    saturation = max(r["rps"] for r in durable.values())
    open_loop: dict[str, dict[str, Any]] = {}
    profile: list[tuple[str, float, float]] = []
    # durable at each share, then the log off at 50% (what the durable wait adds)
    for durability, shares in (("durable", (0.25, 0.5, 0.8)), ("off", (0.5,))):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start([*serve, "--port", str(port), "--durability", durability], env)
        try:
            wait_for(f"{base}/readyz")
            open_loop_run(f"{base}/predict/cancer", ours_body, 0.25 * saturation, 2)  # warm-up
            for share in shares:
                before = histograms(httpx.get(f"{base}/metrics").text)
                cpu = cpu_seconds(proc.pid)
                r = open_loop_run(f"{base}/predict/cancer", ours_body, share * saturation,
                                  args.duration)
                after = histograms(httpx.get(f"{base}/metrics").text)
                cpu = cpu_seconds(proc.pid) - cpu
                loads.append(load_average())
                label = f"{share:.0%}" + ("" if durability == "durable" else ", log off")
                open_loop[label] = {**r, "server": summarise(before, after), "load": loads[-1],
                                    "cpu_ms_per_request": 1000 * cpu / max(1, r["answered"])}
            if args.profile and durability == "durable":
                # a run of its own: the sampler takes CPU from the server
                spy = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                     str(proc.pid), "-d", str(args.duration), "-r", "200", "-f", "raw",
                     "--gil", "--nonblocking", "-o", str(work / "profile.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                open_loop_run(f"{base}/predict/cancer", ours_body, 0.5 * saturation,
                              args.duration)
                spy.wait()
                if (work / "profile.txt").exists():
                    profile = profile_table(work / "profile.txt")
        finally:
            stop(proc)

    # ---- report ---------------------------------------------------------------------------
    rows = []
    for name, by_c in results.items():
        for c, r in by_c.items():
            peer = results.get("mlflow", {}).get(c)
            rows.append([name, c, r["rps"], r["p50_ms"], r["p99_ms"], r["errors"],
                         f"{r['cpu_ms_per_request']:.3f}",
                         ratio(r["rps"], peer["rps"]) if peer else "-"])
    print_table("Serving: GradientBoosting(100 trees) on breast_cancer, 1 worker, single-row "
                f"requests, wrk {args.duration} s",
                rows, ["server", "concurrency", "req/s", "p50 ms", "p99 ms", "errors",
                       "server cpu ms/request", "vs mlflow"])
    off = results["modelyard (off)"]
    cost = {c: 1 - durable[c]["rps"] / off[c]["rps"] for c in (8, 64)}
    cpu_cost = {c: durable[c]["cpu_ms_per_request"] / off[c]["cpu_ms_per_request"] - 1
                for c in (8, 64)}
    print(f"\ndurable logging costs {cost[8]:.0%} of throughput at concurrency 8 (goal <= 10%), "
          f"{cost[64]:.0%} at 64; in server CPU per request {cpu_cost[8]:+.0%} at 8, "
          f"{cpu_cost[64]:+.0%} at 64; fdatasync on this disk meanwhile: p50 "
          f"{fsync_before[0]:.2f} / {fsync_after[0]:.2f} ms, p99 {fsync_before[1]:.2f} / "
          f"{fsync_after[1]:.2f} ms (before / after)")
    rows = [[share, f"{r['target_rate']:.0f}", r["rate"], r["p50_ms"], r["p90_ms"], r["p99_ms"],
             r["max_ms"], r["errors"], r["send_lag_p99_ms"], f"{r['cpu_ms_per_request']:.3f}",
             r["load"]] for share, r in open_loop.items()]
    print_table(f"Open loop (bench/open_loop.py), shares of saturation {saturation:.0f} "
                f"req/s; goal at 50%: p99 <= 3x p50 and < 10 ms", rows,
                ["share", "target req/s", "achieved", "p50 ms", "p90 ms", "p99 ms", "max ms",
                 "errors", "client send lag p99 ms", "server cpu ms/request", "load average"])
    rows = [[share, label, t["count"], t["p50_ms"], t["p99_ms"], t["max_ms"], t["over_5ms"]]
            for share, r in open_loop.items() for label, t in r["server"].items()]
    print_table("Where the time goes: the server's histograms over each open-loop run", rows,
                ["share", "histogram", "samples", "p50 ms", "p99 ms", "max ms", "over 5 ms"])
    if profile:
        print_table("py-spy --gil, the server during a separate 50% run (% of samples holding "
                    "the GIL)",
                    [[f[:110], f"{inc:.1f}", f"{own:.1f}"] for f, inc, own in profile],
                    ["function", "on stack %", "innermost %"])
    print(f"\nload average (1 / 5 / 15 min) through the run: {' -> '.join(loads)}"
          + (f"; servers and clients at nice {NICE}" if NICE else ""))
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "serving.json").write_text(json.dumps(
        {"results": {k: {str(c): r for c, r in v.items()} for k, v in results.items()},
         "logging_cost": cost, "logging_cpu_cost": cpu_cost,
         "fsync_ms": {"before": fsync_before, "after": fsync_after},
         "saturation": saturation, "open_loop": open_loop, "profile": profile,
         "load_average": loads}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
