"""Pipelines: a 6-step pipeline on 1M rows, cold, warm, after a step change and after a helper
change, against calling the functions directly and against Hamilton's cache.

    .venv/bin/python bench/pipelines.py [--rows 1000000] [--no-peer]

The pipeline (the same function bodies on both sides, written into a temporary project):
``load`` (1M rows, 6 columns) -> ``clean`` (drop non-positive amounts) -> ``features`` (calls
``helpers.ratio``) -> ``train_set`` (80 % sample) -> ``model`` (a logistic regression) ->
``accuracy`` (on every row). Each scenario says which steps ran:

1. **direct**: the six functions called one after the other (no storage, no cache);
2. **cold**: the first run on an empty yard (every output stored: Parquet, a skops model, JSON);
3. **warm**: the same run again (every step a cache hit: goal under 1 s);
4. **step changed**: ``accuracy``'s code edited: only it runs;
5. **helper changed**: ``helpers.ratio`` (called only by ``features``) edited so its values
   change: ``features`` runs because its code changed (the helper), and what reads its output.

Per-step overhead of our machinery = (cold - direct) / 6 on the 1M-row pipeline (mostly writing
the outputs), and on the same six steps over 100 rows (what the machinery itself costs: keys,
records, small outputs). The peer is Hamilton (``apache-hamilton`` in ``bench/.venv-hamilton``)
with its cache (``Builder().with_cache()``), the same functions as Hamilton nodes. Hamilton
versions a node by its own source only, so a helper change is not seen: it reuses the stale
``features`` (reported as such). The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import peer_venv, print_table, ratio, run_in_venv

HAMILTON = ["apache-hamilton==1.90.0", "pandas<3", "numpy", "scikit-learn"]
STEPS = ["load", "clean", "features", "train_set", "model", "accuracy"]

HELPERS = '''
import numpy as np


def ratio(a, b):
    return a / (np.abs(b) + 1.0)
'''
HELPERS_CHANGED = HELPERS.replace("return a / (np.abs(b) + 1.0)", "return a / (np.abs(b) + 2.0)")

# {decorator} is "@my.step" on our side and "" on Hamilton's; {mark} records each execution
BODIES = '''
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from . import helpers
{imports}

LOG = {log!r}


def _mark(name):
    with open(LOG, "a") as fh:
        fh.write(name + "\\n")


{decorator}
def load(n: int) -> pd.DataFrame:
    _mark("load")
    rng = np.random.default_rng(0)
    return pd.DataFrame({{
        "id": np.arange(n),
        "amount": rng.normal(100.0, 50.0, n),
        "income": rng.lognormal(10.0, 0.5, n),
        "age": rng.integers(18, 90, n),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "label": rng.random(n) < 0.3,
    }})


{decorator}
def clean(load: pd.DataFrame) -> pd.DataFrame:
    _mark("clean")
    return load[load["amount"] > 0].reset_index(drop=True)


{decorator}
def features(clean: pd.DataFrame) -> pd.DataFrame:
    _mark("features")
    return clean.assign(ratio=helpers.ratio(clean["amount"], clean["income"]),
                        log_income=np.log(clean["income"]),
                        senior=(clean["age"] > 60).astype("int8"))


{decorator}
def train_set(features: pd.DataFrame) -> pd.DataFrame:
    _mark("train_set")
    return features.sample(frac=0.8, random_state=0)


{decorator}
def model(train_set: pd.DataFrame) -> LogisticRegression:
    _mark("model")
    X = train_set[["ratio", "log_income", "senior"]]
    return LogisticRegression(max_iter=200).fit(X, train_set["label"])


{decorator}
def accuracy(model: LogisticRegression, features: pd.DataFrame) -> float:
    _mark("accuracy")
    X = features[["ratio", "log_income", "senior"]]
    return float(model.score(X, features["label"]))
{tail}
'''

CHANGED_STEP = ('    return float(model.score(X, features["label"]))',
                '    return round(float(model.score(X, features["label"])), 6)')


class Project:
    """A package written into a temporary folder: ``flow`` (the steps) and ``helpers``."""

    def __init__(self, root: Path, decorator: str, imports: str, tail: str = "") -> None:
        self.root = root
        self.name = f"benchflow_{uuid.uuid4().hex[:8]}"
        self.package = root / self.name
        self.package.mkdir(parents=True)
        (self.package / "__init__.py").write_text("")
        self.log = root / f"{self.name}.log"
        self.log.write_text("")
        self.decorator, self.imports, self.tail = decorator, imports, tail
        self.write(HELPERS, changed_step=False)

    def write(self, helpers: str, *, changed_step: bool) -> None:
        source = BODIES.format(decorator=self.decorator, imports=self.imports,
                               log=str(self.log), tail=self.tail)
        if changed_step:
            source = source.replace(*CHANGED_STEP)
        (self.package / "helpers.py").write_text(textwrap.dedent(helpers))
        (self.package / "flow.py").write_text(source)

    def ran(self) -> list[str]:
        text = self.log.read_text()
        self.log.write_text("")
        return [s for s in STEPS if s in text.split()]


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, cpu) seconds since ``start``; cpu is this process's, every thread included."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def _fresh(project: Project) -> Any:
    """The flow module imported again (helpers first), as a new process would see it."""
    import importlib

    importlib.invalidate_caches()
    for key in [k for k in sys.modules if k.startswith(project.name)]:
        del sys.modules[key]
    return importlib.import_module(f"{project.name}.flow")


def ours(rows: int, root: Path) -> dict[str, Any]:
    import modelyard as my

    project = Project(root, "@my.step", "\nimport modelyard as my\n",
                      tail='\n\nbench = my.pipeline(load, clean, features, train_set, model, '
                           'accuracy, name="bench")\n')
    sys.path.insert(0, str(root))
    out: dict[str, Any] = {}

    def pipeline(module: Any) -> Any:
        return module.bench

    def direct(module: Any, n: int) -> tuple[float, float]:
        start = _now()
        values = {"load": module.load.fn(n)}
        values["clean"] = module.clean.fn(values["load"])
        values["features"] = module.features.fn(values["clean"])
        values["train_set"] = module.train_set.fn(values["features"])
        values["model"] = module.model.fn(values["train_set"])
        module.accuracy.fn(values["model"], values["features"])
        return _since(start)

    # the machinery alone: the same six steps on 100 rows, cold then warm (this also imports
    # what storing needs, so the 1M-row cold run below measures work, not first imports)
    module = _fresh(project)
    with my.connect(home=root / "warm-up") as first:
        first.pipelines.run(pipeline(module), n=100)  # first imports (pyarrow, skops …)
    with my.connect(home=root / "small") as small:
        start = _now()
        small.pipelines.run(pipeline(module), n=100)
        cold_small = _since(start)
        start = _now()
        small.pipelines.run(pipeline(module), n=100)
        warm_small = _since(start)
    direct_small = direct(module, 100)
    project.ran()
    out["small"] = (direct_small, cold_small, warm_small)

    out["direct"] = (direct(module, rows), project.ran())
    with my.connect(home=root / "yard") as yard:
        for label, change in (("cold", None), ("warm", None), ("step changed", "step"),
                              ("helper changed", "helper")):
            if change == "step":
                project.write(HELPERS, changed_step=True)
            elif change == "helper":
                project.write(HELPERS_CHANGED, changed_step=True)
            module = _fresh(project)
            start = _now()
            run = yard.pipelines.run(pipeline(module), n=rows)
            seconds = _since(start)
            reasons = {s.step: s.reasons for s in run.steps if s.status == "succeeded"}
            out[label] = (seconds, project.ran(), reasons)
    # a fully cached re-run from the command line: a fresh process, imports included
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = _now()
    subprocess.run([sys.executable, "-c", "from modelyard.cli.main import main; main()",
                    "--home", str(root / "yard"), "pipelines", "run", f"{project.name}.flow:bench",
                    "--param", f"n={rows}", "--code-path", str(root)],
                   check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out["cli warm"] = ((_since(start)[0], cpu), project.ran(), {})
    sys.path.remove(str(root))
    return out


PEER_SIDE = '''
import importlib, json, sys, time, textwrap
from pathlib import Path

root, name, rows, helpers_changed, changed_step = sys.argv[1:6]
rows = int(rows)
sys.path.insert(0, root)
from hamilton import driver

STEPS = ["load", "clean", "features", "train_set", "model", "accuracy"]
log = Path(root) / (name + ".log")

def ran():
    text = log.read_text(); log.write_text("")
    return [s for s in STEPS if s in text.split()]

def fresh():
    importlib.invalidate_caches()
    for key in [k for k in sys.modules if k.startswith(name)]:
        del sys.modules[key]
    return importlib.import_module(name + ".flow")

out = {}
flow_file = Path(root) / name / "flow.py"
helpers_file = Path(root) / name / "helpers.py"
original_flow, original_helpers = flow_file.read_text(), helpers_file.read_text()
for label, change in (("cold", None), ("warm", None), ("step changed", "step"),
                      ("helper changed", "helper")):
    if change == "step":
        flow_file.write_text(original_flow.replace(*json.loads(changed_step)))
    elif change == "helper":
        helpers_file.write_text(helpers_changed)
    module = fresh()
    start = (time.perf_counter(), time.process_time())
    dr = (driver.Builder().with_modules(module)
          .with_cache(path=str(Path(root) / "hamilton-cache")).build())
    result = dr.execute(["accuracy"], inputs={"n": rows})
    out[label] = [[time.perf_counter() - start[0], time.process_time() - start[1]], ran(),
                  float(result["accuracy"])]
import hamilton
out["version"] = hamilton.__version__ if hasattr(hamilton, "__version__") else "?"
print(json.dumps(out))
'''


def peer(rows: int, root: Path) -> dict[str, Any]:
    python = peer_venv("hamilton", HAMILTON)
    project = Project(root, "", "")
    result = run_in_venv(python, PEER_SIDE, str(root), project.name, str(rows),
                         textwrap.dedent(HELPERS_CHANGED), json.dumps(CHANGED_STEP),
                         timeout=3600)
    version = run_in_venv(python, "import json, importlib.metadata as m; "
                          "print(json.dumps({'v': m.version('apache-hamilton')}))")
    result["version"] = version["v"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        mine = ours(args.rows, Path(tmp) / "ours")
        theirs: dict[str, Any] | None = None
        if not args.no_peer:
            try:
                theirs = peer(args.rows, Path(tmp) / "peer")
            except Exception as exc:  # noqa: BLE001 - the bench reports why the peer is missing
                print(f"Hamilton did not run: {type(exc).__name__}: {exc}")
    def cell(t: Any) -> str:
        return f"{t[0]:.3f} ({t[1]:.3f})"

    rows = []
    for label in ("direct", "cold", "warm", "cli warm", "step changed", "helper changed"):
        took, ran = mine[label][0], mine[label][1]
        peer_cell = ["", "", ""]
        if theirs is not None and label in theirs:
            peer_cell = [cell(theirs[label][0]), ", ".join(theirs[label][1]) or "none",
                         ratio(took[0], theirs[label][0][0], higher_is_better=False)]
        rows.append([label, cell(took), ", ".join(ran) or "none", *peer_cell])
    title = (f"6 steps on {args.rows:,} rows: wall s (cpu s of the process); ratio = Hamilton's "
             "wall / ours")
    if theirs is not None:
        title += f"; Hamilton {theirs['version']}"
    print_table(title, rows, ["scenario", "ours", "ours ran", "Hamilton", "Hamilton ran",
                              "ratio"])
    for label in ("step changed", "helper changed"):
        print(f"\nwhy each step ran ({label}):")
        for step, reasons in mine[label][2].items():
            print(f"  {step}: {'; '.join(reasons)}")
    if theirs is not None:
        seen = "features" in theirs["helper changed"][1]
        print(f"\nHamilton after the helper change ran: "
              f"{', '.join(theirs['helper changed'][1]) or 'none'}; accuracy "
              f"{theirs['helper changed'][2]:.6f} (after the step change: "
              f"{theirs['step changed'][2]:.6f}): "
              f"{'seen' if seen else 'the helper change was not seen (stale features reused)'}")
    direct, cold = mine["direct"][0], mine["cold"][0]
    small_direct, small_cold, small_warm = mine["small"]

    def per_step(a: Any, b: Any = (0.0, 0.0)) -> str:
        return f"{(a[0] - b[0]) / 6 * 1000:.1f} ({(a[1] - b[1]) / 6 * 1000:.1f})"

    print_table("per-step overhead of the machinery: wall ms (cpu ms) per step", [
        [f"{args.rows:,} rows, cold: run - direct calls (outputs stored)", per_step(cold, direct)],
        [f"{args.rows:,} rows, warm (all hits)", per_step(mine["warm"][0])],
        ["100 rows, cold: run - direct calls", per_step(small_cold, small_direct)],
        ["100 rows, warm (all hits)", per_step(small_warm)],
    ], ["case", "per step"])
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
