"""Replaying retraining policies over history.

Steps ``t_0 = start, t_0 + every, …`` up to ``end``. Every policy starts with the model
trained as of ``t_0``; at each later step ``t_i`` it decides, with what was known then,
whether to retrain as of ``t_i`` (the training's data windows end at ``t_i``, read with dataset
time travel ``as_of=t_i``), then the model in use is evaluated on the window
``[t_i, t_i+1)`` against its realised labels. A retrain at a step with the same data, entry
point and params is one training shared by every policy that asks for it (keyed by the
digests of the data versions, their windows, the entry point and the params).

Decisions: ``every`` and ``cron`` from the calendar, ``data`` from row counts, ``drift`` from
the evaluation of the model in use on the last window (drift of its features against the
model's training data), ``performance`` from its realised metric on the latest window whose
labels are known by then. A policy whose decisions need no evaluation (never, every, cron,
data) knows every training it will do, so all of them, then all its evaluations, run at
once on the executor. A policy with drift or performance triggers advances in waves: the
model in use is evaluated on the next ``lookahead`` windows in parallel, the first step
whose trigger fires retrains (in parallel with the other policies' work), and the next wave
starts there; evaluations are shared between policies too.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow.compute as pc

from ...clock import parse_time, to_utc
from ...errors import InvalidParameter, NotFound
from ...monitoring.windows import format_duration, parse_duration
from ..distributed import FrozenView, freeze
from ..entities import CronTrigger, EveryTrigger
from ..executors import Executor, open_executor
from ..retrain import _model_version, _training_spec, code_root, load_entry_point
from ..triggers import previous_cron
from .policies import (
    HIGHER_IS_BETTER,
    BacktestPolicy,
    DataVolumeTrigger,
    DriftTrigger,
    PerformanceTrigger,
    load_policies,
)
from .results import BacktestResult, PolicySummary, StepRecord
from .tasks import Evaluation, TrainedModel, TrainSpec, evaluate, train

__all__ = ["TrainingPlan", "backtest"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class TrainingPlan:
    """What is trained at each step: the entry point, params and, per role, the dataset and
    how much history (``last``: a duration; None: everything known)."""

    def __init__(self, entry_point: str, params: Mapping[str, Any],
                 data: Mapping[str, tuple[str, timedelta | None]],
                 code_path: str | None = None) -> None:
        if not data:
            raise InvalidParameter("a backtest needs training data: role -> dataset.",
                                   field="data")
        self.entry_point = entry_point
        self.params = dict(params)
        self.data = dict(data)
        self.code_path = code_path

    @property
    def reference_role(self) -> str:
        """The input whose rows are the drift reference: ``train``, else the first role."""
        return "train" if "train" in self.data else min(self.data)

    @classmethod
    def from_model(cls, yard: Any, ref: str) -> TrainingPlan:
        """The training recorded for model version ``ref`` (``run_training``): the same entry
        point, params and history length per input."""
        version = _model_version(yard, ref)
        spec = _training_spec(yard, version)
        data: dict[str, tuple[str, timedelta | None]] = {}
        for role, item in spec["inputs"].items():
            last = None
            if item.get("window_start") and item.get("window_end"):
                last = parse_time(item["window_end"]) - parse_time(item["window_start"])
            data[role] = (item["dataset"], last)
        return cls(spec["entry_point"], spec.get("params") or {}, data, spec.get("code_path"))


def _parse_data(data: Mapping[str, Any]) -> dict[str, tuple[str, timedelta | None]]:
    out: dict[str, tuple[str, timedelta | None]] = {}
    for role, item in data.items():
        if isinstance(item, str):
            out[role] = (item, None)
        elif isinstance(item, Mapping) and isinstance(item.get("dataset"), str):
            last = item.get("last")
            out[role] = (item["dataset"], parse_duration(last, field=f"data.{role}.last")
                         if last is not None else None)
        else:
            raise InvalidParameter(f"data[{role!r}] must be a dataset name or {{dataset, last}}. "
                                   f"Got {item!r} instead.", field=f"data.{role}")
    return out


class _Context:
    """Shared state of one backtest: the step grid, windows, caches of trainings and
    evaluations, and the executor they run on."""

    def __init__(self, yard: Any, plan: TrainingPlan, dataset: str, label: str,
                 bounds: list[datetime], knowledge: str, executor: Executor) -> None:
        self.yard = yard
        self.plan = plan
        self.dataset = dataset
        self.label = label
        self.bounds = bounds
        self.n = len(bounds) - 1
        self.knowledge = knowledge
        self.executor = executor
        self.every = format_duration(bounds[1] - bounds[0]) if len(bounds) > 1 else ""
        self.latest = yard.datasets.get(dataset)
        self.time_column = self.latest.time_column
        self.keys: dict[int, str] = {}
        self.specs: dict[int, TrainSpec] = {}
        self.models: dict[str, TrainedModel] = {}
        self.evals: dict[tuple[str, int], Evaluation] = {}
        self.windows: dict[int, FrozenView] = {}
        self.counts = np.zeros(self.n, dtype=np.int64)
        self.labelled = np.zeros(self.n, dtype=np.int64)
        self.trainings_run = 0
        self.evaluations_run = 0

    # ---- the data ------------------------------------------------------------------------
    def scan(self) -> tuple[datetime | None, datetime | None]:
        """Rows and labelled rows per window (one pass over the time and label columns of the
        latest version), and the first and last event time."""
        table = self.latest.view().to_arrow(columns=[self.time_column, self.label])
        times = table.column(self.time_column).cast("int64").to_numpy(zero_copy_only=False)
        has_label = pc.is_valid(table.column(self.label)).to_numpy(zero_copy_only=False)
        if len(times) == 0:
            return None, None
        edges = np.array([int(b.timestamp() * 1_000_000) for b in self.bounds], dtype=np.int64)
        which = np.searchsorted(edges, times, side="right") - 1
        inside = (which >= 0) & (which < self.n)
        self.counts = np.bincount(which[inside], minlength=self.n)[: self.n]
        self.labelled = np.bincount(which[inside], weights=has_label[inside].astype(np.int64),
                                    minlength=self.n)[: self.n].astype(np.int64)
        lo, hi = int(times.min()), int(times.max())
        return (datetime.fromtimestamp(lo / 1e6, tz=self.bounds[0].tzinfo),
                datetime.fromtimestamp(hi / 1e6, tz=self.bounds[0].tzinfo))

    def window(self, k: int) -> FrozenView:
        view = self.windows.get(k)
        if view is None:
            view = self.windows[k] = freeze(
                self.latest.window(self.bounds[k], self.bounds[k + 1]))
        return view

    def training_views(self, step: int) -> dict[str, Any]:
        at = self.bounds[step]
        views: dict[str, Any] = {}
        for role, (name, last) in self.plan.data.items():
            try:
                if self.knowledge == "event":
                    base = self.yard.datasets.get(name)
                    view = base.window(at - last, at) if last is not None else base.view()
                elif last is not None:
                    view = self.yard.datasets.window(name, at - last, at, as_of=at)
                else:
                    view = self.yard.datasets.as_of(name, at)
            except NotFound as exc:
                raise NotFound(
                    f"cannot train as of {at.isoformat()} (step {step}): {exc.message} Backfill "
                    "the versions with ingested_at=, or pass knowledge='event' to take every "
                    "row as known at its event time.", field="start") from exc
            views[role] = view
        return views

    def key(self, step: int) -> str:
        """The identity of the training at ``step`` (entry point, params, data digests and
        windows): equal keys are one training."""
        key = self.keys.get(step)
        if key is None:
            views = self.training_views(step)
            body = {"entry_point": self.plan.entry_point, "params": self.plan.params,
                    "data": {role: [v.name, v.version, v.digest,
                                    _iso(getattr(v, "window_start", None)),
                                    _iso(getattr(v, "window_end", None))]
                             for role, v in sorted(views.items())}}
            key = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()
                                 ).hexdigest()
            self.keys[step] = key
            if key not in {s.key for s in self.specs.values()}:
                self.specs[step] = TrainSpec(
                    key=key, step=step, entry_point=self.plan.entry_point,
                    code_path=self.plan.code_path, params=self.plan.params,
                    data={r: freeze(v) for r, v in views.items()},
                    reference_role=self.plan.reference_role,
                    exclude=tuple(c for c in (self.label, self.time_column) if c))
        return key

    def model(self, step: int) -> TrainedModel | None:
        return self.models.get(self.key(step))

    def evaluation(self, step: int, k: int) -> Evaluation | None:
        return self.evals.get((self.key(step), k))

    # ---- running work ----------------------------------------------------------------------
    def train(self, steps: set[int]) -> None:
        specs = {}
        for step in sorted(steps):
            key = self.key(step)
            if key not in self.models and key not in specs:
                specs[key] = next(s for s in self.specs.values() if s.key == key)
        if specs:
            for model in self.executor.map(train, [(s,) for s in specs.values()]):
                self.models[model.key] = model
            self.trainings_run += len(specs)

    def evaluate(self, pairs: set[tuple[int, int]]) -> None:
        todo: dict[tuple[str, int], tuple[TrainedModel, int]] = {}
        for step, k in sorted(pairs):
            model = self.model(step)
            if model is None or (model.key, k) in self.evals:
                continue
            todo[(model.key, k)] = (model, k)
        if not todo:
            return
        handles = {key: self.executor.share(self.models[key])
                   for key in {key for key, _ in todo}}
        items = [(handles[model.key], self.window(k), k, self.label)
                 for model, k in todo.values()]
        for result in self.executor.map(evaluate, items):
            self.evals[(result.key, result.window)] = result
        self.evaluations_run += len(todo)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


class _Policy:
    """One policy's walk through the steps (see the module docstring)."""

    def __init__(self, policy: BacktestPolicy, ctx: _Context, metric: Callable[[], str],
                 lookahead: int) -> None:
        self.policy = policy
        self.ctx = ctx
        self.metric = metric
        self.lookahead = lookahead
        self.cursor = 0
        self.model_step = 0
        self.last_train = 0
        self.pending: tuple[bool, str | None] | None = None
        self.records: list[StepRecord] = []
        self.used_evals: set[tuple[int, int]] = set()

    @property
    def done(self) -> bool:
        return self.cursor >= self.ctx.n

    # ---- decisions -------------------------------------------------------------------------
    def _schedule(self, i: int, last_train: int) -> list[str]:
        ctx = self.ctx
        reasons = []
        for trig in self.policy.triggers:
            if isinstance(trig, EveryTrigger):
                every = parse_duration(trig.every, field="every")
                if ctx.bounds[i] - ctx.bounds[last_train] >= every:
                    reasons.append(f"every {trig.every}")
            elif isinstance(trig, CronTrigger):
                due = previous_cron(trig, ctx.bounds[i])
                if due is not None and due > ctx.bounds[i - 1]:
                    reasons.append(f"cron {trig.cron} ({due:%Y-%m-%d %H:%M})")
            elif isinstance(trig, DataVolumeTrigger):
                rows = int(ctx.counts[last_train:i].sum())
                if rows >= trig.min_new_rows:
                    reasons.append(f"{rows:,} new rows >= {trig.min_new_rows:,}")
        return reasons

    def _performance_window(self, trig: PerformanceTrigger, i: int) -> int | None:
        """The latest window whose labels are known at step ``i`` and that the model in use
        predicted (after its training), if any."""
        delay = parse_duration(trig.delay, field="delay")
        k = i - 1
        while k >= self.model_step and self.ctx.bounds[k + 1] + delay > self.ctx.bounds[i]:
            k -= 1
        return k if k >= self.model_step else None

    def _needed(self, i: int, model_step: int) -> set[tuple[int, int]]:
        """Evaluations the decision at step ``i`` reads, with the model of ``model_step``."""
        out: set[tuple[int, int]] = set()
        for trig in self.policy.triggers:
            if isinstance(trig, DriftTrigger):
                out.add((model_step, i - 1))
            elif isinstance(trig, PerformanceTrigger):
                k = self._performance_window(trig, i)
                if k is not None:
                    out.add((model_step, k))
        return out

    def decide(self, i: int) -> tuple[bool, str | None] | None:
        """Retrain at step ``i``, and why; None when an evaluation it reads is missing."""
        ctx = self.ctx
        reasons = self._schedule(i, self.last_train)
        for trig in self.policy.triggers:
            if isinstance(trig, DriftTrigger):
                e = ctx.evaluation(self.model_step, i - 1)
                if e is None:
                    return None
                self.used_evals.add((self.model_step, i - 1))
                value = _drift_value(e, trig, self.policy.name)
                if value is not None and value >= trig.threshold:
                    what = trig.metric if trig.feature is None else f"{trig.metric}({trig.feature})"
                    reasons.append(f"{what} {value:.3g} >= {trig.threshold:g}")
            elif isinstance(trig, PerformanceTrigger):
                k = self._performance_window(trig, i)
                if k is None:
                    continue
                e = ctx.evaluation(self.model_step, k)
                if e is None:
                    return None
                self.used_evals.add((self.model_step, k))
                value = e.metrics.get(trig.metric)
                if value is None:
                    raise InvalidParameter(
                        f"policy {self.policy.name!r} triggers on realised {trig.metric}, which "
                        f"the evaluation of a {e.task} model cannot compute (it has "
                        f"{sorted(e.metrics) or 'no metric: no labels'}).", field="policy")
                if _OPS[trig.op](value, trig.threshold):
                    reasons.append(f"{trig.metric} {value:.4g} {trig.op} {trig.threshold:g} "
                                   f"on [{ctx.bounds[k]:%Y-%m-%d}, {ctx.bounds[k + 1]:%Y-%m-%d})")
        return (bool(reasons), "; ".join(reasons) or None)

    # ---- what to run -------------------------------------------------------------------------
    def _current(self) -> int:
        if self.pending is not None and self.pending[0]:
            return self.cursor
        return self.model_step

    def needs(self) -> tuple[set[int], set[tuple[int, int]]]:
        """Trainings (steps) and evaluations ((model step, window)) to run before the next
        :meth:`advance` can move."""
        if self.done:
            return set(), set()
        if not self.policy.reactive:
            models: dict[int, int] = {}
            last, current = self.last_train, self.model_step
            for i in range(self.cursor, self.ctx.n):
                if i == self.cursor and self.pending is not None:
                    if self.pending[0]:
                        current = last = i
                elif i > 0 and self._schedule(i, last):
                    current = last = i
                models[i] = current
            return set(models.values()), {(m, i) for i, m in models.items()}
        current = self._current()
        if self.ctx.model(current) is None:
            return {current}, set()
        stop = min(self.ctx.n, self.cursor + self.lookahead)
        evals = {(current, k) for k in range(max(current, self.cursor - 1), stop)}
        for i in range(self.cursor + 1, stop + 1):
            if i < self.ctx.n:
                evals |= self._needed(i, current)
        if self.pending is None and self.cursor > 0:
            evals |= self._needed(self.cursor, current)
        return set(), evals

    def advance(self, progress: Callable[[int], None] | None) -> bool:
        """Record every step whose decision and evaluation are known; whether it moved."""
        ctx = self.ctx
        moved = False
        while not self.done:
            i = self.cursor
            if self.pending is None:
                decision = (False, "first model") if i == 0 else self.decide(i)
                if decision is None:
                    break
                self.pending = decision
            retrain, reason = self.pending
            model_step = i if retrain else self.model_step
            model = ctx.model(model_step)
            e = ctx.evaluation(model_step, i) if model is not None else None
            if e is None:
                break
            self.used_evals.add((model_step, i))
            if retrain:
                self.model_step = self.last_train = i
            self.records.append(StepRecord(
                policy=self.policy.name, step=i, start=ctx.bounds[i], end=ctx.bounds[i + 1],
                model_step=self.model_step, model_trained_at=ctx.bounds[self.model_step],
                retrained=retrain, reason=reason, metric=e.metrics.get(self.metric()),
                metrics=e.metrics, rows=e.n_rows, labelled=e.n_labelled,
                drift_share=e.drift_share,
                train_seconds=model.seconds if retrain or i == 0 else None,
                train_rows=model.rows if retrain or i == 0 else None))
            self.pending = None
            self.cursor += 1
            moved = True
            if progress is not None:
                progress(1)
        return moved


