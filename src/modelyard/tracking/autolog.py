"""``yard.autolog()``: every scikit-learn, XGBoost and LightGBM ``fit`` logs itself.

Inside an active run (or in a run started for the fit when there is none) a fit records

* its params (``get_params()``; ``best_*`` too for a hyperparameter search),
* training metrics: accuracy and weighted F1 on the training data for a classifier, R² and MSE
  for a regressor, the best cross-validation score of a search, and the per-iteration
  evaluation results of XGBoost and LightGBM (the iteration is the step),
* the model, as artifacts of the run under ``model/`` (its files and manifest, with the
  signature of ``X[:5]``) when ``log_models`` is true — MLflow's convention: nothing is
  registered unless asked. ``registered_model_name="name"`` also registers each logged model
  as the next version of ``name``; later, ``yard.models.register_from_run(run_id, "name")``
  registers one without uploading it again.

Only the outermost fit logs: the steps of a Pipeline or the inner fits of a GridSearchCV run as
usual. How: ``fit`` is wrapped on every class deriving from ``sklearn.base.BaseEstimator`` that
defines one (classes defined later, such as XGBoost's and LightGBM's scikit-learn models, are
wrapped as they are created), and ``xgboost.train``/``lightgbm.train`` are wrapped. A fit
outside autolog costs one context-variable read. :func:`disable` puts everything back.
Logging never breaks a fit: a failure to log is reported on the ``modelyard.tracking.autolog``
logger and the fit's result is returned as usual.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FunctionType, ModuleType
from typing import TYPE_CHECKING, Any

from .entities import Metric
from .runs import ActiveRun, active_run
from .store import MAX_KEY_LENGTH, MAX_PARAM_LENGTH

if TYPE_CHECKING:
    from ..yard import Yard

__all__ = ["MODEL_PATH", "disable", "enable", "is_enabled"]

log = logging.getLogger(__name__)

_MARK = "__modelyard_autolog__"
#: where a fit's model goes among its run's artifacts (MLflow's ``artifact_path``)
MODEL_PATH = "model"


@dataclass
class _State:
    yard: Yard | None = None
    log_models: bool = True
    registered_model_name: str | None = None
    experiment: str = "default"
    enabled: bool = False
    # (owner, attribute, original value or _MISSING) in patch order, for disable()
    patches: list[tuple[Any, str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    outer_fits: int = 0  # autologged fits in progress in this process, all threads


_MISSING = object()
_STATE = _State()
_IN_FIT: ContextVar[bool] = ContextVar("modelyard_autolog_in_fit", default=False)


def enable(yard: Yard, *, log_models: bool = True, registered_model_name: str | None = None,
           experiment: str = "default") -> None:
    """Log every fit from now on to ``yard`` (see the module docstring). ``log_models``: log
    the model as artifacts of the run; ``registered_model_name``: also register it as a new
    version of that model; ``experiment``: where a fit outside any run starts its own run.
    Calling it again changes the yard and options."""
    if registered_model_name is not None:
        from ..registry.refs import check_model_name

        check_model_name(registered_model_name)
        if not log_models:
            from ..errors import InvalidParameter

            raise InvalidParameter(
                "registered_model_name registers the logged model, so it needs "
                f"log_models=True. Got log_models=False and registered_model_name="
                f"{registered_model_name!r}.", field="registered_model_name")
    with _STATE.lock:
        _STATE.yard, _STATE.log_models, _STATE.experiment = yard, log_models, experiment
        _STATE.registered_model_name = registered_model_name
        if _STATE.enabled:
            return
        from sklearn.base import BaseEstimator

        _hook_new_subclasses(BaseEstimator)
        for cls in _subclasses(BaseEstimator):
            _patch_class(cls)
        for name in ("xgboost", "lightgbm"):
            if name in sys.modules:
                _patch_train(name)
        _STATE.enabled = True


def disable() -> None:
    """Stop logging fits and restore every patched method and function."""
    with _STATE.lock:
        for owner, attr, original in reversed(_STATE.patches):
            if original is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
        _STATE.patches.clear()
        _STATE.enabled = False
        _STATE.yard = None


def is_enabled() -> bool:
    return _STATE.enabled


# ---- patching ------------------------------------------------------------------------------
def _set(owner: Any, attr: str, value: Any) -> None:
    _STATE.patches.append((owner, attr, owner.__dict__.get(attr, _MISSING)))
    setattr(owner, attr, value)


def _subclasses(cls: type) -> Iterator[type]:
    seen: set[type] = set()
    stack = list(cls.__subclasses__())
    while stack:
        sub = stack.pop()
        if sub not in seen:
            seen.add(sub)
            yield sub
            stack.extend(sub.__subclasses__())


def _hook_new_subclasses(base: type) -> None:
    original = base.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if original is not None:
            original.__func__(cls, **kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
        if _STATE.enabled:
            _patch_class(cls)
            module = cls.__module__.partition(".")[0]
            if module in ("xgboost", "lightgbm"):  # their train() exists by now
                _patch_train(module)

    _set(base, "__init_subclass__", classmethod(__init_subclass__))


def _patch_class(cls: type) -> None:
    fit = cls.__dict__.get("fit")
    if isinstance(fit, FunctionType) and not getattr(fit, _MARK, False):
        _set(cls, "fit", _wrap_fit(fit))


def _wrap_fit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _STATE.enabled or _IN_FIT.get() or _nested_elsewhere():
            return original(self, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        return _autologged(
            lambda: original(self, *args, **kwargs),
            lambda run, result: _log_estimator(run, self, X, y),
        )

    setattr(fit, _MARK, True)
    return fit


def _patch_train(library: str) -> None:
    """Wrap ``xgboost.train`` or ``lightgbm.train`` (package and defining module), once."""
    package = sys.modules.get(library)
    defining = sys.modules.get("xgboost.training" if library == "xgboost" else "lightgbm.engine")
    if package is None or defining is None:
        return
    original = defining.__dict__.get("train")
    if original is None or getattr(original, _MARK, False):
        return
    wrapped = _wrap_train(original, library)
    _set(defining, "train", wrapped)
    if getattr(package, "train", None) is original:
        _set(package, "train", wrapped)


def _wrap_train(original: Callable[..., Any], library: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def train(params: dict[str, Any], data: Any, *args: Any, **kwargs: Any) -> Any:
        if not _STATE.enabled or _IN_FIT.get() or _nested_elsewhere():
            return original(params, data, *args, **kwargs)
        history: dict[str, dict[str, list[float]]]
        if library == "xgboost":
            history = kwargs.get("evals_result")
            if history is None:
                history = kwargs["evals_result"] = {}
            rounds = args[0] if args else kwargs.get("num_boost_round", 10)
        else:
            import lightgbm

            history = {}
            callbacks = list(kwargs.get("callbacks") or [])
            kwargs["callbacks"] = [*callbacks, lightgbm.record_evaluation(history)]
            rounds = args[0] if args else kwargs.get("num_boost_round", 100)

        def log_booster(run: ActiveRun, booster: Any) -> None:
            _log_params(run, {**(params or {}), "num_boost_round": rounds})
            _log_history(run, history)
            _log_model(run, booster, None)

        return _autologged(lambda: original(params, data, *args, **kwargs), log_booster)

    setattr(train, _MARK, True)
    return train


def _nested_elsewhere() -> bool:
    """A fit in a worker thread of an autologged fit (joblib's threading backend, say): the
    thread has no run of its own while another thread is inside an autologged fit."""
    return _STATE.outer_fits > 0 and active_run() is None


# ---- one logged fit ------------------------------------------------------------------------
def _autologged(call: Callable[[], Any], log_result: Callable[[ActiveRun, Any], None]) -> Any:
    token = _IN_FIT.set(True)
    with _STATE.lock:
        _STATE.outer_fits += 1
    try:
        run = active_run()
        own: ActiveRun | None = None
        if run is None:
            yard = _STATE.yard
            if yard is None:
                return call()
            own = run = yard.start_run(experiment=_STATE.experiment)
        try:
            result = call()
        except BaseException as exc:
            if own is not None:
                own.__exit__(type(exc), exc, exc.__traceback__)
            raise
        try:
            log_result(run, result)
        except Exception:  # logging must never break the user's fit
            log.warning("autolog could not log a fit to run %s", run.id, exc_info=True)
        if own is not None:
            own.end()
        return result
    finally:
        with _STATE.lock:
            _STATE.outer_fits -= 1
        _IN_FIT.reset(token)


def _log_estimator(run: ActiveRun, model: Any, X: Any, y: Any) -> None:
    params = dict(model.get_params(deep=True))
    best = getattr(model, "best_params_", None)
    if isinstance(best, dict):
        params.update({f"best_{k}": v for k, v in best.items()})
    _log_params(run, params)
    metrics = _training_metrics(model, X, y)
    best_score = getattr(model, "best_score_", None)
    if isinstance(best_score, (int, float)):
        metrics["best_cv_score"] = float(best_score)
    if metrics:
        run.log_metrics(metrics)
    _log_history(run, _evals_result(model))
    _log_model(run, model, X)


def _log_params(run: ActiveRun, params: dict[str, Any]) -> None:
    """Log the params the run does not have yet; a different value already set is kept (a
    second fit in one run must not fail because params cannot change)."""
    existing = run.info.params
    new: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            continue
        text = value if isinstance(value, str) else repr(value) if callable(value) else str(value)
        if len(text) > MAX_PARAM_LENGTH:
            text = text[: MAX_PARAM_LENGTH - 1] + "…"
        if key not in existing:
            new[key] = text
        elif existing[key] != text:
            log.info("autolog keeps param %r of run %s as %r (this fit has %r)",
                     key, run.id, existing[key], text)
    if new:
        run.log_params(new)


def _training_metrics(model: Any, X: Any, y: Any) -> dict[str, float]:
    if X is None or y is None:
        return {}
    from sklearn.base import is_classifier, is_regressor

    if not (is_classifier(model) or is_regressor(model)) or not hasattr(model, "predict"):
        return {}
    from sklearn import metrics as skm

    try:
        predicted = model.predict(X)
        if is_classifier(model):
            return {
                "training_accuracy": float(skm.accuracy_score(y, predicted)),
                "training_f1": float(skm.f1_score(y, predicted, average="weighted")),
            }
        return {
            "training_r2": float(skm.r2_score(y, predicted)),
            "training_mse": float(skm.mean_squared_error(y, predicted)),
        }
    except (ValueError, TypeError, AttributeError):  # multi-output, odd targets …
        log.info("autolog skipped training metrics of %s", type(model).__name__, exc_info=True)
        return {}


def _evals_result(model: Any) -> dict[str, dict[str, list[float]]]:
    """Per-iteration evaluation results of an XGBoost or LightGBM scikit-learn model."""
    module = type(model).__module__.partition(".")[0]
    if module == "xgboost":
        from xgboost.core import XGBoostError

        try:
            return model.evals_result()  # type: ignore[no-any-return]
        except XGBoostError:  # no eval_set was given
            return {}
    if module == "lightgbm":
        return getattr(model, "evals_result_", None) or {}
    return {}


def _log_history(run: ActiveRun, history: dict[str, dict[str, list[float]]]) -> None:
    batch = [
        Metric(key=f"{dataset}-{name}", value=float(value), step=step)
        for dataset, by_metric in history.items()
        for name, values in by_metric.items()
        for step, value in enumerate(values)
    ]
    if batch:
        run.log_batch(batch)


def _log_model(run: ActiveRun, model: Any, X: Any) -> None:
    """The model as artifacts of ``run`` under ``model/``; registered only when asked."""
    if not _STATE.log_models:
        return
    models = run.yard.models
    models.log_to_run(run.id, model, path=MODEL_PATH, example=_head(X, 5))
    if _STATE.registered_model_name is not None:
        models.register_from_run(run.id, _STATE.registered_model_name, path=MODEL_PATH)


def _head(X: Any, n: int) -> Any:
    if X is None:
        return None
    if hasattr(X, "iloc"):
        return X.iloc[:n]
    if hasattr(X, "head") and not isinstance(X, ModuleType):
        return X.head(n)
    try:
        return X[:n]
    except (TypeError, KeyError, IndexError):
        return None
