"""Endpoint configuration (YAML or the server's API) and request routing.

    endpoints:
      - name: loans
        routes:
          - {name: main, model: loans@production, weight: 90}
          - {name: challenger, model: loans/7, weight: 10}
        sticky: true                # the same request key always goes to the same route
        shadows:
          - {name: next, model: loans/8}   # gets a copy of each request; logged, never returned
        canary: {model: loans/9, steps: [5, 25, 50, 100], interval_s: 300}
        batching: {max_delay_ms: 2, max_batch_rows: 256}   # see batching.py (default: automatic)
        device: cuda                # where a PyTorch model runs (default: cpu)
        privacy: {mask: hash, columns: {zip: drop}, retention_days: 90}   # see PrivacyConfig

A route is picked per request: by a stable hash of the request key when the endpoint is sticky
and the request has a key, else at random by weight. A running canary takes its current step's
weight; the other routes share the rest in proportion to their weights.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import InvalidParameter, did_you_mean
from ..store.names import check_name

__all__ = [
    "BatchingConfig",
    "CanaryConfig",
    "EndpointConfig",
    "PrivacyConfig",
    "RouteConfig",
    "ShadowConfig",
    "bucket",
    "effective_weights",
    "endpoint_from_ref",
    "load_endpoints",
    "parse_endpoints",
    "pick",
]

BUCKETS = 10_000


def _check_name(value: str, what: str) -> str:
    return check_name(value, what=what)  # the one name rule of every store


class _Strict(BaseModel):
    """An unknown key is an error (a typo such as ``wieght:`` must not be dropped)."""

    model_config = ConfigDict(extra="forbid")


class RouteConfig(_Strict):
    """A model reference (``loans@production``, ``loans/7``, ``loans``) and its traffic share."""

    name: str = "main"
    model: str
    weight: float = Field(default=100.0, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "A route name")


class ShadowConfig(_Strict):
    """A model that sees a copy of every request; its predictions are logged (``shadow``)."""

    name: str
    model: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "A shadow name")


class CanaryConfig(_Strict):
    """A gradual rollout of ``model``: ``steps`` are traffic percentages, each held for
    ``interval_s`` and with at least ``min_requests`` canary requests in the step; after the
    last one the canary is promoted. It is rolled back at once when,
    with at least ``min_requests`` requests in the current step, its error rate exceeds the
    incumbent's by more than ``max_error_rate``, or its p95 latency exceeds the incumbent's
    times ``max_latency_ratio`` (and by more than ``latency_slack_ms``).
    ``promote_alias``: on promotion, move this alias of the model to the canary's version."""

    model: str
    route: str = "canary"
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    interval_s: float = Field(default=300.0, gt=0)
    max_error_rate: float = Field(default=0.05, ge=0)
    max_latency_ratio: float = Field(default=2.0, gt=0)
    latency_slack_ms: float = Field(default=5.0, ge=0)
    min_requests: int = Field(default=20, ge=1)
    promote_alias: str | None = None

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < s <= 100 for s in v) or v != sorted(v):
            raise ValueError(
                f"canary steps must be increasing percentages in (0, 100]. Got {v!r} instead."
            )
        return v

    @field_validator("route")
    @classmethod
    def _route(cls, v: str) -> str:
        return _check_name(v, "A canary route name")


class BatchingConfig(_Strict):
    """Adaptive micro-batching of an endpoint's concurrent requests (see ``batching.py``):
    requests are gathered for at most ``max_delay_ms`` after the oldest one arrived, or until
    ``max_batch_rows`` rows are waiting, and predicted in one call."""

    max_delay_ms: float = Field(default=2.0, ge=0, le=1000)
    max_batch_rows: int = Field(default=256, ge=1, le=1_000_000)


MaskMode = Literal["drop", "hash", "keep"]


class PrivacyConfig(_Strict):
    """What the prediction log keeps (``predictions/privacy.py``): input columns flagged
    ``personal`` or ``confidential`` in the data dictionary of the model's training data are
    masked as ``mask`` (``hash``: a keyed HMAC-SHA256, equal values still join; ``drop``: left
    out; ``keep``: logged as sent); ``columns`` sets the mask of named columns, flagged or not.
    ``retention_days``: compaction drops the endpoint's log partitions (and the feedback
    labels of their predictions) older than this many days; None keeps them."""

    mask: MaskMode = "hash"
    columns: dict[str, MaskMode] = Field(default_factory=dict)
    retention_days: int | None = Field(default=None, ge=1, le=36_500)


class EndpointConfig(_Strict):
    """One endpoint: ``POST /predict/<name>`` and ``/v2/models/<name>/infer``.

    ``batching``: not set — concurrent requests that arrive together are predicted in one call
    for flavors that vectorise; ``true`` or an object — wait up to ``max_delay_ms`` to gather a
    batch; ``false`` — each request alone. ``device``: where models that can choose run
    (PyTorch: ``cpu``, ``cuda``, ``cuda:1`` …); a model of another flavor is refused at load
    with a device other than ``cpu``."""

    name: str
    routes: list[RouteConfig]
    shadows: list[ShadowConfig] = Field(default_factory=list)
    sticky: bool = False
    canary: CanaryConfig | None = None
    max_rows: int = Field(default=10_000, ge=1)
    batching: BatchingConfig | bool | None = None
    device: str | None = None
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"(cpu|cuda|mps|xpu)(:\d{1,2})?", v):
            raise ValueError(f"device must be cpu, cuda, cuda:N, mps or xpu. Got {v!r} "
                             "instead.")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "An endpoint name")

    @model_validator(mode="after")
    def _routes(self) -> EndpointConfig:
        if not self.routes:
            raise ValueError(f"endpoint {self.name!r} needs at least one route.")
        names = [r.name for r in self.routes] + [s.name for s in self.shadows]
        if self.canary is not None:
            names.append(self.canary.route)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"route and shadow names of endpoint {self.name!r} must be "
                             f"unique. Got {dupes} more than once.")
        if sum(r.weight for r in self.routes) <= 0:
            raise ValueError(f"the route weights of endpoint {self.name!r} must not all be 0.")
        return self