def _drift_value(e: Evaluation, trig: DriftTrigger, policy: str) -> float | None:
    if trig.feature is None and trig.metric == "drift_share":
        return e.drift_share
    if trig.feature is None:
        raise InvalidParameter(f"policy {policy!r}: a drift trigger on {trig.metric!r} names "
                               "the feature it watches (feature: …).", field="policy")
    stats = e.features.get(trig.feature)
    if stats is None:
        raise InvalidParameter(f"policy {policy!r} watches drift of feature {trig.feature!r}, "
                               f"which the model does not use; it uses {sorted(e.features)}.",
                               field="policy")
    value = stats.get(trig.metric)
    if value is None:
        raise InvalidParameter(f"policy {policy!r} watches {trig.metric!r} of {trig.feature!r}; "
                               f"the statistics computed are {sorted(k for k in stats if k not in ('test', 'drifted'))}.",
                               field="policy")
    return float(value)


def _steps(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    if every.total_seconds() <= 0:
        raise InvalidParameter("every must be a positive duration such as '1w'.", field="every")
    if end <= start:
        raise InvalidParameter(f"the backtest must end after it starts. Got from "
                               f"{start.isoformat()} to {end.isoformat()}.", field="end")
    bounds = [start]
    while bounds[-1] < end:
        bounds.append(min(bounds[-1] + every, end))
    if len(bounds) > 10_001:
        raise InvalidParameter(f"at most 10,000 steps: from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
                               f"every {format_duration(every)} is {len(bounds) - 1}.",
                               field="every")
    return bounds


def _check_range(ctx: _Context, first: datetime | None, last: datetime | None,
                 every: timedelta) -> None:
    start, end = ctx.bounds[0], ctx.bounds[-1]
    name = ctx.dataset
    if first is None or last is None:
        raise InvalidParameter(f"dataset {name!r} has no rows.", field="dataset")
    span = f"its events run from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
    if start <= first:
        raise InvalidParameter(f"the backtest starts at {start:%Y-%m-%d}, but the first model "
                               f"needs history before it: dataset {name!r} {span}.",
                               field="start")
    if start > last or end > last + every:
        raise InvalidParameter(f"the range {start:%Y-%m-%d} to {end:%Y-%m-%d} is outside the "
                               f"data: dataset {name!r} {span}.", field="end")
    for k in range(ctx.n):
        window = f"[{ctx.bounds[k]:%Y-%m-%d %H:%M}, {ctx.bounds[k + 1]:%Y-%m-%d %H:%M})"
        if ctx.counts[k] == 0:
            raise InvalidParameter(f"window {window} of dataset {name!r} is empty: every step "
                                   f"needs rows to evaluate on ({span}); choose a longer "
                                   "every or another range.", field="every")
        if ctx.labelled[k] == 0:
            raise InvalidParameter(
                f"window {window} has {int(ctx.counts[k]):,} rows but no labels in column "
                f"{ctx.label!r}: the evaluation (and any performance trigger) needs realised "
                "labels; end the backtest before it.", field="label")


def _default_label(yard: Any, model: str | None) -> str | None:
    if model is None:
        return None
    try:
        _, loaded = yard.validation.load_suite(model.partition("@")[0].partition("/")[0])
    except (NotFound, InvalidParameter):
        return None
    label = getattr(getattr(loaded, "spec", None), "label", None)
    return label if isinstance(label, str) else None


def backtest(
    yard: Any,
    model: str | None = None,
    *,
    start: str | datetime,
    end: str | datetime,
    every: str | timedelta = "1w",
    policies: Sequence[Any],
    label: str | None = None,
    metric: str | None = None,
    entry_point: str | None = None,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    train_window: str | timedelta | None = None,
    dataset: str | None = None,
    knowledge: str = "as_of",
    executor: str | Executor | None = None,
    lookahead: int | None = None,
    save: bool = True,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Replay ``policies`` from ``start`` to ``end`` every ``every`` (module docstring).

    ``model``: a model version whose recorded training (``run_training``) says what to train
    (entry point, params, datasets, history length); or give ``entry_point`` and ``data``
    (role -> dataset name or ``{dataset, last}``). ``params`` and ``train_window`` (history
    length for every role) override. ``dataset``: what to evaluate on (default: the training
    dataset); ``label``: its column of realised labels (default: the model's suite's);
    ``metric``: what to compare (default accuracy, or rmse for a regressor). ``knowledge``:
    ``"as_of"`` trains on what was known at each step (dataset time travel), ``"event"`` on
    every row with an earlier event time. ``policies``: YAML paths, short forms
    (``"every:4w"``), mappings or :class:`BacktestPolicy`. ``save``: store the result as a
    run (experiment ``backtests``) with the report as an artifact.
    """
    started = time.perf_counter()
    chosen = load_policies(list(policies))
    if knowledge not in ("as_of", "event"):
        raise InvalidParameter(f"knowledge must be 'as_of' or 'event'. Got {knowledge!r} "
                               "instead.", field="knowledge")
    if metric is not None and metric not in HIGHER_IS_BETTER:
        raise InvalidParameter(f"metric must be one of {list(HIGHER_IS_BETTER)}. Got "
                               f"{metric!r} instead.", field="metric")
    if model is not None:
        plan = TrainingPlan.from_model(yard, model)
    elif entry_point is not None and data is not None:
        plan = TrainingPlan(entry_point, params or {}, _parse_data(data))
    else:
        raise InvalidParameter("a backtest needs a model (whose training was recorded) or "
                               "entry_point and data.", field="model")
    if entry_point is not None:
        plan.entry_point = entry_point
        plan.code_path = None
    load_entry_point(plan.entry_point, plan.code_path)  # imports here, or says why not
    plan.code_path = plan.code_path or code_root(plan.entry_point)
    if params is not None:
        plan.params = dict(params)
    if data is not None and model is not None:
        plan.data = _parse_data(data)
    if train_window is not None:
        last = parse_duration(train_window, field="train_window")
        plan.data = {role: (name, last) for role, (name, _) in plan.data.items()}
    lo, hi = parse_time(start, field="start"), parse_time(end, field="end")
    step = parse_duration(every, field="every")
    bounds = _steps(to_utc(lo), to_utc(hi), step)
    eval_name = dataset or plan.data[plan.reference_role][0]
    label = label or _default_label(yard, model)
    if label is None:
        raise InvalidParameter("a backtest evaluates each window on realised labels: give "
                               "label= (the column holding them).", field="label")
    latest = yard.datasets.get(eval_name)
    if latest.time_column is None:
        raise InvalidParameter(f"dataset {eval_name!r} has no time_column, so it cannot be "
                               "cut into windows.", field="dataset")
    if label not in latest.columns:
        needing = [p.name for p in chosen if any(isinstance(t, PerformanceTrigger)
                                                 for t in p.triggers)]
        raise InvalidParameter(
            f"dataset {eval_name!r} has no column {label!r} of realised labels, so there is "
            "no metric to evaluate" + (f" and policies {needing} cannot trigger on "
                                       "performance" if needing else "")
            + f"; its columns are {latest.columns}.", field="label")
    ex = open_executor(executor)
    try:
        ctx = _Context(yard, plan, eval_name, label, bounds, knowledge, ex)
        ctx.every = format_duration(step)
        first, last_event = ctx.scan()
        _check_range(ctx, first, last_event, step)
        role = plan.reference_role
        if not ctx.training_views(0)[role].count():
            raise InvalidParameter(f"the first model, as of {bounds[0]:%Y-%m-%d}, has no rows "
                                   f"to train on in {plan.data[role][0]!r}.", field="start")
        if hasattr(progress, "set_total"):
            progress.set_total(ctx.n * len(chosen))
        result = _run(ctx, chosen, metric, lookahead or max(8, 2 * ex.workers), progress)
        result.executor = ex.describe()
    finally:
        if ex is not executor:
            ex.close()
    result.model = model or plan.entry_point
    result.wall_seconds = time.perf_counter() - started
    if save:
        from .store import save_result

        result.run_id = save_result(yard, result)
    return result


def _run(ctx: _Context, policies: list[BacktestPolicy], metric: str | None, lookahead: int,
         progress: Callable[[int], None] | None) -> BacktestResult:
    chosen_metric: list[str] = [metric] if metric else []

    def current_metric() -> str:
        return chosen_metric[0]

    sims = [_Policy(p, ctx, current_metric, lookahead) for p in policies]
    ctx.train({0})
    ctx.evaluate({(0, 0)})
    first = ctx.evaluation(0, 0)
    assert first is not None
    if not chosen_metric:
        chosen_metric.append("rmse" if first.task == "regression" else "accuracy")
    if chosen_metric[0] not in first.metrics:
        raise InvalidParameter(
            f"metric {chosen_metric[0]!r} cannot be computed for this {first.task} model; "
            f"the evaluation computes {sorted(first.metrics)}.", field="metric")
    for p in policies:
        for trig in p.triggers:
            if isinstance(trig, PerformanceTrigger) and trig.metric not in first.metrics:
                raise InvalidParameter(
                    f"policy {p.name!r} triggers on realised {trig.metric}, which the "
                    f"evaluation of this {first.task} model cannot compute; it computes "
                    f"{sorted(first.metrics)}.", field="policy")
    while not all(s.done for s in sims):
        active = [s for s in sims if not s.done]
        trainings = set().union(*(s.needs()[0] for s in active))
        ctx.train(trainings)
        evals = set().union(*(s.needs()[1] for s in active))
        ctx.evaluate(evals)
        moved = [s.advance(progress) for s in active]
        if not any(moved) and not trainings and not evals:
            raise RuntimeError("the backtest made no progress: a decision waits for work "
                               "nothing asked for")
    return _result(ctx, sims, chosen_metric[0])


def _result(ctx: _Context, sims: list[_Policy], metric: str) -> BacktestResult:
    higher = HIGHER_IS_BETTER[metric]
    users: dict[str, set[str]] = {}
    for s in sims:
        for key in {ctx.key(r.model_step) for r in s.records}:
            users.setdefault(key, set()).add(s.policy.name)
    summaries, requested, requested_seconds = [], 0, 0.0
    for s in sims:
        keys = {ctx.key(r.model_step) for r in s.records}
        trained = [ctx.models[k] for k in keys]
        values = [r.metric for r in s.records if r.metric is not None and not math.isnan(r.metric)]
        worst_record = (min if higher else max)(
            (r for r in s.records if r.metric is not None), key=lambda r: r.metric or 0.0,
            default=None)
        eval_keys = {(ctx.key(m), k) for m, k in s.used_evals}
        train_s = sum(m.seconds for m in trained)
        requested += len(trained)
        requested_seconds += train_s
        summaries.append(PolicySummary(
            policy=s.policy.name, mean=float(np.mean(values)) if values else None,
            worst=worst_record.metric if worst_record else None,
            worst_start=worst_record.start if worst_record else None,
            retrains=sum(r.retrained for r in s.records), trainings=len(trained),
            shared_trainings=sum(len(users[k]) > 1 for k in keys), train_seconds=train_s,
            eval_seconds=sum(ctx.evals[k].seconds for k in eval_keys if k in ctx.evals)))
    train_total = sum(m.seconds for m in ctx.models.values())
    return BacktestResult(
        model="", entry_point=ctx.plan.entry_point, dataset=ctx.dataset, label=ctx.label,
        metric=metric, higher_is_better=higher, start=ctx.bounds[0], end=ctx.bounds[-1],
        every=ctx.every, knowledge=ctx.knowledge,
        executor="", policies=[s.policy for s in sims],
        steps=[r for s in sims for r in s.records], summary=summaries,
        trainings_run=ctx.trainings_run, trainings_requested=requested,
        train_seconds=train_total, saved_seconds=max(0.0, requested_seconds - train_total),
        evaluations_run=ctx.evaluations_run,
        eval_seconds=sum(e.seconds for e in ctx.evals.values()), wall_seconds=0.0,
        created_at=ctx.yard.clock.now())
