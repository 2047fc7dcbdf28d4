"""Explanations of logged predictions and global importance of model versions.

    ex = Explanations(predictions, models, runs, datasets, cache, clock)
    ex.explain(prediction_id)      # Explanation: reproduce first, then attribute
    ex.importance("loans/3")       # GlobalImportance: mean |SHAP| on a sample

:meth:`Explanations.explain` loads the exact version that answered (by its digest), predicts
the logged input, refuses when the answer differs from the log
(:func:`~modelyard.explain.reproduce.reproduce`), then computes the attributions with the
version's engine (:mod:`~modelyard.explain.engines`) and checks that they add up to the
model's own output. The result is cached by (prediction id, version digest) in ``cache`` (the
explain store). Loaded versions and their engines are kept for the next explanation, a few at a
time (a tree engine costs one model load; the agnostic one also reads its background sample).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from ..clock import Clock
from ..errors import IntegrityError, InvalidParameter, NotReproducible
from ..predictions.privacy import HASH_PREFIX
from .agnostic import Background
from .engines import Attributions, Engine, class_labels, engine_for, is_tree_model
from .entities import (
    Explanation,
    FeatureAttribution,
    FeatureImportance,
    GlobalImportance,
    SampleInfo,
)
from .reproduce import reproduce
from .sample import draw

__all__ = ["Explanations", "check_additivity"]

#: rows, background rows and antithetic permutations of each use
EXPLAIN_BACKGROUND = 100
EXPLAIN_PERMUTATIONS = 10
IMPORTANCE_TREE_ROWS = 200
IMPORTANCE_AGNOSTIC_ROWS = 8
IMPORTANCE_BACKGROUND = 10
IMPORTANCE_PERMUTATIONS = 1
SEED = 0
_KEEP = 8  # loaded versions kept with their engines


def check_additivity(att: Attributions, model: str) -> float:
    """The largest ``|base + sum(attributions) - output|`` over the rows; an IntegrityError
    when it is beyond float noise (the attributions would not explain this output)."""
    total = att.base + att.values.sum(axis=1)
    err = np.abs(total - att.output)
    worst = float(err.max()) if len(err) else 0.0
    scale = float(np.maximum(1.0, np.abs(att.output)).max()) if len(err) else 1.0
    if not worst <= 1e-3 * scale:
        raise IntegrityError(
            f"The attributions of model {model} must add up to its output "
            f"(base + sum = output). Got a difference of {worst:.3g} instead.")
    return worst


class Explanations:
    """Explanations over the yard's prediction log, registry, runs and datasets."""

    def __init__(self, predictions: Any, models: Any, runs: Any, datasets: Any, cache: Any,
                 clock: Clock) -> None:
        self.predictions = predictions
        self.models = models
        self.runs = runs
        self.datasets = datasets
        self.cache = cache
        self.clock = clock
        self._engines: OrderedDict[tuple[Any, ...], tuple[Any, Engine, Background | None]] = \
            OrderedDict()
        self._lock = threading.Lock()

    # ---- engines ---------------------------------------------------------------------------
    def _engine(self, version: Any, rows: int, permutations: int
                ) -> tuple[Any, Engine, Background | None]:
        key = (version.digest, version.name, version.version, rows, permutations)
        with self._lock:
            if key in self._engines:
                self._engines.move_to_end(key)
                return self._engines[key]
        loaded = self.models.load(version)
        background = None
        if not is_tree_model(loaded):
            frame, info = self._sample(version, loaded, rows)
            if frame.empty:
                raise InvalidParameter(
                    f"Model {version.ref} ({version.flavor}) is explained model-agnostically "
                    f"against a background sample, and none could be drawn: {info.reason}.",
                    field="background")
            background = Background(loaded.prepare(frame), info, SEED, permutations)
        built = (loaded, engine_for(loaded, background), background)
        with self._lock:
            self._engines[key] = built
            while len(self._engines) > _KEEP:
                self._engines.popitem(last=False)
        return built

    def _sample(self, version: Any, loaded: Any, n: int) -> tuple[pd.DataFrame, SampleInfo]:
        columns = list(version.signature.input_names) if version.signature is not None else []
        example = loaded.input_example
        if not columns and example is not None:
            columns = list(example.columns)
        return draw(self.runs, self.datasets, version, example, columns, n, SEED)

    # ---- one prediction --------------------------------------------------------------------
    def explain(self, prediction_id: str) -> Explanation:
        """The explanation of a logged prediction (cached by id and version digest)."""
        record = self.predictions.get(prediction_id)
        version = self.models.get(f"{record.model_name}/{record.model_version}")
        cached = self.cache.cached_explanation(record.id, version.digest)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        explanation = self.compute(record, version)
        self.cache.save_explanation(explanation)
        return explanation

    def compute(self, record: Any, version: Any) -> Explanation:
        """Reproduce the logged ``record`` with ``version``, then explain it (no cache)."""
        _refuse_masked(record, version)
        loaded, engine, background = self._engine(version, EXPLAIN_BACKGROUND,
                                                  EXPLAIN_PERMUTATIONS)
        frame = loaded.prepare(pd.DataFrame([record.inputs]))
        reproduction, proba = reproduce(loaded, frame, record.outputs, prediction_id=record.id)
        predicted = proba.argmax(axis=1) if proba is not None else None
        att = engine.explain(frame, predicted)
        error = check_additivity(att, version.ref)
        labels = list((record.outputs.get("proba") or {}).keys()) or (
            class_labels(loaded, proba.shape[1]) if proba is not None else [])
        target_index = _target_index(att.target[0], labels)
        probability = None
        if proba is not None and target_index is not None:
            probability = float(proba[0, target_index])
        return Explanation(
            prediction_id=record.id, model=version.ref, digest=version.digest,
            flavor=version.flavor, method=engine.method, output_space=att.space,  # type: ignore[arg-type]
            link=att.link, target=labels[target_index] if target_index is not None else None,  # type: ignore[arg-type]
            base_value=float(att.base[0]), output_value=float(att.output[0]),
            probability=probability, additivity_error=error,
            attributions=[FeatureAttribution(feature=str(c), value=_plain(record.inputs.get(c)),
                                             attribution=float(v))
                          for c, v in zip(frame.columns, att.values[0])],
            reproduction=reproduction,
            background=background.info if background is not None else None,
            permutations=background.permutations if background is not None else None,
            seed=background.seed if background is not None else None,
            computed_at=self.clock.now())

    # ---- a model version -------------------------------------------------------------------
    def importance(self, ref: str, *, loaded: Any = None) -> GlobalImportance:
        """Mean |SHAP| per feature of version ``ref`` over a sample of its training data (or
        its input example); ``loaded``: the version already loaded (else it is loaded here).
        Never raises for a model it cannot explain: the result then says ``unavailable`` and
        why."""
        version = self.models.get(ref)
        started = time.perf_counter()
        try:
            if loaded is not None:
                return self._importance_of(loaded, version, started)
            return self._importance(version, started)
        except (ImportError, InvalidParameter, IntegrityError, ValueError, TypeError) as exc:
            return GlobalImportance(model=version.ref, digest=version.digest,
                                    status="unavailable", reason=str(exc),
                                    seconds=time.perf_counter() - started,
                                    computed_at=self.clock.now())

    def _importance(self, version: Any, started: float) -> GlobalImportance:
        # registration calls this: leave the model cache as it was (a version is cached when
        # something serves or explains it, not because it was registered)
        folder = self.models.cache_dir(version)
        cached = folder.exists()
        try:
            return self._importance_of(self.models.load(version), version, started)
        finally:
            if not cached:
                shutil.rmtree(folder, ignore_errors=True)

    def _importance_of(self, loaded: Any, version: Any, started: float) -> GlobalImportance:
        tree = is_tree_model(loaded)
        n = IMPORTANCE_TREE_ROWS if tree else IMPORTANCE_AGNOSTIC_ROWS
        frame, info = self._sample(version, loaded, n)
        if frame.empty:
            return GlobalImportance(model=version.ref, digest=version.digest,
                                    status="unavailable", reason=f"no rows to explain: "
                                    f"{info.reason}", sample=info,
                                    seconds=time.perf_counter() - started,
                                    computed_at=self.clock.now())
        prepared = loaded.prepare(frame)
        background = None
        if not tree:
            background = Background(prepared.head(IMPORTANCE_BACKGROUND), info, SEED,
                                    IMPORTANCE_PERMUTATIONS)
        engine = engine_for(loaded, background)
        predictor = loaded.predictor
        predicted = None
        if callable(getattr(predictor, "predict_proba", None)):
            raw = predictor.predict_proba(prepared)
            proba = np.asarray(raw.to_numpy() if isinstance(raw, pd.DataFrame) else raw,
                               dtype=np.float64)
            predicted = proba.argmax(axis=1)
            labels = class_labels(loaded, proba.shape[1])
        else:
            labels = []
        att = engine.explain(prepared, predicted)
        check_additivity(att, version.ref)
        means = np.abs(att.values).mean(axis=0)
        targets = {t for t in att.target}
        target = None
        if len(targets) == 1 and labels:
            index = _target_index(next(iter(targets)), labels)
            target = labels[index] if index is not None else None
        features = sorted((FeatureImportance(feature=str(c), mean_abs=float(m))
                           for c, m in zip(prepared.columns, means)),
                          key=lambda f: -f.mean_abs)
        return GlobalImportance(
            model=version.ref, digest=version.digest, status="computed", method=engine.method,
            output_space=att.space, target=target if len(targets) == 1 else "predicted class",  # type: ignore[arg-type]
            features=features, sample=info, seconds=time.perf_counter() - started,
            computed_at=self.clock.now())


def _target_index(target: int | None, labels: list[str]) -> int | None:
    """The class a row's attributions are about: its index, or for a single-margin model the
    positive class (the last of two)."""
    if target is not None:
        return target
    return len(labels) - 1 if len(labels) == 2 else None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _refuse_masked(record: Any, version: Any) -> None:
    """A record whose inputs the log masked (``privacy``: hashed or dropped) cannot be fed to
    the model again: say so, rather than fail on a value's type."""
    inputs = record.inputs or {}
    hashed = [c for c, v in inputs.items() if isinstance(v, str) and v.startswith(HASH_PREFIX)]
    names = list(version.signature.input_names) if version.signature is not None else []
    dropped = [c for c in names if c not in inputs]
    if hashed or dropped:
        masked = sorted(hashed + dropped)
        raise NotReproducible(
            f"Prediction {record.id} cannot be explained: its input column(s) {masked} were "
            "masked in the prediction log (the endpoint's privacy hashes or drops them), so "
            f"model {version.ref} cannot be given the logged input again. An endpoint keeps a "
            f"column's value with privacy.columns (e.g. {{{masked[0]}: keep}}).")