_NESTED: dict[str, type[BaseModel]] = {"routes": RouteConfig, "shadows": ShadowConfig,
                                       "canary": CanaryConfig, "batching": BatchingConfig,
                                       "privacy": PrivacyConfig}


def _invalid(exc: ValidationError, where: str) -> InvalidParameter:
    err = exc.errors()[0]
    path = tuple(err.get("loc", ()))
    loc = ".".join(str(x) for x in path)
    if err.get("type") == "extra_forbidden" and path:
        model: type[BaseModel] = EndpointConfig
        for part in path[:-1]:
            model = _NESTED.get(str(part), model)
        key = str(path[-1])
        known = list(model.model_fields)
        return InvalidParameter(
            f"Invalid endpoint configuration in {where} at {loc}: unknown key {key!r}; the "
            f"keys are {known}.{did_you_mean(key, known)}", field=loc)
    msg = str(err.get("msg", "")).removeprefix("Value error, ").rstrip(".")
    return InvalidParameter(f"Invalid endpoint configuration in {where} at {loc or 'top'}: "
                            f"{msg}.", field=loc or "endpoints")


def parse_endpoints(data: Any, *, where: str = "the configuration") -> list[EndpointConfig]:
    """Endpoints from parsed YAML/JSON: ``{"endpoints": [...]}``, a list, or a mapping of name
    to spec."""
    if isinstance(data, Mapping) and "endpoints" in data:
        extra = sorted(str(k) for k in data if k != "endpoints")
        if extra:
            raise InvalidParameter(f"{where} may hold only 'endpoints' at the top. Got "
                                   f"unknown keys {extra}.", field=extra[0])
        data = data["endpoints"]
    if isinstance(data, Mapping):  # endpoint name -> its spec
        for k, v in data.items():
            if v is not None and not isinstance(v, Mapping):
                raise InvalidParameter(
                    f"{where} must list endpoints under 'endpoints', or map endpoint names to "
                    f"their specs. Got {type(v).__name__} under {str(k)!r}."
                    f"{did_you_mean(str(k), ['endpoints'])}", field=str(k))
        data = [{"name": k, **(v or {})} for k, v in data.items()]
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
        raise InvalidParameter(
            f"{where} must hold a list of endpoints under 'endpoints'. Got {type(data).__name__}.",
            field="endpoints",
        )
    out = []
    for item in data:
        try:
            out.append(EndpointConfig.model_validate(item))
        except ValidationError as exc:
            name = item.get("name") if isinstance(item, Mapping) else None
            raise _invalid(exc, where if name is None else f"{where} (endpoint {name!r})") \
                from exc
    names = [e.name for e in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameter(f"Endpoint names must be unique. Got {dupes} more than once.",
                               field="endpoints")
    return out


def load_endpoints(path: str | Path) -> list[EndpointConfig]:
    """Endpoints from a YAML (or JSON) file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError as exc:
        raise InvalidParameter(f"No endpoint configuration file at {str(p)!r}.",
                               field="config") from exc
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{str(p)!r} is not valid YAML: {exc}", field="config") from exc
    return parse_endpoints(data, where=str(p))


def endpoint_from_ref(spec: str) -> EndpointConfig:
    """``--model loans@production`` (endpoint ``loans``) or ``--model scoring=loans/3``."""
    name, sep, ref = spec.partition("=")
    if not sep:
        ref = spec
        name = re.split(r"[/@]", spec, maxsplit=1)[0]
    try:
        return EndpointConfig(name=name, routes=[RouteConfig(model=ref)])
    except ValidationError as exc:
        raise _invalid(exc, f"--model {spec!r}") from exc


def bucket(key: str) -> int:
    """A stable bucket in [0, 10000) for a request key (the same in every process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def effective_weights(weights: Sequence[float], canary_index: int | None,
                      canary_weight: float) -> list[float]:
    """The routes' weights with a canary at ``canary_weight`` percent of the traffic."""
    if canary_index is None:
        return list(weights)
    rest = sum(w for i, w in enumerate(weights) if i != canary_index)
    out = []
    for i, w in enumerate(weights):
        if i == canary_index:
            out.append(canary_weight)
        else:
            out.append((100.0 - canary_weight) * w / rest if rest > 0 else 0.0)
    return out


def pick(cumulative: Sequence[float], key: str | None, rng: random.Random) -> int:
    """The index of the route for one request, given cumulative weights (last = total)."""
    total = cumulative[-1]
    if key is not None:
        x = (bucket(key) + 0.5) / BUCKETS * total
    else:
        x = rng.random() * total
    for i, c in enumerate(cumulative):
        if x < c:
            return i
    return len(cumulative) - 1
