"""Loading a model costs its flavor and the registry, not the rest of the product: a fresh
process that loads an sklearn model imports no monitoring, validation, polars, server or torch
(issue 17, slow start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

import modelyard as my


def test_loading_a_model_imports_only_what_it_needs(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    with my.connect(home=tmp_path / "yard") as yard:
        mv = yard.models.register(LinearRegression().fit(X, y), "lin", example=X[:5])
        yard.models.set_alias("lin", "production", mv.version)
    script = (
        "import sys, json\n"
        "import modelyard as my\n"
        f"model = my.connect(home={str(tmp_path / 'yard')!r}).models.load('lin@production')\n"
        "model.predict(model.input_example)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=300, env=os.environ.copy(), cwd=tmp_path)
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    unwanted = {"polars", "duckdb", "plotly", "fastapi", "uvicorn", "torch", "alembic",
                "modelyard.monitoring", "modelyard.validation", "modelyard.serving"}
    assert sorted(unwanted & modules) == []
