"""When time-based triggers are due, and what the catch-up rule makes of missed runs.

Pure functions of the trigger, a cursor (the last due time already planned), the time now and
the policy's ``grace``: a due time within ``grace`` of now is on time; older ones were missed
(the schedulers were down, the policy disabled). ``catch_up="skip"`` drops missed runs;
``"once"`` runs the latest of them once (not one per missed time). Due times that come while
the policy has a job in progress are skipped (one job per policy at a time). Cost is bounded whatever
the gap: croniter walks back from now, an interval is arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from ..clock import to_utc
from ..monitoring.windows import parse_duration
from .entities import CronTrigger, EveryTrigger

__all__ = ["Due", "due_times", "plan_due", "previous_cron"]

_MAX_RECENT = 1000  # a grace window holding more due times than this keeps the newest


@dataclass(frozen=True)
class Due:
    """The due times after ``cursor`` up to now: those on time (oldest first), the newest
    missed one, and the new cursor (the newest due time at or before now)."""

    on_time: list[datetime]
    latest_missed: datetime | None
    cursor: datetime


def previous_cron(trigger: CronTrigger, before: datetime) -> datetime | None:
    """The newest occurrence at or before ``before``."""
    tz = ZoneInfo(trigger.timezone)
    local = to_utc(before).astimezone(tz) + timedelta(microseconds=1)
    try:
        found = croniter(trigger.cron, local).get_prev(datetime)
    except (ValueError, KeyError):  # croniter found nothing (impossible dates)
        return None
    return to_utc(found)


def due_times(trigger: CronTrigger | EveryTrigger, cursor: datetime, now: datetime,
              grace: timedelta) -> Due:
    """See the module docstring; ``cursor``: the last due time planned (or when the policy
    was saved), exclusive."""
    cursor, now = to_utc(cursor), to_utc(now)
    if isinstance(trigger, EveryTrigger):
        step = parse_duration(trigger.every, field="every").total_seconds()
        return _every(cursor, now, grace, step)
    newest = previous_cron(trigger, now)
    if newest is None or newest <= cursor:
        return Due([], None, cursor)
    on_time: list[datetime] = []
    t: datetime | None = newest
    while t is not None and t > cursor and now - t <= grace and len(on_time) < _MAX_RECENT:
        on_time.append(t)
        t = previous_cron(trigger, t - timedelta(microseconds=1))
    missed = t if t is not None and t > cursor and now - t > grace else None
    return Due(sorted(on_time), missed, newest)


def _every(cursor: datetime, now: datetime, grace: timedelta, step: float) -> Due:
    """Due times ``cursor + k * step`` (k >= 1) at or before now."""
    k_newest = math.floor((now - cursor).total_seconds() / step)
    if k_newest < 1:
        return Due([], None, cursor)
    newest = cursor + timedelta(seconds=k_newest * step)
    k_oldest_on_time = max(1, math.ceil((now - grace - cursor).total_seconds() / step))
    k_oldest_on_time = max(k_oldest_on_time, k_newest - _MAX_RECENT + 1)
    on_time = [cursor + timedelta(seconds=k * step) for k in range(k_oldest_on_time,
                                                                   k_newest + 1)]
    missed = cursor + timedelta(seconds=(k_oldest_on_time - 1) * step) \
        if k_oldest_on_time > 1 else None
    return Due(on_time, missed, newest)


def plan_due(due: Due, catch_up: str) -> list[datetime]:
    """The due time to run, if any: the newest on-time one (several on time at once are one
    run: the scheduler was busy, not away); with ``catch_up="once"`` and none on time, the
    latest missed one."""
    if due.on_time:
        return [due.on_time[-1]]
    if catch_up == "once" and due.latest_missed is not None:
        return [due.latest_missed]
    return []
