"""Hostile input against both servers over real HTTP on loopback: each case must answer a
clear 4xx JSON error naming what was wrong, and change nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard as my


@pytest.fixture
def hostile_yard(tmp_path: Path) -> Iterator[my.Yard]:
    """A local yard with model ``loans/1`` (two float columns), a run and a dataset."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"income": rng.uniform(0, 1, 60), "age": rng.uniform(0, 1, 60)})
    yard = my.connect(settings=my.Settings.load({}, home=tmp_path / "home"))
    yard.datasets.add("applicants", df)
    yard.models.register(LogisticRegression().fit(df, (df["income"] > 0.5).astype(int)),
                         "loans", example=df[:5])
    yield yard
    yard.close()


def state(yard: my.Yard) -> tuple[int, list[str]]:
    """What a refused request must not change: the audit log's length (every change appends
    a record) and the files under the yard's home."""
    n = len(yard.backend.audit.records(limit=10_000))
    home = Path(yard.settings.home)
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*")
                   if p.is_file() and "predlog" not in p.parts
                   and not p.name.startswith("modelyard.db"))
    return n, files


def assert_refused(r: httpx.Response, status: int | tuple[int, ...], *words: str,
                   field: str | None = None) -> dict[str, Any]:
    """A 4xx JSON error whose message names ``words`` (and whose field is ``field``)."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body.get("message"), str) and body.get("error"), body
    assert "Traceback" not in r.text
    for w in words:
        assert w.lower() in body["message"].lower(), (w, body)
    if field is not None:
        assert body.get("field") == field, body
    return body


Raw = Callable[..., httpx.Response]


@pytest.fixture
def raw() -> Raw:
    """``raw(method, url, path, **kw)``: a request whose path is sent exactly as given (no
    normalisation of ``..`` or percent-escapes by the client)."""

    def send(method: str, base: str, path: str, **kw: Any) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=120) as client:
            request = client.build_request(method, "/", **kw)
            request.url = request.url.copy_with(raw_path=path.encode("ascii"))
            return client.send(request)

    return send


# one client for the tests' calls, patient with a loaded machine (never a timing assertion)
HTTP = httpx.Client(timeout=120)
