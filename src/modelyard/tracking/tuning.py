"""Hyperparameter search inside a run: ``run.search(...)`` and ``modelyard search``.

    with yard.start_run(experiment="loans", name="gbm-search") as run:
        result = run.search(
            HistGradientBoostingClassifier(random_state=0),
            {"max_depth": [3, 6, None],                                  # a list: these values
             "learning_rate": {"dist": "loguniform", "low": 0.01, "high": 0.3}},
            data=yard.datasets.get("loans"), label="default",
            n_trials=24, cv=3, scoring="roc_auc", executor=ex, register="loans")
    result.best_params, result.best_score, result.model_version
    yard.runs.search(f"tags.`modelyard.parent_run` = '{run.id}'")     # the trials

scikit-learn's own searches do the work (``GridSearchCV`` when every value is listed and no
``n_trials`` is given, else ``RandomizedSearchCV`` with ``n_trials`` draws), run through joblib
on the executor's backend: joblib's Dask backend on a Dask cluster, processes otherwise
(default: one per core). Each trial becomes a child run of ``run`` (tag
``modelyard.parent_run``) with its params and its cross-validated score (mean, std, each
fold) and fit time; the search run gets the best params (``best.<param>``) and score. With
``register``, the best estimator (refit on all rows) is registered as a version of that model,
linked to the best trial's run.

Distributions: ``{"dist": "uniform"|"loguniform", "low", "high"}``, ``{"dist": "randint",
"low", "high"}`` (high exclusive), ``{"dist": "choice", "values": [...]}``.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

__all__ = ["SearchResult", "Trial", "parse_space", "search"]

PARENT_TAG = "modelyard.parent_run"
_DISTS = ("uniform", "loguniform", "randint", "choice")


@dataclass
class Trial:
    """One candidate: its params, cross-validated score (mean, std, per fold), mean fit
    seconds, rank (1 = best) and its child run."""

    number: int
    params: dict[str, Any]
    score: float
    score_std: float
    fold_scores: list[float]
    fit_seconds: float
    rank: int
    run_id: str | None = None


@dataclass
class SearchResult:
    """The outcome of :func:`search`: every trial, the best one, and the registered version."""

    scoring: str
    trials: list[Trial] = field(default_factory=list)
    best: Trial | None = None
    model_version: Any = None
    estimator: Any = None

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params) if self.best else {}

    @property
    def best_score(self) -> float:
        return self.best.score if self.best else math.nan


def _distribution(name: str, spec: Mapping[str, Any]) -> Any:
    from scipy import stats

    kind = spec.get("dist")
    unknown = set(spec) - {"dist", "low", "high", "values"}
    if kind not in _DISTS or unknown:
        raise InvalidParameter(
            f"space[{name!r}] must be a list of values or a distribution "
            f"{{dist: {'|'.join(_DISTS)}, low, high}} (or values for choice). Got "
            f"{dict(spec)!r} instead.", field=f"space.{name}")
    if kind == "choice":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise InvalidParameter(f"space[{name!r}] choice needs a non-empty list 'values'. "
                                   f"Got {values!r} instead.", field=f"space.{name}")
        return values
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) \
            or not low < high:  # type: ignore[operator]
        raise InvalidParameter(f"space[{name!r}] needs numbers low < high. Got low={low!r}, "
                               f"high={high!r}.", field=f"space.{name}")
    if kind == "uniform":
        return stats.uniform(low, high - low)  # type: ignore[operator]
    if kind == "loguniform":
        if low <= 0:  # type: ignore[operator]
            raise InvalidParameter(f"space[{name!r}] loguniform needs low > 0. Got {low!r}.",
                                   field=f"space.{name}")
        return stats.loguniform(low, high)
    return stats.randint(int(low), int(high))  # type: ignore[arg-type]


def parse_space(space: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """scikit-learn's param grid or distributions from ``space``, and whether it is a grid
    (every value listed)."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidParameter("space must map each parameter to a list of values or a "
                               f"distribution. Got {space!r} instead.", field="space")
    out: dict[str, Any] = {}
    grid = True
    for name, spec in space.items():
        if isinstance(spec, list | tuple):
            if not spec:
                raise InvalidParameter(f"space[{name!r}] must list at least one value.",
                                       field=f"space.{name}")
            out[name] = list(spec)
        elif isinstance(spec, Mapping):
            out[name] = _distribution(name, spec)
            grid = grid and isinstance(out[name], list)
        else:
            raise InvalidParameter(f"space[{name!r}] must be a list of values or a "
                                   f"distribution. Got {spec!r} instead.", field=f"space.{name}")
    return out, grid


def _xy(data: Any, label: str | None, features: Sequence[str] | None,
        X: Any, y: Any) -> tuple[Any, Any]:
    if data is None:
        if X is None or y is None:
            raise InvalidParameter("search needs data= (with label=) or X= and y=.",
                                   field="data")
        return X, y
    if label is None:
        raise InvalidParameter("search with data= needs label= (the column to predict).",
                               field="label")
    frame = data.to_pandas() if hasattr(data, "to_pandas") else data
    columns = list(frame.columns)
    if label not in columns:
        raise InvalidParameter(f"label must be a column of the data ({columns}). Got "
                               f"{label!r} instead.", field="label")
    time_column = getattr(data, "time_column", None)
    cols = list(features) if features is not None else [
        c for c in columns if c not in (label, time_column)]
    unknown = [c for c in cols if c not in columns]
    if unknown:
        raise InvalidParameter(f"features must be columns of the data. Got {unknown} "
                               "instead.", field="features")
    return frame[cols], frame[label]


