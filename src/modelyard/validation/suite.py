"""Validation suites: what a model version must pass before a protected alias may point at it.

A suite is declared per registered model, in YAML::

    holdout: {dataset: loans, last: 30d}       # or {dataset: loans, version: 3}
    label: target                              #  or {dataset, start, end, as_of}
    checks:
      - {type: metric, metric: accuracy, min: 0.8}
      - {type: metric, metric: accuracy, min: 0.7, segment_by: grade, min_rows: 50}
      - {type: champion, metric: accuracy, max_regression: 0.01, confidence: 0.95, test: mcnemar}
      - {type: invariance, feature: zip_code, set: "00000"}
      - {type: directional, feature: income, delta: 10000, direction: up}
      - {type: latency, p95_ms: 5, batch: 1, repeats: 100}
      - {type: signature}
      - {type: data, columns: [income, age], max_null_rate: 0.01, ranges: {age: [18, 120]}}
      - {type: custom, function: "loans_checks:no_negative_amounts"}

or in Python, in an importable module (decorated functions are custom checks)::

    from modelyard.validation import Suite

    suite = Suite(holdout={"dataset": "loans", "last": "30d"}, label="target")
    suite.metric("accuracy", min=0.8).champion("accuracy", max_regression=0.01)

    @suite.check
    def no_negative_amounts(ctx):
        return ctx.result(bool((ctx.predict() >= 0).all()), message="amounts are >= 0")

Everything that can be checked when the suite is declared is (unknown keys and check types,
metric names, durations, a custom function that does not import): a bad suite is refused then,
not when a retrain is waiting on it. ``holdout.last`` is measured back from the time the suite
runs (the trigger time in a retrain job), so the champion and the challenger are compared on
the same fresh rows.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InvalidParameter
from ..monitoring.windows import parse_duration
from ..tracking.environment import import_entry_point, import_module, module_root
from .stats import check_metric

__all__ = [
    "ChampionCheck",
    "CheckOutcome",
    "CheckSpec",
    "CustomCheck",
    "DataCheck",
    "DirectionalCheck",
    "Holdout",
    "InvarianceCheck",
    "LatencyCheck",
    "LoadedSuite",
    "MetricCheck",
    "SignatureCheck",
    "Suite",
    "SuiteSpec",
    "check",
    "load_python_suite",
    "parse_suite",
    "resolve_custom",
    "suite_digest",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Holdout(_Strict):
    """The rows checks are scored on: a dataset version, an event-time window (``start``,
    ``end``, ``as_of``), or the ``last`` duration before the time the suite runs."""

    dataset: str
    version: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    as_of: datetime | None = None
    last: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Holdout:
        if self.last is not None:
            parse_duration(self.last, field="holdout.last")
            if self.start is not None or self.end is not None:
                raise ValueError("holdout takes either 'last' or 'start'/'end', not both.")
        if (self.start is None) != (self.end is None):
            raise ValueError("holdout needs both 'start' and 'end' for a window.")
        return self


class _Check(_Strict):
    name: str | None = None


class MetricCheck(_Check):
    """A metric on the holdout within ``min``/``max`` (overall, and per value of
    ``segment_by``: slices with fewer than ``min_rows`` rows are reported as
    ``insufficient_data``, never passed); ``max_drop`` / ``max_relative_drop``: how much
    worse than the champion's value it may be (direction-aware)."""

    type: Literal["metric"] = "metric"
    metric: str
    min: float | None = None
    max: float | None = None
    segment_by: str | None = None
    min_rows: int = Field(default=30, ge=1)
    max_drop: float | None = Field(default=None, ge=0)
    max_relative_drop: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> MetricCheck:
        check_metric(self.metric)
        if self.min is None and self.max is None and self.max_drop is None \
                and self.max_relative_drop is None:
            raise ValueError(f"the metric check on {self.metric!r} needs min, max, max_drop "
                             "or max_relative_drop.")
        return self


