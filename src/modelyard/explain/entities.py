"""What an explanation is: per-feature attributions of one model output, the check that the
logged prediction was reproduced first, and the sample the attributions were computed against.

These pydantic models are the one shape of each concept in the SDK, the REST API, the CLI and
the dashboard. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "OUTPUT_SPACES",
    "Explanation",
    "FeatureAttribution",
    "FeatureImportance",
    "GlobalImportance",
    "OutputSpace",
    "Reproduction",
    "SampleInfo",
]

#: the space the attributions add up in: ``log-odds`` (a binary classifier's margin),
#: ``margin`` (a multiclass classifier's softmax logit), ``log`` (the margin of a model with a
#: log link: Poisson, Gamma, Tweedie), ``probability`` (a class probability) or ``raw`` (the
#: prediction itself: a regressor with the identity link)
OutputSpace = Literal["log-odds", "margin", "log", "probability", "raw"]
OUTPUT_SPACES: tuple[str, ...] = ("log-odds", "margin", "log", "probability", "raw")


class SampleInfo(BaseModel):
    """Rows drawn from data, reproducibly: ``source`` is ``dataset`` (a training dataset
    version, as the run read it: ``dataset``, ``digest``, ``as_of``, window) or ``example``
    (the input example stored with the model version, when no training data was recorded or
    it lacks the model's columns: ``reason`` says why). ``seed`` drew ``n_rows`` of
    ``population`` rows; ``rows_digest`` is the sha256 of the drawn rows (canonical JSON), so
    anyone can check that the same rows were used."""

    source: Literal["dataset", "example"]
    dataset: str | None = None
    digest: str | None = None
    as_of: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    seed: int
    n_rows: int
    population: int
    rows_digest: str
    reason: str | None = None


class Reproduction(BaseModel):
    """The logged output next to what the exact model version predicts for the logged input.
    ``max_abs_diff`` is over the prediction (when numeric) and every class probability."""

    logged: dict[str, Any]
    recomputed: dict[str, Any]
    max_abs_diff: float
    tolerance: str


class FeatureAttribution(BaseModel):
    """One feature: its logged value and its share of ``output - base_value``."""

    feature: str
    value: Any = None
    attribution: float


class Explanation(BaseModel):
    """Why one logged prediction came out as it did.

    ``base_value + sum(attribution) == output_value`` in ``output_space`` (within
    ``additivity_error``, computed against the model's own output, not against the sum).
    ``target`` is the class explained (a binary classifier: its positive class; a multiclass
    one: the predicted class; a regressor: None); ``probability`` is ``output_value`` through
    the model's link (the class probability the server logged) when the space is a margin.
    ``method``: ``xgboost.pred_contribs``, ``lightgbm.pred_contrib`` (the libraries' exact
    TreeSHAP), ``shap.TreeExplainer`` (exact TreeSHAP of scikit-learn trees), or
    ``permutation`` (model-agnostic permutation SHAP against ``background``, with ``seed`` and
    ``permutations`` antithetic orderings).
    """

    prediction_id: str
    model: str
    digest: str
    flavor: str
    method: str
    output_space: OutputSpace
    link: Literal["identity", "logistic", "softmax", "exp"] = "identity"
    target: str | None = None
    base_value: float
    output_value: float
    probability: float | None = None
    additivity_error: float
    attributions: list[FeatureAttribution] = Field(default_factory=list)
    reproduction: Reproduction
    background: SampleInfo | None = None
    permutations: int | None = None
    seed: int | None = None
    computed_at: datetime
    cached: bool = False

    def top(self, n: int = 10) -> list[FeatureAttribution]:
        """The ``n`` features with the largest absolute attribution, largest first."""
        return sorted(self.attributions, key=lambda a: -abs(a.attribution))[:n]

    def to_text(self, n: int = 12, width: int = 30) -> str:
        """A waterfall as text: the base value, one bar per feature (largest first, the rest
        summed), the output; what ``modelyard explain`` prints."""
        return _waterfall_text(self, n, width)


class FeatureImportance(BaseModel):
    feature: str
    mean_abs: float


class GlobalImportance(BaseModel):
    """Mean |SHAP| per feature of one model version over a sample (computed when the version
    is registered). ``status`` is ``computed``, or ``unavailable`` with ``reason`` (no rows to
    explain, the ``explain`` extra not installed, the model could not be explained)."""

    model: str
    digest: str
    status: Literal["computed", "unavailable"]
    reason: str | None = None
    method: str | None = None
    output_space: OutputSpace | None = None
    target: str | None = None
    features: list[FeatureImportance] = Field(default_factory=list)
    sample: SampleInfo | None = None
    seconds: float = 0.0
    computed_at: datetime


def _fmt(value: float) -> str:
    return f"{value:+.4g}"


def _waterfall_text(e: Explanation, n: int, width: int) -> str:
    shown = e.top(n)
    rest = [a for a in e.attributions if a not in shown]
    rows: list[tuple[str, float]] = [
        (f"{a.feature} = {_value_text(a.value)}", a.attribution) for a in shown]
    if rest:
        rows.append((f"{len(rest)} other features", sum(a.attribution for a in rest)))
    scale = max((abs(v) for _, v in rows), default=0.0) or 1.0
    label_w = min(max((len(label) for label, _ in rows), default=10), 48)
    lines = [f"{e.model} · {e.method} · {e.output_space}"
             + (f" of class {e.target}" if e.target is not None else ""),
             f"{'base value':<{label_w}}  {e.base_value:.4g}"]
    for label, value in rows:
        bar = "█" * max(1, round(abs(value) / scale * width)) if value else ""
        side = f"{bar:>{width}}|{'':<{width}}" if value < 0 else f"{'':>{width}}|{bar:<{width}}"
        lines.append(f"{label[:label_w]:<{label_w}}  {side} {_fmt(value)}")
    out = f"{'output':<{label_w}}  {e.output_value:.4g}"
    if e.probability is not None:
        out += f"  (probability {e.probability:.4g})"
    lines.append(out)
    return "\n".join(lines)


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
