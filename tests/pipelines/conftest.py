"""A user's project on disk for the pipeline tests: a package written into a temp folder,
imported by a unique name, whose files a test rewrites (a changed step, a changed helper) and
imports again. Steps append their name to ``project.log`` when they run, so a test counts
executions without the steps reading any state that changes."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HELPERS = '''
def scale(x, factor):
    return x * factor


def unused():
    return 0
'''

FLOW = '''
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import modelyard as my

from . import helpers

LOG = {log!r}


def mark(name):
    with open(LOG, "a") as fh:
        fh.write(name + "\\n")


@my.step
def load(n: int) -> pd.DataFrame:
    mark("load")
    rng = np.random.default_rng(0)
    return pd.DataFrame({{"x": rng.normal(size=n), "y": rng.normal(size=n)}})


@my.step
def features(df: pd.DataFrame, factor: float) -> pd.DataFrame:
    mark("features")
    return df.assign(z=helpers.scale(df["x"], factor))


@my.step
def stats(df: pd.DataFrame) -> dict:
    mark("stats")
    return {{"n": len(df), "mean_y": float(df["y"].mean())}}


@my.step
def train(df: pd.DataFrame) -> LogisticRegression:
    mark("train")
    return LogisticRegression().fit(df[["x", "z"]], df["y"] > 0)


@my.step
def evaluate(model: LogisticRegression, df: pd.DataFrame) -> float:
    mark("evaluate")
    return float(model.score(df[["x", "z"]], df["y"] > 0))


@my.pipeline
def flow(n: int = 200, factor: float = 2.0):
    df = load(n)
    stats(df)
    f = features(df, factor)
    return evaluate(train(f), f)
'''


class Project:
    """A package ``name`` under ``root`` (on ``sys.path``); ``write`` a module, ``module``
    imports (again) and returns it, ``calls()`` reads and clears the execution log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"userproj_{uuid.uuid4().hex[:10]}"
        self.package = root / self.name
        self.package.mkdir(parents=True)
        (self.package / "__init__.py").write_text("")
        self.log = root / "calls.log"
        self.log.write_text("")

    def write(self, module: str, source: str) -> None:
        (self.package / f"{module}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()

    def module(self, name: str) -> Any:
        full = f"{self.name}.{name}"
        if full in sys.modules:
            return importlib.reload(sys.modules[full])
        return importlib.import_module(full)

    def flow(self) -> Any:
        """The flow module, with its helpers imported again first."""
        self.module("helpers")
        return self.module("flow")

    def calls(self) -> list[str]:
        text = self.log.read_text()
        self.log.write_text("")
        return sorted(text.split())


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project(tmp_path / "code")
    proj.write("helpers", HELPERS)
    proj.write("flow", FLOW.format(log=str(proj.log)))
    sys.path.insert(0, str(proj.root))
    try:
        yield proj
    finally:
        sys.path.remove(str(proj.root))
        for key in [k for k in sys.modules if k == proj.name or k.startswith(proj.name + ".")]:
            del sys.modules[key]
