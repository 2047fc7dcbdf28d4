"""Canary decisions: compare the canary route with the incumbent routes and say whether to
hold, step up, promote or roll back. Pure functions over counts, so they are tested directly;
the runtime applies them (and records every step in the database)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .endpoints import CanaryConfig

__all__ = ["Decision", "RouteStats", "decide"]


class RouteStats:
    """Requests, model errors and recent latencies of one route since the last reset."""

    __slots__ = ("errors", "latencies", "requests")

    def __init__(self, keep: int = 4096) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=keep)

    def record(self, latency_ms: float, error: bool) -> None:
        self.requests += 1
        if error:
            self.errors += 1
        else:
            self.latencies.append(latency_ms)

    def reset(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies.clear()

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def p95(self) -> float | None:
        if not self.latencies:
            return None
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(0.95 * len(values)))]

    def summary(self) -> dict[str, Any]:
        p95 = self.p95()
        return {"requests": self.requests, "errors": self.errors,
                "error_rate": round(self.error_rate, 6),
                "p95_ms": None if p95 is None else round(p95, 3)}


@dataclass(frozen=True)
class Decision:
    action: str  # hold step promote rollback
    to_step: int = 0
    weight: float = 0.0
    reason: str | None = None


def merged(stats: list[RouteStats]) -> RouteStats:
    out = RouteStats(keep=sum(s.latencies.maxlen or 0 for s in stats) or 1)
    for s in stats:
        out.requests += s.requests
        out.errors += s.errors
        out.latencies.extend(s.latencies)
    return out


def decide(spec: CanaryConfig, step: int, step_started: datetime, now: datetime,
           canary: RouteStats, incumbent: RouteStats) -> Decision:
    """What to do with a running canary at ``step`` (index into ``spec.steps``)."""
    if canary.requests >= spec.min_requests:
        if canary.error_rate > incumbent.error_rate + spec.max_error_rate:
            return Decision(
                "rollback", step, 0.0,
                f"error rate {canary.error_rate:.3f} over {canary.requests} requests exceeds the "
                f"incumbent's {incumbent.error_rate:.3f} by more than {spec.max_error_rate}",
            )
        c95, i95 = canary.p95(), incumbent.p95()
        if c95 is not None and i95 is not None and c95 > i95 * spec.max_latency_ratio \
                and c95 - i95 > spec.latency_slack_ms:
            return Decision(
                "rollback", step, 0.0,
                f"p95 latency {c95:.1f} ms exceeds {spec.max_latency_ratio}x the incumbent's "
                f"{i95:.1f} ms",
            )
    if (now - step_started).total_seconds() < spec.interval_s \
            or canary.requests < spec.min_requests:  # no step up without evidence
        return Decision("hold", step, spec.steps[step])
    if step + 1 < len(spec.steps):
        return Decision("step", step + 1, spec.steps[step + 1],
                        f"held {spec.steps[step]}% for {spec.interval_s:g} s without a breach")
    return Decision("promote", step, 100.0,
                    f"held every step ({spec.steps}) without a breach")
