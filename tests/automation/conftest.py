"""Automation fixtures: a yard whose clock the test moves, a dataset of recent rows, a training
module written to a temporary project folder, a webhook receiver on loopback."""

from __future__ import annotations

import json
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import modelyard as my

TRAINING = textwrap.dedent('''
    import os
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from modelyard.automation.retrain import TrainingResult

    def train(params, data, run):
        frame = data["train"].to_pandas()
        print(f"training on {len(frame)} rows")
        if params.get("fail"):
            raise RuntimeError("the training data service is down")
        if params.get("marker"):
            with open(params["marker"], "a") as fh:
                fh.write(str(params.get("name", "?")) + "\\n")
        X, y = frame.drop(columns=["ts", "target"]), frame["target"]
        if params.get("kind") == "constant":
            model = DummyClassifier(strategy="constant", constant=0)
        elif params.get("kind") == "flip":
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
            y = 1 - y
        else:
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
        return TrainingResult(model.fit(X, y), example=X.head(5))
''')

SUITE = textwrap.dedent('''
    holdout: {dataset: cancer, last: 60d}
    label: target
    against: production
    checks:
      - {type: metric, metric: accuracy, min: 0.85}
      - {type: champion, metric: accuracy, max_regression: 0.05}
''')


def cancer_rows(end: pd.Timestamp, n: int | None = None) -> pd.DataFrame:
    """Breast-cancer rows, one every 12 hours, the last one just before ``end``; shuffled
    first so every window holds both classes."""
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [c.replace(" ", "_") for c in data.columns]
    data = data.sample(frac=1.0, random_state=0).reset_index(drop=True)
    if n is not None:
        data = data.iloc[:n]
    times = end - pd.to_timedelta(np.arange(len(data))[::-1] * 12 + 1, unit="h")
    data.insert(0, "ts", times)
    return data


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A project folder with a training module of a name unique to the test."""
    folder = tmp_path / "project"
    folder.mkdir()
    name = f"loop_model_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(TRAINING)
    monkeypatch.syspath_prepend(str(folder))
    return folder, f"{name}:train"


@pytest.fixture
def cancer_yard(clocked_yard: my.Yard) -> my.Yard:
    """``clocked_yard`` with the dataset ``cancer`` (569 rows up to the clock's time)."""
    end = pd.Timestamp(clocked_yard.clock.now())
    clocked_yard.datasets.add("cancer", cancer_rows(end), time_column="ts")
    return clocked_yard


class Receiver:
    """A webhook endpoint on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", 0))
                owner.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [b["event"] for b in self.bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def wait_until(check: Callable[[], Any], timeout: float = 120.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)
