"""Rows to explain against, drawn reproducibly from the data a model version was trained on.

The training input of the version's run (role ``training``/``train``) is read as the run read
it (version, ``as_of``, event-time window), only the model's input columns, one record batch at
a time: ``seed`` picks ``n`` row positions among the view's rows, and the batches are read up to
the last position picked, so memory holds one batch plus the sample. The same version, view and
seed give the same rows; :class:`~modelyard.explain.entities.SampleInfo` records all of them and
the sha256 of the rows drawn. Without a recorded training input (or when it lacks the model's
columns) the input example stored with the version is used, and the reason is recorded.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ..errors import NotFound
from .entities import SampleInfo

__all__ = ["TRAINING_ROLES", "draw", "rows_digest", "training_input"]

TRAINING_ROLES = ("training", "train")


def rows_digest(frame: pd.DataFrame) -> str:
    """sha256 of the rows as canonical JSON (column names, then the values row by row)."""
    body = {"columns": [str(c) for c in frame.columns],
            "rows": frame.astype(object).where(frame.notna(), None).values.tolist()}
    data = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
    return hashlib.sha256(data).hexdigest()


def training_input(run: Any) -> Any:
    """The input a run trained on (the first with a training role), or None."""
    for item in getattr(run, "inputs", None) or []:
        if item.role in TRAINING_ROLES:
            return item
    return None


def _take(view: Any, columns: list[str], n: int, seed: int) -> tuple[pd.DataFrame, int]:
    population = int(view.count())
    if population == 0:
        return pd.DataFrame(columns=columns), 0
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(population, size=min(n, population), replace=False))
    parts: list[pd.DataFrame] = []
    offset = 0
    i = 0
    for batch in view.iter_batches(columns=columns):
        end = offset + batch.num_rows
        j = int(np.searchsorted(picked, end))
        if j > i:
            parts.append(batch.take(picked[i:j] - offset).to_pandas())
            i = j
        offset = end
        if i == len(picked):
            break
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame[columns], population


def draw(runs: Any, datasets: Any, version: Any, example: pd.DataFrame | None,
         columns: list[str], n: int, seed: int) -> tuple[pd.DataFrame, SampleInfo]:
    """Up to ``n`` rows of ``columns`` for model ``version``: from its run's training input,
    else from ``example`` (its stored input example)."""
    reason = "the model version has no run"
    item = None
    if version.run_id:
        try:
            item = training_input(runs.get(version.run_id))
        except NotFound:
            item = None
        reason = "its run recorded no training dataset" if item is None else ""
    if item is not None:
        try:
            view = datasets.view(item.dataset, version=item.version, as_of=item.as_of,
                                 window_start=item.window_start, window_end=item.window_end)
        except NotFound as exc:
            view, reason = None, f"its training dataset is gone ({exc.message})"
        if view is not None:
            missing = [c for c in columns if c not in view.columns]
            if not missing:
                frame, population = _take(view, columns, n, seed)
                if len(frame):
                    return frame, SampleInfo(
                        source="dataset", dataset=f"{item.dataset}/{item.version}",
                        digest=item.digest, as_of=item.as_of, window_start=item.window_start,
                        window_end=item.window_end, seed=seed, n_rows=len(frame),
                        population=population, rows_digest=rows_digest(frame))
                reason = f"its training view of {item.dataset}/{item.version} has no rows"
            else:
                reason = (f"its training dataset {item.dataset}/{item.version} lacks the "
                          f"model's columns {missing[:5]}")
    if example is None or example.empty:
        return pd.DataFrame(columns=columns), SampleInfo(
            source="example", seed=seed, n_rows=0, population=0,
            rows_digest=rows_digest(pd.DataFrame(columns=columns)),
            reason=f"{reason}, and it has no input example")
    frame = example[columns].head(n).reset_index(drop=True) if columns else example.head(n)
    return frame, SampleInfo(source="example", seed=seed, n_rows=len(frame),
                             population=len(example), rows_digest=rows_digest(frame),
                             reason=reason)
