"""The work a backtest sends to the executor: train a model as of a step, evaluate a model on
a window. Module-level functions of picklable arguments (frozen dataset views, the trained
model), so they run in any process: local, a pool's, a Dask worker's.

A training runs the entry point as ``run_training`` would, but registers nothing: its ``run``
is a :class:`RecordingRun` that keeps what the code logs. The fitted model is saved and loaded
back through its registry flavor (what serving would load), and a drift detector is fitted on
its training features, the reference for drift triggers.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from ...errors import InvalidParameter
from ...monitoring.drift import DriftDetector
from ...monitoring.performance import (
    ClassificationAccumulator,
    RegressionAccumulator,
    class_labels,
    is_regression,
)
from ...registry.entities import Signature
from ...registry.flavors.base import detect_flavor
from ...registry.signature import as_frame, enforce, infer_signature
from ..distributed import FrozenView
from ..retrain import TrainingResult, load_entry_point, takes_parameter

__all__ = ["Evaluation", "RecordingRun", "TrainSpec", "TrainedModel", "evaluate", "train"]


class RecordingRun:
    """The ``run`` an entry point gets in a backtest: what it logs is kept in memory (and
    reported with the training), nothing is written to the yard."""

    id = "backtest"
    code_commit = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, Any] = {}
        self.artifacts: list[str] = []

    def log_param(self, key: str, value: Any) -> None:
        self.params[key] = value

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update(params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.metrics[key] = float(value)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.metrics.update({k: float(v) for k, v in metrics.items()})

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[key] = value

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.update(tags)

    def log_input(self, dataset: Any, role: str = "training") -> None:
        return None

    def log_artifact(self, local_path: Any, path: str | None = None) -> list[Any]:
        self.artifacts.append(path or str(local_path))
        return []

    def log_model(self, model: Any, name: str, **kwargs: Any) -> Any:
        raise InvalidParameter(
            "a backtest registers no model: the entry point must return it (or a "
            "TrainingResult) rather than call run.log_model.", field="entry_point")


@dataclass(frozen=True)
class TrainSpec:
    """One training: the entry point and params on ``data`` (role -> frozen view) as known
    at step ``step``; ``key`` identifies it (entry point, params, data digests, windows)."""

    key: str
    step: int
    entry_point: str
    code_path: str | None
    params: dict[str, Any]
    data: dict[str, FrozenView]
    reference_role: str
    exclude: tuple[str, ...]


@dataclass
class TrainedModel:
    """What a training returns: the predictor (loaded through its flavor), the signature of
    its example (None: it takes every feature column), the drift reference, its classes,
    how long the entry point took and on how many rows, and what it logged."""

    key: str
    step: int
    predictor: Any
    signature: Signature | None
    features: list[str]
    detector: DriftDetector | None
    classes: list[str] | None
    seconds: float
    rows: int
    logged: dict[str, Any] = field(default_factory=dict)


def _classes(model: Any) -> list[str] | None:
    classes = getattr(model, "classes_", None)
    if classes is None and hasattr(model, "steps"):
        classes = getattr(model.steps[-1][1], "classes_", None)
    if classes is None:
        return None
    return [str(c.item() if isinstance(c, np.generic) else c) for c in classes]


def train(spec: TrainSpec) -> TrainedModel:
    """Run the entry point on the spec's data (on a worker) and load its model back."""
    fn = load_entry_point(spec.entry_point, spec.code_path)
    run = RecordingRun(f"step-{spec.step}")
    extra: dict[str, Any] = {}
    if takes_parameter(fn, "executor"):
        from ..executors import SerialExecutor

        extra["executor"] = SerialExecutor()  # already on a worker: train here
    started = time.perf_counter()
    result = fn(params=dict(spec.params), data=dict(spec.data), run=run, **extra)
    seconds = time.perf_counter() - started
    if not isinstance(result, TrainingResult):
        result = TrainingResult(result)
    if result.model is None:
        raise InvalidParameter(f"entry point {spec.entry_point!r} must return the fitted model "
                               "(or a TrainingResult). Got None instead.", field="entry_point")
    reference = spec.data[spec.reference_role].to_pandas()
    example = as_frame(result.example) if result.example is not None else None
    signature = infer_signature(example) if example is not None else None
    features = [c.name for c in signature.inputs] if signature is not None else [
        c for c in reference.columns if c not in spec.exclude]
    flavor = detect_flavor(result.model)
    with tempfile.TemporaryDirectory(prefix="modelyard-backtest-") as tmp:
        options = flavor.save(result.model, Path(tmp), example)
        predictor = flavor.load(Path(tmp), options)
    present = [f for f in features if f in reference.columns]
    detector = DriftDetector(columns=present, keep_values=False).fit(reference[present]) \
        if present and len(reference) else None
    return TrainedModel(key=spec.key, step=spec.step, predictor=predictor, signature=signature,
                        features=features, detector=detector, classes=_classes(result.model),
                        seconds=seconds, rows=len(reference),
                        logged={"params": run.params, "metrics": run.metrics})