def _plain(value: Any) -> Any:
    """A param value as JSON can hold it (numpy scalars, estimators as their repr)."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def search(run: Any, estimator: Any, space: Mapping[str, Any], *, data: Any = None,
           label: str | None = None, features: Sequence[str] | None = None, X: Any = None,
           y: Any = None, n_trials: int | None = None, cv: int = 3,
           scoring: str | None = None, executor: Any = None, register: str | None = None,
           random_state: int = 0) -> SearchResult:
    """Search ``space`` for ``estimator`` inside ``run`` (see the module docstring).

    ``data``: a dataset version or view, or a DataFrame, with ``label`` (``features``
    default: every other column but the time column); or ``X`` and ``y``. ``n_trials``:
    random draws (required when the space has distributions). ``scoring``: a scikit-learn
    scorer name (default: the estimator's ``score``). ``executor``: an
    :class:`~modelyard.automation.executors.Executor` (anything with ``joblib_backend()``) or
    a spec such as ``"dask://host:8786"``, ``"dask"`` or ``"local:4"``; None runs on local
    processes, one per core. ``register``: the model name to register the best estimator under.
    """
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    params, grid = parse_space(space)
    if n_trials is not None and n_trials < 1:
        raise InvalidParameter(f"n_trials must be positive. Got {n_trials}.", field="n_trials")
    if not grid and n_trials is None:
        raise InvalidParameter("a space with distributions needs n_trials (how many draws).",
                               field="n_trials")
    if cv < 2:
        raise InvalidParameter(f"cv must be at least 2 folds. Got {cv}.", field="cv")
    known = set(estimator.get_params(deep=True))
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidParameter(
            f"space names parameter(s) {unknown} that {type(estimator).__name__} does not "
            f"have; it has {sorted(known)[:20]}.", field="space")
    features_X, target = _xy(data, label, features, X, y)
    common = {"scoring": scoring, "cv": cv, "n_jobs": -1, "refit": True,
              "return_train_score": False, "error_score": "raise"}
    if grid and n_trials is None:
        searcher: Any = GridSearchCV(clone(estimator), params, **common)
    else:
        searcher = RandomizedSearchCV(clone(estimator), params, n_iter=n_trials,
                                      random_state=random_state, **common)
    with _backend(executor) as backend, backend.joblib_backend():
        searcher.fit(features_X, target)
    scorer_name = scoring or "score"
    result = SearchResult(scoring=scorer_name, estimator=searcher.best_estimator_)
    _record(run, searcher, result, data, cv)
    run.log_params({"search.kind": "grid" if isinstance(searcher, GridSearchCV) else "random",
                    "search.cv": cv, "search.scoring": scorer_name,
                    "search.trials": len(result.trials),
                    **{f"best.{k}": _plain(v) for k, v in result.best_params.items()}})
    run.set_tags({"modelyard.search.space": json.dumps(
        {k: v if isinstance(v, list | dict) else str(v) for k, v in space.items()},
        default=str)})
    run.log_metrics({f"best_cv_{scorer_name}": result.best_score})
    if register is not None and result.best is not None:
        example = features_X.head(5) if hasattr(features_X, "head") else features_X[:5]
        result.model_version = run.yard.models.register(
            searcher.best_estimator_, register, example=example, run_id=result.best.run_id,
            code_commit=getattr(run, "code_commit", None))
    return result


@contextlib.contextmanager
def _backend(executor: Any) -> Iterator[Any]:
    """The executor to fit on: one given is used as it is; a spec (``"dask://host:8786"``,
    ``"local:4"``) or None (local processes) is opened here — a scheduler that does not
    answer is an error before any trial runs — and closed after the fit."""
    if executor is not None and not isinstance(executor, str):
        yield executor
        return
    from ..automation.executors import open_executor

    opened = open_executor(executor)
    try:
        yield opened
    finally:
        opened.close()


def _record(run: Any, searcher: Any, result: SearchResult, data: Any, cv: int) -> None:
    """One child run per trial, in the search run's experiment."""
    res = searcher.cv_results_
    yard = run.yard
    for i, candidate in enumerate(res["params"]):
        folds = [float(res[f"split{k}_test_score"][i]) for k in range(cv)]
        trial = Trial(number=i, params={k: _plain(v) for k, v in candidate.items()},
                      score=float(res["mean_test_score"][i]),
                      score_std=float(res["std_test_score"][i]), fold_scores=folds,
                      fit_seconds=float(res["mean_fit_time"][i]),
                      rank=int(res["rank_test_score"][i]))
        datasets = [data] if data is not None and hasattr(data, "digest") else None
        child = yard.runs.start(
            experiment=run.experiment, name=f"{run.name or 'search'}-trial-{i}",
            params=trial.params, datasets=datasets,
            tags={PARENT_TAG: run.id, "modelyard.trial": str(i)})
        with child:
            child.log_metrics({f"cv_{result.scoring}": trial.score,
                               f"cv_{result.scoring}_std": trial.score_std,
                               "fit_seconds": trial.fit_seconds, "rank": trial.rank})
            for k, value in enumerate(folds):
                child.log_metric(f"cv_{result.scoring}_fold", value, step=k)
        trial.run_id = child.id
        result.trials.append(trial)
    best_index = int(searcher.best_index_)
    result.best = result.trials[best_index]
