"""Start-up in fresh processes: `--help`, `runs list`, the first sklearn model load, `serve` ready.

    .venv/bin/python bench/startup.py [--repeat 5] [--no-peer] [--json figures.json]

Every figure is a new process, started the way a user starts it, timed from spawn to exit (or,
for the model servers, to the first 200 from their readiness route), ``--repeat`` times after
one untimed warm-up (which writes the bytecode caches a normal install has). Wall time is what
a user waits; CPU time (user + sys of the process) is printed beside it because this 2-core
machine is shared and the load average moves the wall figures. The import-time profile
(``python -X importtime``, self time summed per top-level package) shows what is left.

The quickstart's model (GradientBoostingClassifier, 50 trees, breast_cancer) is registered in a
fresh yard with 20 runs. The peer is MLflow (``bench/.venv-mlflow``, the same install as the
tracking and serving benches): ``mlflow --help``, ``mlflow runs list``,
``mlflow.sklearn.load_model`` (pickle) and ``mlflow models serve`` with the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, peer_venv, print_table

MODELYARD = str(Path(sys.executable).parent / "modelyard")
MLFLOW_REQUIREMENTS = ["mlflow==3.17.2", "pandas<3", "scikit-learn==1.9.1"]

SETUP = """
import sys
import modelyard as my
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
yard = my.connect(home=sys.argv[1])
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X.columns = [c.replace(" ", "_") for c in X.columns]
for i in range(20):
    with yard.start_run(experiment="cancer", name=f"run-{i}") as run:
        run.log_params({"n_estimators": 50, "i": i})
        run.log_metrics({"accuracy": 0.9 + i / 1000})
model = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(X, y)
mv = yard.models.register(model, "cancer", example=X[:5])
yard.models.set_alias("cancer", "production", mv.version)
yard.close()
"""

LOAD = """
import sys
import modelyard as my
model = my.connect(home=sys.argv[1]).models.load("cancer@production")
model.predict(model.input_example)
"""

RUNS_LIST = """
import sys
sys.argv = ["modelyard", "--home", sys.argv[1], "runs", "list"]
from modelyard.cli.main import main
try:
    main()
except SystemExit:
    pass
"""

MLFLOW_SETUP = """
import sys, mlflow, mlflow.sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X.columns = [c.replace(" ", "_") for c in X.columns]
mlflow.set_experiment("cancer")
for i in range(20):
    with mlflow.start_run(run_name=f"run-{i}"):
        mlflow.log_params({"n_estimators": 50, "i": i})
        mlflow.log_metric("accuracy", 0.9 + i / 1000)
model = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(X, y)
with mlflow.start_run():
    # MLflow 3 saves with skops too; its trees need the same explicit trust as ours
    info = mlflow.sklearn.log_model(model, name="model", input_example=X[:5],
                                    skops_trusted_types=["sklearn.tree._tree.Tree"])
print(info.model_uri)
"""

MLFLOW_LOAD = """
import sys, mlflow.sklearn
from sklearn.datasets import load_breast_cancer
model = mlflow.sklearn.load_model(sys.argv[1])
X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
X.columns = [c.replace(" ", "_") for c in X.columns]
model.predict(X[:5])
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE",) and not k.startswith("MODELYARD_")}
    return {**env, **(extra or {})}