@dataclass
class Evaluation:
    """A model on one window: realised metrics (empty without labels), drift share and per
    feature statistics against its training data, rows, labelled rows, seconds."""

    key: str
    window: int
    metrics: dict[str, float]
    task: str
    n_rows: int
    n_labelled: int
    drift_share: float | None
    features: dict[str, dict[str, Any]]
    seconds: float


def _predict(model: TrainedModel, frame: pd.DataFrame) -> tuple[Any, np.ndarray | None]:
    if model.signature is not None:
        fresh = Signature.model_validate(model.signature.model_dump())  # no plan to share
        X = enforce(fresh, frame)
    else:
        X = frame[model.features]
    predictions = model.predictor.predict(X)
    if isinstance(predictions, pd.DataFrame):
        predictions = predictions.iloc[:, 0]
    predictions = np.asarray(predictions)
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    proba = None
    if hasattr(model.predictor, "predict_proba"):
        proba = np.asarray(model.predictor.predict_proba(X), dtype=np.float64)
        if proba.ndim != 2:
            proba = None
    return predictions, proba


def evaluate(model: TrainedModel, window: FrozenView, index: int, label: str) -> Evaluation:
    """Evaluate ``model`` on the rows of ``window`` (on a worker)."""
    started = time.perf_counter()
    frame = window.to_pandas()
    truth = frame[label]
    labelled = truth.notna().to_numpy()
    predictions, proba = _predict(model, frame) if len(frame) else (np.empty(0), None)
    pred = pl.Series("p", predictions)
    task = "regression" if is_regression(pred) else "classification"
    metrics: dict[str, float] = {}
    if labelled.any():
        if task == "regression":
            acc = RegressionAccumulator()
            acc.update(truth.to_numpy(dtype=np.float64)[labelled], predictions[labelled]
                       .astype(np.float64))
        else:
            acc = ClassificationAccumulator()
            mask = pl.Series(labelled)
            proba_by_class = None
            if proba is not None:
                names = model.classes if model.classes and len(model.classes) == proba.shape[1] \
                    else [str(i) for i in range(proba.shape[1])]
                proba_by_class = {c: proba[labelled, j] for j, c in enumerate(names)}
            acc.update(class_labels(pl.Series("t", truth.to_numpy())).filter(mask),
                       class_labels(pred).filter(mask), proba_by_class)
        metrics = {k: float(v) for k, v in acc.metrics().items() if k != "n_labeled"}
    drift_share = None
    features: dict[str, dict[str, Any]] = {}
    if model.detector is not None and len(frame):
        columns = [c for c in model.detector.reference_ if c in frame.columns]
        report = model.detector.score(frame[columns])
        drift_share = float(report.drift_share)
        for f in report.features:
            features[f.feature] = {"test": f.test, "statistic": f.statistic,
                                   "drifted": f.drifted, **(f.stats or {})}
    return Evaluation(key=model.key, window=index, metrics=metrics, task=task,
                      n_rows=len(frame), n_labelled=int(labelled.sum()),
                      drift_share=drift_share, features=features,
                      seconds=time.perf_counter() - started)
