"""Alert rules on the monitor results, and their webhooks.

A rule (:class:`~modelyard.monitoring.entities.AlertRule`) watches one metric of the time
series (``drift_share``, ``psi`` of a feature, ``accuracy``, ``latency_p99_ms``,
``outlier_share`` …): over the runs whose window ended in the last ``window``, ``agg`` of the
values (per endpoint, model version and feature) is compared with ``threshold`` by ``op``.

The life of an alert (what :func:`transition` decides, the store applies in one
transaction):

* condition holds, no open alert for the key -> a new alert opens and is **notified**, unless
  the key's previous alert resolved less than ``cooldown`` ago: then that alert re-opens
  silently (a flapping figure does not page twice);
* condition holds, alert open -> de-duplicated: ``count`` and ``last_seen`` move, no message;
* condition no longer holds, alert open -> resolved and **notified**;
* no data for the key in the window -> nothing changes.

Webhooks get an HTTP POST with a JSON body (:func:`payload`), queued with the alert change
and delivered in the background with retries (:mod:`.delivery`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from ..errors import InvalidParameter, did_you_mean
from .entities import Alert, AlertRule
from .windows import parse_duration

__all__ = [
    "OPS",
    "aggregate",
    "alert_key",
    "holds",
    "payload",
    "transition",
    "validate_rule",
]

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def validate_rule(rule: AlertRule) -> AlertRule:
    """Check a rule's durations, threshold and webhook URLs (raises InvalidParameter)."""
    if not rule.name or len(rule.name) > 256 or "|" in rule.name:
        raise InvalidParameter(
            f"name must be 1-256 characters without '|'. Got {rule.name!r} instead.", field="name")
    _check_metric(rule)
    parse_duration(rule.window, field="window")
    parse_duration(rule.cooldown, field="cooldown")
    if not math.isfinite(rule.threshold):
        raise InvalidParameter(f"threshold must be a finite number. Got {rule.threshold!r} "
                               "instead.", field="threshold")
    for url in rule.webhooks:
        if not url.startswith(("http://", "https://")):
            raise InvalidParameter(f"webhooks must be http(s) URLs. Got {url!r} instead.",
                                   field="webhooks")
    return rule


def _check_metric(rule: AlertRule) -> None:
    """The metric is a figure monitor runs store, and ``feature`` fits it: a rule on a name
    no run stores, or on a per-feature figure without a feature, could never fire."""
    from .evaluation import METRICS

    scope = METRICS.get(rule.metric)
    if scope is None:
        raise InvalidParameter(
            f"metric must name a figure monitor runs store, one of {', '.join(sorted(METRICS))}. "
            f"Got {rule.metric!r} instead.{did_you_mean(rule.metric, METRICS)}", field="metric")
    feature = rule.feature
    if scope == "feature" and feature is None:
        raise InvalidParameter(
            f"feature must be given for metric {rule.metric!r}, which is computed per column "
            "(a feature name, or '*' for each). Got none.", field="feature")
    if scope == "group" and feature is not None:
        raise InvalidParameter(
            f"feature must be left out for metric {rule.metric!r}, which has one value per "
            f"model version. Got {feature!r} instead.", field="feature")
    if scope == "segment" and feature not in (None, "*") and not feature.startswith("segment:"):
        raise InvalidParameter(
            f"feature must be left out for metric {rule.metric!r}, or name a segment as "
            f"'segment:<column>=<value>' (see segment_by). Got {feature!r} instead.",
            field="feature")


def alert_key(rule: str, endpoint: str, model_version: str | None, feature: str | None) -> str:
    return f"{rule}|{endpoint}|{model_version or ''}|{feature or ''}"


def aggregate(values: list[float], agg: str) -> float:
    """``last`` (values in time order), ``mean``, ``max`` or ``min``."""
    if agg == "last":
        return values[-1]
    if agg == "mean":
        return sum(values) / len(values)
    if agg == "max":
        return max(values)
    return min(values)


def holds(rule: AlertRule, value: float) -> bool:
    return not math.isnan(value) and OPS[rule.op](value, rule.threshold)


Action = Literal["open", "reopen", "repeat", "resolve", "none"]


def transition(
    holds_now: bool,
    open_alert: Alert | None,
    last_resolved_at: datetime | None,
    now: datetime,
    cooldown: timedelta,
) -> Action:
    """What happens to one key (see the module docstring)."""
    if holds_now:
        if open_alert is not None:
            return "repeat"
        if last_resolved_at is not None and now - last_resolved_at < cooldown:
            return "reopen"
        return "open"
    return "resolve" if open_alert is not None else "none"


def message(rule: AlertRule, endpoint: str, model_version: str | None, feature: str | None,
            value: float) -> str:
    what = f"{rule.metric}" + (f" of {feature!r}" if feature else "")
    where = endpoint + (f" (model version {model_version})" if model_version else "")
    return (f"{rule.name}: {what} on {where} is {value:.4g} ({rule.agg} over {rule.window}), "
            f"{rule.op} {rule.threshold:g}.")


def payload(event: str, alert: Alert) -> dict[str, Any]:
    """The JSON a webhook receives."""
    return {
        "event": event,
        "text": alert.message if event == "opened" else f"Resolved: {alert.message}",
        "alert": alert.model_dump(mode="json", exclude={"delivery"}),
    }