def _once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(argv: Sequence[str], url: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from spawn to the first 200 from ``url``; the server's CPU time until then."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=cwd, start_new_session=True)
    try:
        deadline = start + 300
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        wall = time.perf_counter() - start
                        return wall, _cpu_of_group(proc.pid)
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{' '.join(argv)} not ready after 300 s")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def _cpu_of_group(pid: int) -> float:
    """User + sys seconds of ``pid`` and its children so far (from /proc), 0 when unknown."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[2] is the ppid, [11], [12] utime, stime (after the name)
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(label: str, fn: Any, repeat: int) -> dict[str, Any]:
    fn()  # warm-up: bytecode caches, page cache
    walls, cpus = zip(*(fn() for _ in range(repeat)), strict=True)
    figures = {"label": label, "wall_median": statistics.median(walls), "wall_min": min(walls),
               "cpu_median": statistics.median(cpus), "load": os.getloadavg()[0]}
    print(f"[bench] {label}: {figures['wall_median']:.2f} s (min {figures['wall_min']:.2f}, "
          f"cpu {figures['cpu_median']:.2f} s, load {figures['load']:.1f})", file=sys.stderr)
    return figures


def import_profile(argv: Sequence[str], env: dict[str, str], cwd: Path, top: int = 8
                   ) -> list[tuple[str, float]]:
    """Self import time summed per top-level package (modelyard per subpackage), in ms."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, env=env, cwd=cwd, check=True)
    totals: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        parts = name.strip().split(".")
        key = ".".join(parts[:2]) if parts[0] == "modelyard" else parts[0]
        totals[key] += int(self_us)
    return [(name, us / 1000) for name, us in totals.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip MLflow")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    env = _env()
    print(f"[bench] load average at start: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        home = folder / "yard"
        subprocess.run([sys.executable, "-c", SETUP, str(home)], check=True, env=env, cwd=folder)
        py = sys.executable
        ours: dict[str, dict[str, Any]] = {}
        ours["help"] = measure("modelyard --help", lambda: _once(
            [MODELYARD, "--help"], env, folder), args.repeat)
        ours["runs"] = measure("modelyard runs list", lambda: _once(
            [MODELYARD, "--home", str(home), "runs", "list"], env, folder), args.repeat)
        ours["import"] = measure("import modelyard", lambda: _once(
            [py, "-c", "import modelyard"], env, folder), args.repeat)
        ours["load"] = measure("sklearn model load + predict", lambda: _once(
            [py, "-c", LOAD, str(home)], env, folder), args.repeat)
        ours["skops_ours"] = measure("skops.io as the flavor imports it", lambda: _once(
            [py, "-c", "from modelyard.registry.flavors.sklearn import skops_io; skops_io()"],
            env, folder), args.repeat)
        ours["skops_plain"] = measure("plain `import skops.io`", lambda: _once(
            [py, "-c", "import skops.io"], env, folder), max(2, args.repeat // 2))

        def serve() -> tuple[float, float]:
            port = _free_port()
            return _ready([MODELYARD, "--home", str(home), "serve", "--model",
                           "cancer@production", "--port", str(port), "--log-level", "warning"],
                          f"http://127.0.0.1:{port}/readyz", env, folder)

        ours["serve"] = measure("modelyard serve ready", serve, max(3, args.repeat // 2))
        profiles = {
            "runs list": import_profile(["-c", RUNS_LIST, str(home)], env, folder),
            "sklearn load": import_profile(["-c", LOAD, str(home)], env, folder),
        }
        theirs = {} if args.no_peer else mlflow_side(folder, args.repeat)
        print(f"[bench] load average at end: {os.getloadavg()}", file=sys.stderr)

    peer = f"MLflow {MLFLOW_REQUIREMENTS[0].split('==')[1]}"

    def row(name: str, key: str, peer_key: str | None, goal: str) -> list[Any]:
        o = ours[key]
        t = theirs.get(peer_key) if peer_key else None
        return [name, f"{o['wall_median']:.2f} s (min {o['wall_min']:.2f}, cpu {o['cpu_median']:.2f})",
                f"{t['wall_median']:.2f} s (cpu {t['cpu_median']:.2f})" if t else "-",
                f"{t['wall_median'] / o['wall_median']:.1f}x" if t else "-", goal,
                f"{o['load']:.1f}"]

    rows = [
        row("`modelyard --help`", "help", "help", "< 0.5 s"),
        row("`modelyard runs list` (20 runs)", "runs", "runs", "< 0.5 s"),
        row("`import modelyard`", "import", None, "-"),
        row("first sklearn model load + predict (GBM 50 trees)", "load", "load", "< 1.5 s"),
        row("`skops.io` as the sklearn flavor imports it", "skops_ours", None, "-"),
        row("plain `import skops.io` (its estimator walk; for reference)", "skops_plain", None,
            "-"),
        row("`modelyard serve --model cancer@production` until /readyz is 200", "serve",
            "serve", "< 3 s"),
    ]
    print_table("start-up in fresh processes (median of the repeats; ratio = peer / ours)", rows,
                ["what", "modelyard", peer, "ratio", "goal", "load avg"])
    for name, profile in profiles.items():
        print_table(f"import-time profile: {name} (self ms per package, under -X importtime)",
                    [[n, round(ms)] for n, ms in profile], ["package", "ms"])
    if args.json:
        args.json.write_text(json.dumps({"ours": ours, "theirs": theirs, "profiles": profiles},
                                        indent=2))


def mlflow_side(folder: Path, repeat: int) -> dict[str, dict[str, Any]]:
    python = peer_venv("mlflow", MLFLOW_REQUIREMENTS)
    mlflow_bin = str(python.parent / "mlflow")
    store = folder / "mlflow"
    store.mkdir()
    env = _env({"MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
                "GIT_PYTHON_REFRESH": "quiet", "PATH": f"{python.parent}:{os.environ['PATH']}"})
    setup = subprocess.run([str(python), "-c", MLFLOW_SETUP], env=env, cwd=store, check=False,
                           capture_output=True, text=True)
    if setup.returncode != 0:
        raise RuntimeError(f"MLflow setup failed:\n{setup.stderr[-3000:]}")
    uri = setup.stdout.strip().splitlines()[-1]
    theirs = {
        "help": measure("mlflow --help", lambda: _once([mlflow_bin, "--help"], env, store),
                        repeat),
        "runs": measure("mlflow runs list", lambda: _once(
            [mlflow_bin, "runs", "list", "--experiment-id", "1"], env, store), repeat),
        "load": measure("mlflow.sklearn.load_model + predict", lambda: _once(
            [str(python), "-c", MLFLOW_LOAD, uri], env, store), repeat),
    }

    def serve() -> tuple[float, float]:
        port = _free_port()
        return _ready([mlflow_bin, "models", "serve", "-m", uri, "--env-manager", "local",
                       "--port", str(port), "--host", "127.0.0.1"],
                      f"http://127.0.0.1:{port}/ping", env, store)

    theirs["serve"] = measure("mlflow models serve ready", serve, max(3, repeat // 2))
    return theirs


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
