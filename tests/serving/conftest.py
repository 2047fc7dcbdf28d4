"""Models trained on scikit-learn's bundled data, registered in a fresh yard, and model
servers on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import EndpointConfig, endpoint_from_ref, parse_endpoints
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris(as_frame=True)
    return data.data, data.target.to_numpy()


@pytest.fixture
def serving_yard(tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]) -> Iterator[my.Yard]:
    """A local yard with ``iris/1`` (logistic regression, alias ``production``) and ``iris/2``
    (a decision tree), both with a signature of the four iris columns."""
    X, y = iris
    settings = my.Settings.load({}, home=tmp_path / "home")
    yard = my.connect(settings=settings)
    v1 = yard.models.register(LogisticRegression(max_iter=500).fit(X, y), "iris", example=X[:5])
    yard.models.register(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), "iris",
                         example=X[:5])
    yard.models.set_alias("iris", "production", v1.version)
    yield yard
    yard.close()


@pytest.fixture
def colors_model(serving_yard: my.Yard) -> str:
    """``colors/1``: a pipeline that raises on a color it never saw (a model error, not a
    schema error: the signature says only 'string')."""
    X = pd.DataFrame({"color": ["red", "blue", "red", "green"] * 5,
                      "size": np.arange(20, dtype=float)})
    y = np.array([0, 1, 0, 1] * 5)
    model = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
    model.fit(X, y)
    serving_yard.models.register(model, "colors", example=X[:5])
    return "colors/1"


ServerFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def model_server(serving_yard: my.Yard) -> ServerFactory:
    """``with model_server("iris@production", ...) as url``: a server on loopback. Pass model
    references, EndpointConfig objects or dicts; options go to ServerOptions (``ready=False``:
    do not wait for every model to load)."""

    def start(*endpoints: Any, yard: my.Yard | None = None, ready: bool = True,
              **options: Any) -> Any:
        configs: list[EndpointConfig] = []
        for e in endpoints:
            if isinstance(e, EndpointConfig):
                configs.append(e)
            elif isinstance(e, dict):
                configs.extend(parse_endpoints([e]))
            else:
                configs.append(endpoint_from_ref(e))
        options.setdefault("poll_interval", 0.2)
        app = create_app(yard or serving_yard, configs, ServerOptions(**options))
        return serve_in_thread(app, ready=ready)

    return start


def iris_rows(iris: tuple[pd.DataFrame, np.ndarray], n: int, start: int = 0) -> list[dict[str, Any]]:
    X, _ = iris
    return X.iloc[start:start + n].to_dict(orient="records")


T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout``
    seconds saying ``what`` was awaited: tests wait on conditions, never on fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {value!r}")
        time.sleep(0.02)
