"""The model-agnostic engine: permutation SHAP against a background sample.

Any model with ``predict`` (and ``predict_proba`` for a classifier) is explained as shap's
``PermutationExplainer`` does with an independent masker: for a random ordering of the
features, switch them one by one from a background row's value to the explained row's value
(forward), then back in the same order (backward: the reversed ordering, antithetic), and
credit each feature with the change of the model's output it caused, averaged over the
background rows and over ``permutations`` orderings. Each ordering telescopes, so the
attributions add up exactly to ``f(x) - mean(f(background))``: the base value is the model's
mean output over the background, in probability space for a classifier (the explained class's
probability) and in the model's own output space for a regressor.

Why not ``shap.PermutationExplainer`` itself: its masking runs through numba functions that are
compiled on first use in every process (measured: 9 s on an idle 2-core machine, 36 s on a busy
one) and that seed NumPy's global generator. This is the same algorithm in NumPy, one model
call per batch of rows, with its own seeded generator; the explained frame is built column by
column from the background and the row, so columns of any type (text, categories, times) keep
their values and dtypes and the model always gets a frame that passes its signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter
from .engines import Attributions
from .entities import SampleInfo

__all__ = ["Background", "PermutationEngine", "coalitions"]

_MAX_ROWS_PER_CALL = 250_000  # rows given to the model at once (bounds memory)


@dataclass
class Background:
    """Rows the explained rows are compared with, and where they came from."""

    frame: pd.DataFrame
    info: SampleInfo
    seed: int = 0
    permutations: int = 10


def coalitions(order: np.ndarray) -> np.ndarray:
    """The feature masks one ordering visits: forward from none to all (p + 1 masks), then
    backward from all to none switching off in the same order (p - 1 masks in between):
    2p masks, each row True where the feature takes the explained row's value."""
    p = len(order)
    masks = np.zeros((2 * p, p), dtype=bool)
    for k in range(1, p + 1):  # forward: S_k = order[:k]
        masks[k, order[:k]] = True
    for k in range(1, p):  # backward: all but order[:k]
        masks[p + k, :] = True
        masks[p + k, order[:k]] = False
    return masks


def _credit(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Attributions (features x outputs) of one ordering from the mean outputs of its 2p
    masks (:func:`coalitions` order)."""
    p = len(order)
    forward = values[: p + 1]  # S_0 … S_p
    backward = np.concatenate([values[p: p + 1], values[p + 1:], values[:1]])  # T_0 … T_p
    phi = np.zeros((p, values.shape[1]))
    phi[order] += forward[1:] - forward[:-1]
    phi[order] += backward[:-1] - backward[1:]
    return phi


class PermutationEngine:
    """Permutation SHAP of any model against ``background`` (see the module docstring)."""

    method = "permutation"
    needs_background = True

    def __init__(self, loaded: Any, background: Background) -> None:
        if background.frame.empty:
            raise InvalidParameter("the background sample has no rows.", field="background")
        if background.permutations < 1:
            raise InvalidParameter(f"permutations must be at least 1. Got "
                                   f"{background.permutations} instead.", field="permutations")
        self.loaded = loaded
        self.background = background
        self.proba = callable(getattr(loaded.predictor, "predict_proba", None))
        self.space = "probability" if self.proba else "raw"
        self.link = "identity"

    def _outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows x outputs: class probabilities, or the prediction as one column."""
        predictor = self.loaded.predictor
        out = predictor.predict_proba(frame) if self.proba else predictor.predict(frame)
        if isinstance(out, pd.DataFrame | pd.Series):
            out = out.to_numpy()
        try:
            arr = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(
                f"Model {self.loaded.ref} predicts non-numeric values and has no "
                "predict_proba, so there is no number to explain.", field="model") from exc
        arr = arr.reshape(len(frame), -1)
        if not self.proba and arr.shape[1] != 1:
            raise InvalidParameter(
                f"Model {self.loaded.ref} gives {arr.shape[1]} outputs per row; the "
                "model-agnostic explainer explains one output (or a classifier's "
                "probabilities).", field="model")
        return arr

    def _masked(self, rows: pd.DataFrame, masks: np.ndarray) -> pd.DataFrame:
        """For each mask (and the explained row beside it in ``rows``), every background row
        with the masked-in features taken from the explained row: len(masks) * len(background)
        rows, with the background's columns and dtypes."""
        bg = self.background.frame
        m = len(bg)
        take = np.repeat(masks, m, axis=0)  # (masks * m) x p
        data: dict[str, Any] = {}
        for j, column in enumerate(bg.columns):
            values = np.tile(bg[column].to_numpy(), len(masks))
            data[column] = np.where(take[:, j], np.repeat(rows[column].to_numpy(), m), values)
        frame = pd.DataFrame(data, columns=bg.columns)
        for column in bg.columns:
            if frame[column].dtype != bg[column].dtype:
                frame[column] = frame[column].astype(bg[column].dtype)
        return frame

    def explain(self, frame: pd.DataFrame, predicted: np.ndarray | None) -> Attributions:
        rng = np.random.default_rng(self.background.seed)
        output = self._outputs(frame)
        n, k = output.shape
        p, m = frame.shape[1], len(self.background.frame)
        if k == 1:
            target: list[int | None] = [None] * n
        elif k == 2:
            target = [1] * n  # binary: the positive class, as the tree engines do
        else:
            chosen = predicted if predicted is not None else output.argmax(axis=1)
            target = [int(i) for i in chosen]
        # every (row, ordering) walk, as few model calls as memory allows (one, usually)
        walks = [(i, rng.permutation(p)) for i in range(n)
                 for _ in range(self.background.permutations)]
        per_call = max(1, _MAX_ROWS_PER_CALL // (2 * p * m))
        phi = np.zeros((n, p, k))
        base = np.zeros((n, k))
        for start in range(0, len(walks), per_call):
            chunk = walks[start: start + per_call]
            masks = np.concatenate([coalitions(order) for _, order in chunk])
            rows = frame.iloc[np.repeat([i for i, _ in chunk], 2 * p)]
            means = self._outputs(self._masked(rows, masks)).reshape(len(masks), m, k).mean(1)
            for j, (i, order) in enumerate(chunk):
                block = means[j * 2 * p: (j + 1) * 2 * p]
                phi[i] += _credit(block, order)
                base[i] = block[0]
        phi /= 2 * self.background.permutations
        rows_ = np.arange(n)
        cls = np.array([0 if t is None else t for t in target], dtype=np.intp)
        return Attributions(phi[rows_, :, cls], base[rows_, cls], output[rows_, cls], target,
                            self.space, self.link)
