"""Generated data for the executor, scoring, search and backtest tests: a loan-like table with
whole-number features (so gradient-boosting histograms are exact on any number of workers),
an event time, a 0/1 target, and optionally a sudden change of the target's rule at a date."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

FEATURES = ["income", "age", "debt", "grade"]


def loans(n: int, start: str | datetime, end: str | datetime, *, seed: int = 0,
          drift_at: str | datetime | None = None) -> pd.DataFrame:
    """``n`` rows with event times spread evenly over ``[start, end)``. Before ``drift_at``
    the target follows ``income - debt``; from then on the population moves (income and
    debt shift) and the rule flips to ``debt - income`` plus age, so a model trained before
    is wrong afterwards."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(_utc(start), _utc(end), periods=n + 1)[:-1]
    income = rng.integers(10, 90, n).astype(float)
    age = rng.integers(18, 70, n).astype(float)
    debt = rng.integers(0, 60, n).astype(float)
    grade = rng.integers(0, 5, n)
    score = income - debt + rng.normal(0, 8, n)
    target = (score > 25).astype(int)
    if drift_at is not None:
        after = np.asarray(ts >= _utc(drift_at))
        income = np.where(after, income - 15, income)
        debt = np.where(after, debt + 10, debt)
        flipped = (debt - income + 0.5 * (age - 40) + rng.normal(0, 8, n)) > -20
        target = np.where(after, flipped.astype(int), target)
    return pd.DataFrame({"ts": ts, "income": income, "age": age, "debt": debt,
                         "grade": grade.astype(float), "target": target})


def _utc(value: str | datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