class ChampionCheck(_Check):
    """The challenger against the champion on the same holdout rows: passes when, with
    ``confidence``, it is not worse than the champion by more than ``max_regression``
    (``test``: ``bootstrap`` for any metric, ``mcnemar`` for accuracy)."""

    type: Literal["champion"] = "champion"
    metric: str = "accuracy"
    max_regression: float = Field(default=0.01, ge=0)
    confidence: float = Field(default=0.95, ge=0.5, lt=1)
    test: Literal["bootstrap", "mcnemar"] = "bootstrap"
    n_boot: int = Field(default=2000, ge=100, le=100_000)
    seed: int = 0

    @model_validator(mode="after")
    def _metric(self) -> ChampionCheck:
        check_metric(self.metric)
        if self.test == "mcnemar" and self.metric != "accuracy":
            raise ValueError(f"test 'mcnemar' compares accuracy only. Got metric "
                             f"{self.metric!r}; use test 'bootstrap'.")
        return self


class InvarianceCheck(_Check):
    """Changing ``feature`` (``set`` to a value, add ``delta``, or ``shuffle`` it across rows)
    must not change the output for more than ``max_changed_share`` of the rows."""

    type: Literal["invariance"] = "invariance"
    feature: str
    set: Any = None
    delta: float | None = None
    shuffle: bool = False
    output: Literal["predict", "proba"] = "predict"
    max_changed_share: float = Field(default=0.0, ge=0, le=1)
    atol: float = Field(default=1e-9, ge=0)
    seed: int = 0

    @model_validator(mode="after")
    def _one_change(self) -> InvarianceCheck:
        given = [self.set is not None, self.delta is not None, self.shuffle]
        if sum(given) != 1:
            raise ValueError(f"the invariance check on {self.feature!r} needs exactly one of "
                             "set, delta or shuffle.")
        return self


class DirectionalCheck(_Check):
    """Adding ``delta`` to ``feature`` must move the output ``direction`` (``up``/``down``):
    on average, and the wrong way for at most ``max_violation_share`` of the rows. The output
    is the last class's probability when the model has ``predict_proba``, else ``predict``."""

    type: Literal["directional"] = "directional"
    feature: str
    delta: float
    direction: Literal["up", "down"]
    output: Literal["auto", "predict", "proba"] = "auto"
    max_violation_share: float = Field(default=0.0, ge=0, le=1)
    atol: float = Field(default=1e-9, ge=0)


class LatencyCheck(_Check):
    """The p95 of the time per row, over ``repeats`` calls of ``batch`` rows each (after
    ``warmup`` calls), must be at most ``p95_ms`` milliseconds."""

    type: Literal["latency"] = "latency"
    p95_ms: float = Field(gt=0)
    batch: int = Field(default=1, ge=1)
    repeats: int = Field(default=100, ge=5, le=100_000)
    warmup: int = Field(default=3, ge=0)


class SignatureCheck(_Check):
    """The challenger accepts what the incumbent accepts (its inputs are among the
    incumbent's, with compatible types) and answers in the same output types."""

    type: Literal["signature"] = "signature"


class DataCheck(_Check):
    """The training data the version was fitted on (its run's inputs): ``columns`` present,
    null rates at most ``max_null_rate`` (one number, or per column), values within
    ``ranges`` (``{column: [low, high]}``, either end may be null), at least ``min_rows``.

    With ``dictionary`` (the default) the data dictionary's expectations of each dataset
    (``valid_min``/``valid_max``, ``max_null_rate``, set with ``yard.datasets.describe``)
    are checked too, for every column the suite does not give its own limit."""

    type: Literal["data"] = "data"
    columns: list[str] | None = None
    max_null_rate: float | dict[str, float] | None = None
    ranges: dict[str, tuple[float | None, float | None]] | None = None
    min_rows: int | None = Field(default=None, ge=1)
    role: str | None = None
    dictionary: bool = True


class CustomCheck(_Check):
    """A function ``module:function`` taking the :class:`ValidationContext` and returning a
    :class:`CheckOutcome`, a bool, ``(passed, value, message)`` or a dict of those."""

    type: Literal["custom"] = "custom"
    function: str


