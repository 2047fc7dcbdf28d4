"""A yard whose ``loans`` model was trained on a dataset with flagged columns, and model
servers on loopback (real HTTP, real SQLite, real log files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread

INCOMES = [98765.4321, 12345.6789, 55555.125]


@pytest.fixture
def loans_yard(tmp_path: Path) -> Iterator[my.Yard]:
    """``loans/1`` (alias production), trained in a run that read dataset ``applicants``
    whose ``income`` is flagged personal and ``zip`` confidential (``age`` is not)."""
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"income": rng.uniform(1e4, 1e5, n), "age": rng.uniform(18, 80, n),
                       "zip": rng.integers(10000, 99999, n).astype(float)})
    y = (df["income"] > 5e4).astype(int).to_numpy()
    yard = my.connect(settings=my.Settings.load({}, home=tmp_path / "home"))
    dv = yard.datasets.add("applicants", df)
    yard.datasets.describe("applicants", "income", sensitivity="personal")
    yard.datasets.describe("applicants", "zip", sensitivity="confidential")
    yard.datasets.describe("applicants", "age", sensitivity="internal")
    with yard.start_run(experiment="loans", datasets=[dv]) as run:
        run.log_model(LogisticRegression(max_iter=500).fit(df, y), name="loans",
                      example=df[:5])
    yard.models.set_alias("loans", "production", 1)
    yield yard
    yard.close()


ServerFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def loans_server(loans_yard: my.Yard) -> ServerFactory:
    """``with loans_server(privacy={...}) as url``: endpoint ``loans`` serving
    ``loans@production`` with that privacy block (None: the default)."""

    def start(privacy: dict[str, Any] | None = None, **options: Any) -> Any:
        spec: dict[str, Any] = {"name": "loans", "routes": [{"model": "loans@production"}]}
        if privacy is not None:
            spec["privacy"] = privacy
        options.setdefault("poll_interval", 0.2)
        app = create_app(loans_yard, parse_endpoints([spec]), ServerOptions(**options))
        return serve_in_thread(app)

    return start


def rows(n: int = 3) -> list[dict[str, float]]:
    return [{"income": INCOMES[i % len(INCOMES)], "age": 30.0 + i, "zip": 10115.0 + i}
            for i in range(n)]


def log_bytes(yard: my.Yard) -> bytes:
    """Every byte of the prediction log on disk: segments and compacted Parquet."""
    out = b""
    folders = [yard.settings.resolved_prediction_log_dir,
               Path(yard.settings.resolved_artifacts_url) / "predlog"]
    for folder in folders:
        for f in sorted(Path(folder).rglob("*")):
            if f.is_file():
                out += f.read_bytes()
    return out
