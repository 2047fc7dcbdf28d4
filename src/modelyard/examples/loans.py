"""A generated loan-default data set with event time, and a training entry point.

``generate`` makes rows whose features and default rate depend on the day (``drift`` shifts
income down and grades towards riskier ones; ``concept`` changes who defaults), so monitoring
has something to find. ``generate_year`` strings months of it together: a gradual drift over
the year and a sudden change (a broker channel opens) from one month on; ``month_bounds``
cuts the year into months. ``train`` follows the entry-point contract of
:mod:`modelyard.automation.retrain`.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "generate", "generate_year", "month_bounds", "train"]

FEATURES = ["income", "loan_amount", "debt_ratio", "age", "employment_years", "term", "grade"]
_GRADES = np.array(["A", "B", "C", "D", "E"])
# generate_year's world: how strongly the features decide a default, and how the broker
# channel changes that (young applicants on 60-month terms, debt weighs more, grade E less)
SIGNAL = 1.5
CONCEPT_AGE, CONCEPT_DEBT, CONCEPT_E = 3.0, 6.0, 2.0


def generate(n: int, *, start: str | datetime = "2026-01-01", days: float = 30,
             drift: float = 0.0, concept: float = 0.0, signal: float = 1.0,
             seed: int = 0) -> pd.DataFrame:
    """``n`` loans with event times spread over ``days`` days from ``start``; ``drift`` in [0, 1]
    moves incomes down and grades towards E; ``concept`` in [0, 1] makes young applicants on
    long terms with high debt default more (a relation a model trained before never saw)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start, tz="UTC") if not isinstance(start, datetime) else pd.Timestamp(start)
    if t0.tzinfo is None:
        t0 = t0.tz_localize("UTC")
    offsets = np.sort(rng.uniform(0, days * 86400, n))
    ts = t0 + pd.to_timedelta(offsets, unit="s")
    income = rng.lognormal(mean=10.8 - 0.5 * drift, sigma=0.4, size=n)
    loan = rng.gamma(shape=2.0, scale=6000 + 2000 * drift, size=n)
    debt = np.clip(rng.beta(2, 5, size=n) + 0.15 * drift, 0, 1)
    age = rng.integers(21, 70, size=n)
    employment = np.clip(rng.exponential(6, size=n), 0, 40).round(1)
    term = np.where(rng.random(n) < 0.3 + 0.3 * drift, "60m", "36m")
    grade_p = np.array([0.3, 0.3, 0.2, 0.12, 0.08]) * (1 - drift) + np.array(
        [0.05, 0.15, 0.25, 0.3, 0.25]) * drift
    grade = _GRADES[rng.choice(5, size=n, p=grade_p / grade_p.sum())]
    score = signal * (
        -2.0 + 2.5 * debt + loan / (income + 1) * 1.5 - 0.03 * employment
        + (grade == "D") * 0.8 + (grade == "E") * 1.4 + (term == "60m") * 0.4 - 0.01 * (age - 40)
    ) + concept * (CONCEPT_AGE * (age < 32) * (term == "60m") + CONCEPT_DEBT * (debt - 0.35)
                   - CONCEPT_E * (grade == "E"))
    default = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(int)
    return pd.DataFrame({
        "ts": ts, "income": income.round(2), "loan_amount": loan.round(2),
        "debt_ratio": debt.round(4), "age": age, "employment_years": employment,
        "term": term, "grade": grade, "default": default,
    })


def month_bounds(end: datetime, months: int = 12) -> list[tuple[datetime, datetime]]:
    """The ``months`` calendar months before the one holding ``end`` (UTC), oldest first, each
    as ``(first day, first day of the next month)``."""
    this = pd.Timestamp(end).tz_convert("UTC").normalize().replace(day=1)
    starts = [this - pd.DateOffset(months=k) for k in range(months, -1, -1)]
    return [(a.to_pydatetime(), b.to_pydatetime()) for a, b in pairwise(starts)]


def generate_year(per_month: int, *, end: datetime, months: int = 12, sudden: int = 10,
                  seed: int = 0) -> list[pd.DataFrame]:
    """One frame of ``per_month`` loans per month of :func:`month_bounds`, oldest first: a
    gradual drift over the year (loan amounts and debt creep up), then from month ``sudden``
    on a broker channel brings poorer, younger applicants on longer terms who default for
    other reasons (covariate and concept drift at once)."""
    frames = []
    for i, (lo, hi) in enumerate(month_bounds(end, months)):
        gradual = 0.25 * i / max(months - 1, 1)
        after = i >= sudden
        frames.append(generate(
            per_month, start=lo, days=(hi - lo).total_seconds() / 86400,
            drift=min(1.0, gradual + (0.6 if after else 0.0)), concept=1.0 if after else 0.0,
            signal=SIGNAL, seed=seed * 1000 + i))
    return frames


def train(params: dict[str, Any], data: dict[str, Any], run: Any) -> Any:
    """Fit the ``train`` input and log validation AUC and accuracy. ``params["kind"]``:
    ``"gbm"`` (gradient-boosted trees: ``max_depth``, ``learning_rate``, ``max_iter``) or
    ``"linear"`` (logistic regression on scaled, one-hot encoded columns: ``C``)."""
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    from ..automation.retrain import TrainingResult

    frame = data["train"].to_pandas()
    X, y = frame[FEATURES], frame["default"]
    seed = int(params.get("seed", 0))
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=seed)
    model = _model(params, seed)
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_val)[:, 1]
    run.log_metrics({"val_auc": float(roc_auc_score(y_val, proba)),
                     "val_accuracy": float(accuracy_score(y_val, proba > 0.5)),
                     "n_train": float(len(X_train))})
    return TrainingResult(model, example=X_train.head(5))


def _model(params: dict[str, Any], seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    kind = params.get("kind", "gbm")
    categorical = ["term", "grade"]
    if kind == "linear":
        pre = ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), categorical)],
            remainder=StandardScaler())
        return Pipeline([("pre", pre), ("lr", LogisticRegression(
            C=float(params.get("C", 1.0)), max_iter=500))])
    if kind != "gbm":
        raise ValueError(f"params['kind'] must be 'gbm' or 'linear'. Got {kind!r} instead.")
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
          categorical)],
        remainder="passthrough",
    )
    return Pipeline([
        ("pre", pre),
        ("gbm", HistGradientBoostingClassifier(
            max_depth=int(params.get("max_depth", 4)),
            learning_rate=float(params.get("learning_rate", 0.1)),
            max_iter=int(params.get("max_iter", 100)), random_state=seed)),
    ])

