"""The retraining policies a backtest compares, from YAML or a short form.

    name: on-drift                       # one policy per file, or a list of them
    triggers:                            # any of them fires a retrain (none: never retrain)
      - {type: every, every: 4w}         # at least this long since the last training
      - {type: cron, cron: "0 3 1 * *"}  # a cron time passed since the previous step
      - {type: drift, threshold: 0.3}    # drift share of the last window vs the training data
      - {type: drift, feature: income, metric: psi, threshold: 0.2}
      - {type: performance, metric: accuracy, op: "<", threshold: 0.85, delay: 1w}
      - {type: data, min_new_rows: 5000} # rows with event times since the last training

Short forms (``--policy never``, ``every:4w``, ``drift:0.3``, ``performance:accuracy<0.85``,
``data:5000``, ``cron:0 3 1 * *``) name the policy after themselves. ``performance`` reads the
realised metric of the model in use on the latest window whose labels are known ``delay``
after it ends (default: at once), and only windows the model predicted (after its training).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...errors import InvalidParameter
from ...monitoring.windows import parse_duration
from ..entities import CronTrigger, EveryTrigger
from ..policies import spec_error

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "BacktestPolicy",
    "DataVolumeTrigger",
    "DriftTrigger",
    "NeverTrigger",
    "PerformanceTrigger",
    "load_policies",
    "parse_policy_arg",
]

#: what an evaluation computes from realised labels, and which way is better
HIGHER_IS_BETTER = {"accuracy": True, "precision": True, "recall": True, "f1": True,
                    "roc_auc": True, "log_loss": False, "mae": False, "rmse": False,
                    "r2": True}
METRICS = tuple(HIGHER_IS_BETTER)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NeverTrigger(_Strict):
    """Never retrain (the baseline)."""

    type: Literal["never"] = "never"


class DriftTrigger(_Strict):
    """Drift of the last window against the current model's training data: the share of
    drifted features (``metric: drift_share``, default), or a statistic of one ``feature``
    (``psi``, ``wasserstein``, ``ks``, ``jensenshannon``, ``chisquare`` …), at least
    ``threshold``."""

    type: Literal["drift"] = "drift"
    threshold: float = Field(ge=0)
    metric: str = "drift_share"
    feature: str | None = None


class PerformanceTrigger(_Strict):
    """The realised ``metric`` of the model in use ``op`` ``threshold`` (``accuracy < 0.85``)
    on the latest window whose labels are known (``delay`` after it ends)."""

    type: Literal["performance"] = "performance"
    metric: str
    op: Literal["<", "<=", ">", ">="] = "<"
    threshold: float
    delay: str = "0s"

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if v not in HIGHER_IS_BETTER:
            raise ValueError(f"metric must be one of {list(METRICS)}. Got {v!r} instead.")
        return v

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: str) -> str:
        parse_duration(v, field="delay")
        return v


class DataVolumeTrigger(_Strict):
    """At least ``min_new_rows`` rows with event times since the last training."""

    type: Literal["data"] = "data"
    min_new_rows: int = Field(ge=1)


Trigger = Annotated[NeverTrigger | EveryTrigger | CronTrigger | DriftTrigger | PerformanceTrigger
                    | DataVolumeTrigger, Field(discriminator="type")]


class BacktestPolicy(_Strict):
    """A named policy: retrain when any trigger fires (no trigger, or ``never``: keep the
    first model)."""

    name: str
    triggers: list[Trigger] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("name must be 1-64 letters, digits and '._-', starting with a "
                             f"letter or digit. Got {v!r} instead.")
        return v

    @property
    def reactive(self) -> bool:
        """Whether a decision needs evaluations (drift or performance triggers)."""
        return any(isinstance(t, DriftTrigger | PerformanceTrigger) for t in self.triggers)


def _validate(data: Any, where: str) -> BacktestPolicy:
    if not isinstance(data, dict):
        raise InvalidParameter(f"a policy in {where} must be a mapping with name and triggers. "
                               f"Got {type(data).__name__} instead.", field="policy")
    try:
        return BacktestPolicy.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, f"backtest policy in {where}", field="policy") from exc


_PERF = re.compile(r"^([a-z_0-9]+)\s*(<=|>=|<|>)\s*(-?[0-9.]+(?:e-?[0-9]+)?)$")


def _short(text: str) -> BacktestPolicy:
    kind, _, arg = text.partition(":")
    kind, arg = kind.strip(), arg.strip()
    trigger: dict[str, Any]
    if kind == "never" and not arg:
        return BacktestPolicy(name="never", triggers=[NeverTrigger()])
    if kind == "every" and arg:
        trigger = {"type": "every", "every": arg}
    elif kind == "cron" and arg:
        trigger = {"type": "cron", "cron": arg}
    elif kind == "drift" and arg:
        trigger = {"type": "drift", "threshold": _number(arg, text)}
    elif kind == "data" and arg.isdigit():
        trigger = {"type": "data", "min_new_rows": int(arg)}
    elif kind == "performance" and _PERF.match(arg):
        metric, op, value = _PERF.match(arg).groups()  # type: ignore[union-attr]
        trigger = {"type": "performance", "metric": metric, "op": op,
                   "threshold": _number(value, text)}
    else:
        raise InvalidParameter(
            "a policy must be a YAML file or one of 'never', 'every:4w', 'cron:0 3 1 * *', "
            "'drift:0.3', 'performance:accuracy<0.85', 'data:5000'. Got "
            f"{text!r} instead.", field="policy")
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-")[:64] or kind
    return _validate({"name": name, "triggers": [trigger]}, f"--policy {text!r}")


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidParameter(f"expected a number in policy {where!r}. Got {text!r}.",
                               field="policy") from None


def parse_policy_arg(value: str | dict[str, Any] | BacktestPolicy) -> list[BacktestPolicy]:
    """The policies one ``--policy`` names: a YAML file (one policy or a list), a short form,
    a mapping, or a policy."""
    if isinstance(value, BacktestPolicy):
        return [value]
    if isinstance(value, dict):
        return [_validate(value, "the policy")]
    path = Path(value)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        import yaml

        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise InvalidParameter(f"policy file {value} cannot be read: {exc.strerror}.",
                                   field="policy") from exc
        except yaml.YAMLError as exc:
            raise InvalidParameter(f"policy file {value} is not valid YAML: {exc}",
                                   field="policy") from exc
        items = data if isinstance(data, list) else [data]
        return [_validate(item, str(value)) for item in items]
    return [_short(value)]


def load_policies(values: list[Any]) -> list[BacktestPolicy]:
    """Every policy of several ``--policy`` values; names must differ."""
    if not values:
        raise InvalidParameter("a backtest needs at least one policy (e.g. 'never' and "
                               "'every:4w').", field="policy")
    policies = [p for v in values for p in parse_policy_arg(v)]
    seen: set[str] = set()
    for p in policies:
        if p.name in seen:
            raise InvalidParameter(f"policy names must differ; {p.name!r} is given twice.",
                                   field="policy")
        seen.add(p.name)
    return policies
