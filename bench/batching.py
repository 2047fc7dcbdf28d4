"""Adaptive micro-batching: single-row requests at concurrency 64, each request predicted
alone vs gathered into batches, for a GradientBoosting model and a PyTorch MLP; one run.

    .venv/bin/python bench/batching.py [--models gb,mlp] [--device cpu|cuda] [--quick]
                                       [--duration 10] [--concurrency 64] [--peer auto|none]

Each side is ``modelyard serve`` (1 worker, durable prediction log) with one endpoint whose
``batching`` is ``false`` (alone), not set (automatic: requests that arrived in the same turn
of the event loop), or ``{max_delay_ms, max_batch_rows}`` (batched); a closed loop of
``--concurrency`` connections sends single-row JSON requests for ``--duration`` seconds
(``wrk`` where it is installed, else ``bench/open_loop.py --closed`` in its own process).
The rows per model call come from the server's ``modelyard_batch_rows`` histogram.

Models: GradientBoostingClassifier(100 trees) on breast_cancer (as ``bench/serving.py``), and
an MLP (``bench/_mlp.py``: 30 inputs, ``--layers`` x ``--hidden`` ReLU layers, one output,
random weights; on ``--device cuda`` a deeper default, whose per-call cost is what batching
amortises). ``--device cuda`` puts the MLP on the GPU (``device: cuda``); the GB model always
runs on the CPU.

Peers, side by side in the same run: ``mlflow models serve`` 3.17.2 (no batching) for the
GB model, and BentoML 1.4.40 with adaptive batching (``batchable=True``) for the GB model,
each in its own venv under ``bench/.venv-*``; ``--peer none`` skips them (the GPU machine
reaches no package registry). No peer runs the MLP: MLflow's pytorch flavor would pickle the
module, and a torch for the peers' venvs is a CUDA build of several GB from PyPI.

``--quick``: 5 s per side, alone and batched only, no peers. ``--out DIR``: also write
``batching.json`` there. Timings on a shared machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, ROOT, peer_venv, print_table, ratio

import serving
from serving import LUA, MLFLOW_SAVE, TRAIN, free_port, load_average, niced, stop, wait_for, wrk

MODELYARD = "from modelyard.cli.main import main; main()"

BENTO_SERVICE = '''
import bentoml, joblib, numpy as np, os

@bentoml.service(workers=1)
class Cancer:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENCH_MODEL"])

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=1000)
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)
'''

BENTO_SAVE = TRAIN + '''
import joblib, json, sys
joblib.dump(model, sys.argv[1])
print(json.dumps({"saved": sys.argv[1]}))
'''


def closed_loop(url: str, body: Path, concurrency: int, duration: int,
                lua: Path) -> dict[str, Any]:
    """Throughput and latency of a closed loop: wrk if installed, else open_loop.py."""
    if shutil.which("wrk"):
        r = wrk(url, body, lua, concurrency, duration)
        return {**r, "client": "wrk"}
    out = subprocess.run(
        niced([sys.executable, str(BENCH / "open_loop.py"), url, str(body), "0", str(duration),
               "--closed", str(concurrency)]), capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {"rps": r["rate"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
            "errors": r["errors"], "requests": r["answered"], "client": "open_loop.py"}


def wait_ready(proc: subprocess.Popen[Any], url: str, log: Path, timeout: float = 600) -> None:
    """Until ``url`` answers 200; raises with the server's log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): "
                               f"{log.read_text()[-2000:]}")
        try:
            wait_for(url, timeout=1)
            return
        except TimeoutError:
            pass
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def batch_rows(metrics: str) -> float | None:
    """Mean rows per model call of the main route, from /metrics."""
    def value(kind: str) -> float:
        m = re.search(rf'modelyard_batch_rows_{kind}{{[^}}]*route="main"[^}}]*}} (\S+)',
                      metrics)
        return float(m.group(1)) if m else 0.0

    calls = value("count")
    return value("sum") / calls if calls else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gb,mlp", help="gb, mlp or both (comma-separated)")
    parser.add_argument("--device", default="cpu", help="Where the MLP runs: cpu, cuda …")
    parser.add_argument("--quick", action="store_true",
                        help="5 s per side, alone and batched only, no peers.")
    parser.add_argument("--duration", type=int, default=None, help="Seconds per side.")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-delay-ms", type=float, default=2.0)
    parser.add_argument("--max-batch-rows", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=None,
                        help="MLP width (default 256 on the CPU, 1024 on a GPU).")
    parser.add_argument("--layers", type=int, default=None,
                        help="MLP hidden layers (default 4 on the CPU, 128 on a GPU).")
    parser.add_argument("--durability", default="durable", help="durable, async or off.")
    parser.add_argument("--peer", default="auto", help="auto (MLflow, BentoML) or none.")
    parser.add_argument("--out", type=Path, default=None, help="Also write batching.json here.")
    parser.add_argument("--nice", type=int, default=0,
                        help="Run the servers and load generators at this niceness (e.g. -10 "
                        "on a machine shared with other work; needs root for < 0).")
    args = parser.parse_args()
    serving.NICE = args.nice
    duration = args.duration or (5 if args.quick else 10)
    on_gpu = args.device != "cpu"
    hidden = args.hidden or (1024 if on_gpu else 256)
    layers = args.layers or (128 if on_gpu else 4)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    peers = args.peer != "none" and not args.quick
    modes = {"alone": False, "batched": {"max_delay_ms": args.max_delay_ms,
                                          "max_batch_rows": args.max_batch_rows}}
    if not args.quick:
        modes = {"alone": False, "automatic": None, "batched": modes["batched"]}

    work = Path(tempfile.mkdtemp(prefix="bench-batching-"))
    lua = work / "post.lua"
    lua.write_text(LUA)
    load_before = load_average()

    # ---- the models ----------------------------------------------------------------------
    ns: dict[str, Any] = {}
    exec(TRAIN, ns)  # noqa: S102 - the same training code as bench/serving.py and the peers
    X, gb = ns["X"], ns["model"]
    row = {k: float(v) for k, v in X.iloc[0].items()}
    body = work / "ours.json"
    body.write_text(json.dumps({"records": [row]}))

    import modelyard as my

    home = work / "home"
    described: dict[str, str] = {}
    with my.connect(settings=my.Settings.load({}, home=home)) as yard:
        if "gb" in models:
            yard.models.register(gb, "gb", example=X[:5])
            described["gb"] = "GradientBoosting (100 trees), CPU"
        if "mlp" in models:
            import torch
            from _mlp import MLP

            torch.manual_seed(0)
            net = MLP(n_in=X.shape[1], hidden=hidden, layers=layers)
            params = sum(p.numel() for p in net.parameters())
            yard.models.register(net, "mlp", example=X[:5].astype("float64"),
                                 init_kwargs={"n_in": X.shape[1], "hidden": hidden,
                                              "layers": layers})
            described["mlp"] = (f"PyTorch MLP {layers}x{hidden} ({params / 1e6:.1f}M "
                                f"parameters), {args.device}")
            del net

    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    modules = work / "modules"  # the MLP's class for the server, without the rest of bench/
    modules.mkdir()
    shutil.copy(BENCH / "_mlp.py", modules / "_mlp.py")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(modules), str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])

    results: dict[str, dict[str, Any]] = {}

    def run_server(name: str, model: str, mode: str) -> None:
        ep: dict[str, Any] = {"name": "m", "routes": [{"name": "main", "model": f"{model}/1"}]}
        if modes[mode] is not None:
            ep["batching"] = modes[mode]
        if model == "mlp":
            ep["device"] = args.device
        config = work / f"{model}-{mode}.yaml"
        config.write_text(json.dumps({"endpoints": [ep]}))  # JSON is YAML
        port = free_port()
        proc = subprocess.Popen(
            niced([sys.executable, "-c", MODELYARD, "serve", "--config", str(config), "--port",
                   str(port), "--home", str(home), "--durability", args.durability,
                   "--log-level", "warning"]), env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(work / f"{model}-{mode}.log", "w"))  # noqa: SIM115
        url = f"http://127.0.0.1:{port}/predict/m"
        try:
            wait_ready(proc, f"http://127.0.0.1:{port}/readyz", work / f"{model}-{mode}.log")
            httpx.post(url, content=body.read_bytes(), timeout=60,
                       headers={"content-type": "application/json"}).raise_for_status()
            closed_loop(url, body, args.concurrency, 2, lua)  # warm-up
            r = closed_loop(url, body, args.concurrency, duration, lua)
            r["rows_per_call"] = batch_rows(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            results[name] = r
            print(f"[bench] {name}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} ms p99 "
                  f"{r['p99_ms']:.1f} ms, {r['rows_per_call'] or 0:.1f} rows/call, "
                  f"{r['errors']} errors ({r['client']}; load {load_average()})",
                  file=sys.stderr)
        finally:
            stop(proc)

    for model in models:
        for mode in modes:
            run_server(f"{model}/{mode}", model, mode)

    # ---- peers (GB model) ----------------------------------------------------------------
    peer_notes: list[str] = []
    if peers and "gb" in models:
        import sklearn

        for peer in ("mlflow", "bentoml"):
            try:
                results[f"gb/{peer}"] = run_peer(peer, work, lua, args.concurrency, duration,
                                                 sklearn.__version__)
                r = results[f"gb/{peer}"]
                print(f"[bench] gb/{peer}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} ms p99 "
                      f"{r['p99_ms']:.1f} ms ({r['client']})", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - report the peer that could not run
                peer_notes.append(f"{peer}: could not run ({type(exc).__name__}: "
                                  f"{str(exc)[-300:]})")
    elif not peers:
        peer_notes.append("peers skipped (--quick or --peer none)")
    if "mlp" in models:
        peer_notes.append("no peer for the MLP: MLflow's pytorch flavor pickles the module and "
                          "BentoML would need torch in its venv (a CUDA build of several GB "
                          "from PyPI); the GB model's peers show the serving stacks")

    # ---- report --------------------------------------------------------------------------
    rows = []
    for model in models:
        alone = results[f"{model}/alone"]
        for name, r in results.items():
            if not name.startswith(f"{model}/"):
                continue
            rows.append([described[model], name.split("/", 1)[1], r["rps"], r["p50_ms"],
                         r["p99_ms"], r["errors"],
                         "-" if r.get("rows_per_call") is None else f"{r['rows_per_call']:.1f}",
                         ratio(r["rps"], alone["rps"])])
    print_table(f"Micro-batching: single-row requests, concurrency {args.concurrency}, "
                f"{duration} s each, 1 worker, log {args.durability} (load average "
                f"{load_before} before, {load_average()} after"
                + (f"; servers and clients at nice {args.nice})" if args.nice else ")"),
                rows, ["model", "server", "req/s", "p50 ms", "p99 ms", "errors", "rows/call",
                       "vs alone"])
    if "mlp" in models and on_gpu:
        b, a = results["mlp/batched"], results["mlp/alone"]
        met = b["rps"] >= 10 * a["rps"] and b["p99_ms"] < 50
        print(f"\nGPU goal (batched >= 10x alone at p99 < 50 ms): {b['rps'] / a['rps']:.1f}x at "
              f"p99 {b['p99_ms']:.1f} ms: {'met' if met else 'not met'}")
    for note in peer_notes:
        print(f"- {note}")
    report = {"results": results, "models": described, "device": args.device,
              "concurrency": args.concurrency, "duration_s": duration,
              "durability": args.durability, "load_average": [load_before, load_average()],
              "peer_notes": peer_notes}
    for folder in filter(None, [BENCH / "out", args.out]):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "batching.json").write_text(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


def run_peer(peer: str, work: Path, lua: Path, concurrency: int, duration: int,
             sklearn_version: str) -> dict[str, Any]:
    """The GB model behind ``mlflow models serve`` or a BentoML service with adaptive
    batching, at the same load."""
    ns: dict[str, Any] = {}
    exec(TRAIN, ns)  # noqa: S102
    row = {k: float(v) for k, v in ns["X"].iloc[0].items()}
    port = free_port()
    if peer == "mlflow":
        python = peer_venv("mlflow", ["mlflow==3.17.2", "pandas<3",
                                      f"scikit-learn=={sklearn_version}"])
        model = work / "mlflow-model"
        env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true",
               "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run([str(python), "-c", MLFLOW_SAVE, str(model)], check=True, env=env,
                       capture_output=True)
        cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model),
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
        ready, url = f"http://127.0.0.1:{port}/ping", f"http://127.0.0.1:{port}/invocations"
        payload: Any = {"dataframe_records": [row]}
    else:
        python = peer_venv("bentoml", ["bentoml==1.4.40", "pandas<3",
                                       f"scikit-learn=={sklearn_version}"])
        model = work / "bento-model.joblib"
        env = {**os.environ, "BENCH_MODEL": str(model), "BENTOML_HOME": str(work / "bentoml"),
               "BENTOML_DO_NOT_TRACK": "true",
               "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run([str(python), "-c", BENTO_SAVE, str(model)], check=True, env=env,
                       capture_output=True)
        (work / "bento_service.py").write_text(BENTO_SERVICE)
        cmd = [str(python.parent / "bentoml"), "serve", "bento_service:Cancer", "--host",
               "127.0.0.1", "--port", str(port)]
        ready, url = f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{port}/predict"
        payload = {"rows": [list(row.values())]}
    body = work / f"{peer}.json"
    body.write_text(json.dumps(payload))
    proc = subprocess.Popen(niced(cmd), env=env, cwd=work, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=open(work / f"{peer}.log", "w"))  # noqa: SIM115
    try:
        wait_ready(proc, ready, work / f"{peer}.log")
        httpx.post(url, content=body.read_bytes(), timeout=60,
                   headers={"content-type": "application/json"}).raise_for_status()
        closed_loop(url, body, concurrency, 2, lua)
        time.sleep(0.5)
        r = closed_loop(url, body, concurrency, duration, lua)
        r["rows_per_call"] = None
        return r
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