CheckSpec = Annotated[
    MetricCheck | ChampionCheck | InvarianceCheck | DirectionalCheck | LatencyCheck
    | SignatureCheck | DataCheck | CustomCheck,
    Field(discriminator="type"),
]


class SuiteSpec(_Strict):
    """A whole suite: the holdout, the label column, the features (default: the model's
    signature inputs), ``against``: the alias (``production``) or version whose holder is the
    champion unless the caller names another, and the checks."""

    holdout: Holdout | None = None
    label: str | None = None
    features: list[str] | None = None
    against: str | None = None
    checks: list[CheckSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> SuiteSpec:
        names = [check_name(c) for c in self.checks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"check names must be unique. Got {dupes} more than once; give "
                             "them a name.")
        needs_holdout = [c for c in self.checks
                         if c.type in ("metric", "champion", "invariance", "directional")]
        if needs_holdout and (self.holdout is None or self.label is None and any(
                c.type in ("metric", "champion") for c in needs_holdout)):
            raise ValueError(f"the check {check_name(needs_holdout[0])!r} needs a holdout "
                             "(and metric checks a label).")
        return self


def check_name(spec: Any) -> str:
    """The given name, or one made from the check's kind and subject."""
    if spec.name:
        return str(spec.name)
    if spec.type == "metric":
        return f"metric:{spec.metric}" + (f"[{spec.segment_by}]" if spec.segment_by else "")
    if spec.type == "champion":
        return f"champion:{spec.metric}"
    if spec.type in ("invariance", "directional"):
        return f"{spec.type}:{spec.feature}"
    if spec.type == "custom":
        return str(spec.function.rpartition(":")[2])
    return str(spec.type)


@dataclass
class CheckOutcome:
    """What a custom check returns (``ctx.result(...)`` builds one)."""

    passed: bool
    value: float | None = None
    message: str = ""
    threshold: str | float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def check(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Mark a module-level function as a custom check of the module's suite::

        @check
        def approvals_not_all_one(ctx): ...
    """

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__modelyard_check__ = name or f.__name__  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


class Suite:
    """A suite declared in Python; each method adds a check and returns the suite."""

    def __init__(self, *, holdout: dict[str, Any] | Holdout | None = None,
                 label: str | None = None, features: list[str] | None = None,
                 against: str | None = None) -> None:
        self.holdout = holdout
        self.label = label
        self.features = features
        self.against = against
        self._checks: list[Any] = []
        self._functions: dict[str, Callable[..., Any]] = {}

    def _add(self, spec: Any) -> Suite:
        self._checks.append(spec)
        return self

    def metric(self, metric: str, **options: Any) -> Suite:
        return self._add(_build(MetricCheck, metric=metric, **options))

    def champion(self, metric: str = "accuracy", **options: Any) -> Suite:
        return self._add(_build(ChampionCheck, metric=metric, **options))

    def invariance(self, feature: str, **options: Any) -> Suite:
        return self._add(_build(InvarianceCheck, feature=feature, **options))

    def directional(self, feature: str, **options: Any) -> Suite:
        return self._add(_build(DirectionalCheck, feature=feature, **options))

    def latency(self, p95_ms: float, **options: Any) -> Suite:
        return self._add(_build(LatencyCheck, p95_ms=p95_ms, **options))

    def signature(self, **options: Any) -> Suite:
        return self._add(_build(SignatureCheck, **options))

    def data(self, **options: Any) -> Suite:
        return self._add(_build(DataCheck, **options))

    def check(self, fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Decorator: a custom check (``fn(ctx)``) of this suite."""

        def add(f: Callable[..., Any]) -> Callable[..., Any]:
            key = name or f.__name__
            self._functions[key] = f
            self._add(CustomCheck(name=key, function=f"{f.__module__}:{f.__qualname__}"))
            return f

        return add(fn) if fn is not None else add

    def spec(self) -> SuiteSpec:
        holdout = self.holdout.model_dump() if isinstance(self.holdout, Holdout) \
            else self.holdout
        return _validated({"holdout": holdout, "label": self.label,
                           "features": self.features, "against": self.against,
                           "checks": [c.model_dump() for c in self._checks]}, "the suite")

    @property
    def functions(self) -> dict[str, Callable[..., Any]]:
        return dict(self._functions)


def _build(cls: type[BaseModel], **options: Any) -> Any:
    try:
        return cls(**options)
    except ValidationError as exc:
        raise _invalid(exc, f"the {cls.__name__}") from exc


def _invalid(exc: ValidationError, where: str) -> InvalidParameter:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ").rstrip(".")
    if err.get("type") == "extra_forbidden":
        msg = f"unknown key {loc.rsplit('.', 1)[-1]!r}"
    return InvalidParameter(f"Invalid validation suite in {where} at {loc or 'top'}: {msg}.",
                            field=f"suite.{loc}" if loc else "suite")


def _validated(data: Any, where: str) -> SuiteSpec:
    if not isinstance(data, dict):
        raise InvalidParameter(f"{where} must be a mapping with 'checks'. Got "
                               f"{type(data).__name__} instead.", field="suite")
    try:
        return SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, where) from exc


def parse_suite(text: str, *, where: str = "the YAML suite") -> SuiteSpec:
    """A suite from YAML (or JSON) text; raises InvalidParameter naming what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{where} is not valid YAML: {exc}", field="suite") from exc
    return _validated(data, where)


def suite_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class LoadedSuite:
    """A suite ready to run: its spec, the custom functions by check name, and the text it
    was read from (YAML text or the Python module's source)."""

    spec: SuiteSpec
    functions: dict[str, Callable[..., Any]]
    format: Literal["yaml", "python"]
    source: str
    module: str | None = None
    code_path: str | None = None

    @property
    def digest(self) -> str:
        return suite_digest(self.source)


def load_python_suite(module_name: str, code_path: str | None = None) -> LoadedSuite:
    """The suite a module declares: its :class:`Suite` object (at most one) plus any
    module-level functions marked with :func:`check`. The module is imported afresh each
    time, so a long-running process runs (and records) the code as it is now."""
    module = import_module(module_name, code_path, field="module", what="the suite module",
                           reload=True)
    suites = [v for v in vars(module).values() if isinstance(v, Suite)]
    if len(suites) > 1:
        raise InvalidParameter(f"the suite module {module_name!r} declares {len(suites)} Suite "
                               "objects; declare one.", field="module")
    suite = suites[0] if suites else Suite()
    functions = suite.functions
    extra = []
    for value in vars(module).values():
        key = getattr(value, "__modelyard_check__", None)
        if key is not None and callable(value) and key not in functions:
            functions[key] = value
            extra.append(CustomCheck(name=key, function=f"{module_name}:{value.__name__}"))
    spec = suite.spec()
    spec = spec.model_copy(update={"checks": [*spec.checks, *extra]})
    if not spec.checks:
        raise InvalidParameter(f"the suite module {module_name!r} declares no checks.",
                               field="module")
    try:
        file = getattr(module, "__file__", None)
        source = Path(file).read_text() if file else inspect.getsource(module)
    except (OSError, TypeError) as exc:
        raise InvalidParameter(f"the source of the suite module {module_name!r} cannot be "
                               f"read: {exc}", field="module") from exc
    return LoadedSuite(spec, functions, "python", source, module_name,
                       code_path or module_root(module_name))


def resolve_custom(spec: SuiteSpec, functions: dict[str, Callable[..., Any]],
                   code_path: str | None = None) -> dict[str, Callable[..., Any]]:
    """Import every custom check of a YAML suite now (a function that does not import is an
    error when the suite is declared, not when it runs)."""
    out = dict(functions)
    for c in spec.checks:
        if isinstance(c, CustomCheck) and check_name(c) not in out:
            out[check_name(c)] = import_entry_point(c.function, code_path, field="function")
    return out
