"""What each process of the concurrency test does (importable under ``spawn``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.dummy import DummyClassifier

import modelyard as my
from modelyard.tracking.entities import Metric

X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
Y = [0, 1, 0, 1]


def mixed_writes(where: str, artifacts: str | None, home: str, run_id: str, worker: int,
                 n: int) -> dict[str, Any]:
    """``n`` rounds of: register a version of ``shared``, move alias ``w{worker}`` and the
    contested alias ``latest`` to it, append one row to dataset ``events``, log step ``i`` of
    metric ``w{worker}`` to the shared run. ``where``: a database URL or a server's URL."""
    kwargs: dict[str, Any] = {"settings": my.Settings.load({}, home=Path(home))}
    if artifacts is not None:
        kwargs["artifacts"] = artifacts
    yard = my.connect(where, **kwargs)
    versions, values = [], []
    try:
        model = DummyClassifier(strategy="constant", constant=worker % 2).fit(X, Y)
        for i in range(n):
            mv = yard.models.register(model, "shared", example=X[:2])
            versions.append(mv.version)
            yard.models.set_alias("shared", f"w{worker}", mv.version)
            yard.models.set_alias("shared", "moving", mv.version)
            value = worker * 1000 + i
            yard.datasets.append("events", pd.DataFrame({
                "ts": [pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=value)],
                "value": [value]}))
            values.append(value)
            yard.backend.tracking.log_metrics(run_id, [Metric(key=f"w{worker}", value=i,
                                                              step=i)])
    finally:
        yard.close()
    return {"versions": versions, "values": values}
