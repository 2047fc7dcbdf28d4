"""A generated loan-default data set with event time, and a training entry point.

``generate`` makes rows whose features and default rate depend on the day (``drift`` shifts
income down and grades towards riskier ones), so monitoring has something to find.
``train`` follows the entry-point contract of :mod:`modelyard.automation.retrain`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "generate", "train"]

FEATURES = ["income", "loan_amount", "debt_ratio", "age", "employment_years", "term", "grade"]
_GRADES = np.array(["A", "B", "C", "D", "E"])


def generate(n: int, *, start: str | datetime = "2026-01-01", days: int = 30, drift: float = 0.0,
             seed: int = 0) -> pd.DataFrame:
    """``n`` loans with event times spread over ``days`` days from ``start``; ``drift`` in [0, 1]
    moves incomes down and grades towards E."""
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
    score = (
        -2.0 + 2.5 * debt + loan / (income + 1) * 1.5 - 0.03 * employment
        + (grade == "D") * 0.8 + (grade == "E") * 1.4 + (term == "60m") * 0.4 - 0.01 * (age - 40)
    )
    default = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(int)
    return pd.DataFrame({
        "ts": ts, "income": income.round(2), "loan_amount": loan.round(2),
        "debt_ratio": debt.round(4), "age": age, "employment_years": employment,
        "term": term, "grade": grade, "default": default,
    })


def train(params: dict[str, Any], data: dict[str, Any], run: Any) -> Any:
    """Gradient boosting on the ``train`` input; logs validation AUC and accuracy."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    from ..automation.retrain import TrainingResult

    frame = data["train"].to_pandas()
    X, y = frame[FEATURES], frame["default"]
    seed = int(params.get("seed", 0))
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=seed)
    pre = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
          ["term", "grade"])],
        remainder="passthrough",
    )
    model = Pipeline([
        ("pre", pre),
        ("gbm", HistGradientBoostingClassifier(
            max_depth=int(params.get("max_depth", 4)),
            learning_rate=float(params.get("learning_rate", 0.1)),
            max_iter=int(params.get("max_iter", 100)), random_state=seed)),
    ])
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_val)[:, 1]
    run.log_metrics({"val_auc": float(roc_auc_score(y_val, proba)),
                     "val_accuracy": float(accuracy_score(y_val, proba > 0.5)),
                     "n_train": float(len(X_train))})
    return TrainingResult(model, example=X_train.head(5))


def day(start: str, n: int) -> datetime:
    """``start`` plus ``n`` days, as an aware UTC datetime."""
    return datetime.fromisoformat(start).replace(tzinfo=timezone.utc) + timedelta(days=n)
