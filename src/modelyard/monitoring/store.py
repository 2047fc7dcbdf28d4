"""The SQL side of monitoring: ground truth, the time series of monitor results, monitor
configurations, alert rules and alerts.

Methods marked with :func:`~modelyard.transport.endpoint` are REST routes of ``modelyard
server`` (under ``/api/v1``) and, on a remote yard, the same methods over HTTP. The model
server's ``POST /feedback`` calls :meth:`MonitorStore.feedback` too. Every write is one
transaction.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..clock import parse_time
from ..errors import InvalidParameter, NotFound
from ..ids import new_id, uuid7_time
from ..predictions.reader import log_artifacts
from ..store import audit
from ..store.base import DomainStore
from ..store.names import check_label, check_name
from ..store.schema.monitoring import (
    AlertRow,
    AlertRuleRow,
    FeedbackRow,
    MonitorConfigRow,
    MonitorMetricRow,
    MonitorRunRow,
)
from ..transport import endpoint
from . import alerts as rules
from . import outbox
from .entities import (
    Alert,
    AlertEvent,
    AlertRule,
    Delivery,
    Feedback,
    FeedbackItem,
    FeedbackResult,
    Label,
    MetricPoint,
    MonitorConfig,
    MonitorRun,
)
from .labels import label_domains
from .windows import parse_duration

__all__ = ["MAX_FEEDBACK_BATCH", "MonitorStore", "normalize_prediction_id"]

MAX_FEEDBACK_BATCH = 100_000
_CHUNK = 500

_feedback = FeedbackRow.__table__
_configs = MonitorConfigRow.__table__
_runs = MonitorRunRow.__table__
_metrics = MonitorMetricRow.__table__
_rules = AlertRuleRow.__table__
_alerts = AlertRow.__table__


def normalize_prediction_id(value: object) -> str:
    """A prediction id as 32 lowercase hex characters (dashes allowed on input); it must be a
    UUIDv7, whose time tells the prediction's time."""
    if not isinstance(value, str):
        raise InvalidParameter(
            f"prediction_id must be the UUIDv7 id of a logged prediction. Got {value!r} instead.",
            field="prediction_id")
    pid = value.replace("-", "").strip().lower()
    try:
        if len(pid) != 32:
            raise ValueError(pid)
        uuid7_time(pid)
    except (ValueError, InvalidParameter) as exc:
        raise InvalidParameter(
            f"prediction_id must be the UUIDv7 id of a logged prediction (32 hex characters). "
            f"Got {value!r} instead.", field="prediction_id") from exc
    return pid


def _check_label(label: object, *, field: str = "label") -> Label:
    if isinstance(label, (str, int)):
        return label
    if isinstance(label, float) and math.isfinite(label):
        return label
    raise InvalidParameter(
        f"{field} must be a string, number or boolean (the true class or value). Got {label!r} "
        "instead.", field=field)


def _check_name(value: object, field: str) -> str:
    return check_name(value, field=field)  # the one name rule of every store


def _opt_time(value: datetime | str | None, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field=field)


class MonitorStore(DomainStore):
    """Feedback, monitor results, monitors and alerts over one database."""

    # ---- feedback --------------------------------------------------------------------------
    @endpoint("POST", "/feedback", permission="write")
    def feedback(
        self,
        prediction_id: str | None = None,
        label: Label | None = None,
        items: list[FeedbackItem] | None = None,
        endpoint: str | None = None,
    ) -> FeedbackResult:
        """Record ground truth: one ``prediction_id`` + ``label``, or a batch of ``items``.

        Idempotent: the same label again changes nothing; a different label replaces the old
        one (the latest answer wins). Labels may arrive any time after the prediction (late
        feedback is joined when a window is evaluated, or evaluated again).

        A label must fit the model that made its prediction (one of its classes, or its
        output's type; :mod:`~modelyard.monitoring.labels`): otherwise nothing of the call is
        recorded and the error names every label that does not fit (the first 50, and how
        many more). Labels of ids not (yet) in the prediction log are recorded unchecked and
        counted in ``unmatched``."""
        batch: list[FeedbackItem] = []
        where: list[str] = []
        if prediction_id is not None:
            batch.append(FeedbackItem(prediction_id=normalize_prediction_id(prediction_id),
                                      label=_check_label(label), endpoint=endpoint))
            where.append("label")
        elif label is not None:
            raise InvalidParameter("prediction_id must be given with label. Got a label alone.",
                                   field="prediction_id")
        for i, item in enumerate(items or ()):
            if isinstance(item, dict):
                item = FeedbackItem.model_validate(item)
            _check_label(item.label, field=f"items[{i}].label")
            batch.append(item if item.endpoint or endpoint is None
                         else item.model_copy(update={"endpoint": endpoint}))
            where.append(f"items[{i}].label")
        if not batch:
            raise InvalidParameter(
                "feedback needs prediction_id and label, or items=[{prediction_id, label}, ...]. "
                "Got neither.", field="items")
        if len(batch) > MAX_FEEDBACK_BATCH:
            raise InvalidParameter(
                f"items must hold at most {MAX_FEEDBACK_BATCH} labels per call. Got {len(batch)}.",
                field="items")
        latest: dict[str, FeedbackItem] = {}
        for item in batch:  # the last label of an id in one batch wins
            latest[normalize_prediction_id(item.prediction_id)] = item
        result = FeedbackResult(unmatched=self._check_labels(batch, where, len(latest)))
        now = self.clock.now()
        ids = list(latest)
        with self.db.write() as conn:
            existing: dict[str, Any] = {}
            for i in range(0, len(ids), _CHUNK):
                part = ids[i:i + _CHUNK]
                for row in conn.execute(sa.select(_feedback.c.prediction_id, _feedback.c.label)
                                        .where(_feedback.c.prediction_id.in_(part))):
                    existing[row.prediction_id] = row.label
            inserts, updates = [], []
            for pid, item in latest.items():
                if pid not in existing:
                    inserts.append({"prediction_id": pid, "label": item.label,
                                    "endpoint": item.endpoint, "prediction_time": uuid7_time(pid),
                                    "received_at": now, "updated_at": now})
                elif _same_label(existing[pid], item.label):
                    result.unchanged += 1
                else:
                    updates.append({"pid": pid, "label": item.label, "updated_at": now})
            if inserts:
                conn.execute(_feedback.insert(), inserts)
                result.created = len(inserts)
            if updates:
                conn.execute(
                    _feedback.update().where(_feedback.c.prediction_id == sa.bindparam("pid"))
                    .values(label=sa.bindparam("label"), updated_at=sa.bindparam("updated_at")),
                    updates,
                )
                result.updated = len(updates)
            if inserts or updates:  # one record per batch: counts and a digest of the labels
                changed = sorted([r["prediction_id"], r["label"]] for r in inserts) + sorted(
                    [r["pid"], r["label"]] for r in updates)
                endpoints = sorted({str(i.endpoint) for i in latest.values() if i.endpoint})
                audit.append(conn, action="feedback.batch",
                             target="feedback:" + (",".join(endpoints) or "*"), after={
                                 "created": result.created, "updated": result.updated,
                                 "labels": "sha256:" + hashlib.sha256(audit.canonical_json(
                                     changed).encode()).hexdigest()})
        return result

    def _check_labels(self, batch: list[FeedbackItem], where: list[str], n_ids: int) -> int:
        """Raise naming every label that does not fit its prediction's model; return how many
        ids are not in the prediction log."""
        pids = [normalize_prediction_id(item.prediction_id) for item in batch]
        domains = label_domains(log_artifacts(self.settings, self.artifacts),
                                self.settings.resolved_prediction_log_dir, pids)
        bad = [(w, pid, item.label, domains[pid]) for item, w, pid in zip(batch, where, pids)
               if pid in domains and not domains[pid].accepts(item.label)]
        if len(bad) == 1:
            w, pid, label, domain = bad[0]
            raise InvalidParameter(
                f"{w} of prediction {pid} must be {domain.expected()}. Got {label!r} instead."
                + (" Nothing was recorded." if len(batch) > 1 else ""), field=w)
        if bad:
            listed = "; ".join(f"{w} of prediction {pid} must be {domain.expected()}. Got "
                               f"{label!r} instead" for w, pid, label, domain in bad[:50])
            more = f"; and {len(bad) - 50} more" if len(bad) > 50 else ""
            raise InvalidParameter(
                f"{len(bad)} of {len(batch)} labels do not fit the model that made their "
                f"prediction, so nothing was recorded: {listed}{more}.", field="items")
        return n_ids - len({pid for pid in pids if pid in domains})

    @endpoint("GET", "/feedback/{prediction_id}", permission="read")
    def get_feedback(self, prediction_id: str) -> Feedback:
        """The ground truth recorded for one prediction."""
        pid = normalize_prediction_id(prediction_id)
        with self.db.read() as conn:
            row = conn.execute(sa.select(_feedback).where(_feedback.c.prediction_id == pid)).first()
        if row is None:
            raise NotFound(f"No feedback for prediction {prediction_id!r}.", field="prediction_id")
        return Feedback(**row._mapping)

    @endpoint("GET", "/feedback", permission="read")
    def list_feedback(self, start: datetime, end: datetime, endpoint: str | None = None,
                      limit: int = 1_000_000) -> list[Feedback]:
        """Labels of the predictions made between ``start`` and ``end`` (by prediction time)."""
        s, e = parse_time(start, field="start"), parse_time(end, field="end")
        q = (sa.select(_feedback).where(_feedback.c.prediction_time >= s,
                                        _feedback.c.prediction_time <= e)
             .order_by(_feedback.c.prediction_time).limit(max(1, min(limit, 10_000_000))))
        if endpoint is not None:
            q = q.where(sa.or_(_feedback.c.endpoint == endpoint, _feedback.c.endpoint.is_(None)))
        with self.db.read() as conn:
            return [Feedback(**r._mapping) for r in conn.execute(q)]

    def feedback_labels(self, start: datetime, end: datetime,
                        endpoint: str | None = None) -> tuple[list[str], list[Any]]:
        """Ids and labels of a window (of ``endpoint``'s predictions, and of labels recorded
        without an endpoint), as two lists: the fast path the monitor joins on, filtered in
        SQL so a run never loads other endpoints' labels."""
        q = sa.select(_feedback.c.prediction_id, _feedback.c.label).where(
            _feedback.c.prediction_time >= start, _feedback.c.prediction_time <= end)
        if endpoint is not None:
            q = q.where(sa.or_(_feedback.c.endpoint == endpoint, _feedback.c.endpoint.is_(None)))
        ids, labels = [], []
        with self.db.read() as conn:
            for pid, label in conn.execute(q):
                ids.append(pid)
                labels.append(label)
        return ids, labels

    # ---- monitor configurations ------------------------------------------------------------
    @endpoint("PUT", "/monitoring/monitors/{endpoint}", permission="write")
    def set_monitor(
        self,
        endpoint: str,
        reference: str | None = None,
        window: str = "1d",
        features: list[str] | None = None,
        tests: dict[str, str] | None = None,
        thresholds: dict[str, float] | None = None,
        segment_by: str | None = None,
    ) -> MonitorConfig:
        """Create or replace what ``modelyard monitor run`` evaluates for ``endpoint``."""
        _check_name(endpoint, "endpoint")
        parse_duration(window)
        if reference is not None and not reference.startswith(("dataset:", "window:")):
            raise InvalidParameter(
                "reference must be 'dataset:NAME[/VERSION]', 'window:START/END' or empty (the "
                f"training data of the model version). Got {reference!r} instead.",
                field="reference")
        if tests or thresholds:
            from .drift import _Plan

            _Plan(tests, thresholds)
        now = self.clock.now()
        config = MonitorConfig(endpoint=endpoint, reference=reference, window=window,
                               features=features, tests=tests or {},
                               thresholds=thresholds or {}, segment_by=segment_by, created_at=now)
        with self.db.write() as conn:
            old = conn.execute(sa.select(_configs.c.created_at).where(_configs.c.endpoint == endpoint)).first()
            body = config.model_dump(mode="json", exclude={"created_at"})
            if old is None:
                conn.execute(_configs.insert().values(endpoint=endpoint, config=body,
                                                      created_at=now, updated_at=now))
            else:
                config.created_at = old.created_at
                conn.execute(_configs.update().where(_configs.c.endpoint == endpoint)
                             .values(config=body, updated_at=now))
            audit.append(conn, action="monitor.set", target=f"monitor:{endpoint}", after=body)
        return config

    @endpoint("GET", "/monitoring/monitors/{endpoint}", permission="read")
    def get_monitor(self, endpoint: str) -> MonitorConfig:
        with self.db.read() as conn:
            row = conn.execute(sa.select(_configs).where(_configs.c.endpoint == endpoint)).first()
        if row is None:
            raise NotFound(f"No monitor for endpoint {endpoint!r}.", field="endpoint")
        return MonitorConfig(**row.config, created_at=row.created_at)

    @endpoint("GET", "/monitoring/monitors", permission="read")
    def list_monitors(self) -> list[MonitorConfig]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_configs).order_by(_configs.c.endpoint)).all()
        return [MonitorConfig(**r.config, created_at=r.created_at) for r in rows]

    @endpoint("DELETE", "/monitoring/monitors/{endpoint}", status_code=204, permission="write")
    def delete_monitor(self, endpoint: str) -> None:
        with self.db.write() as conn:
            if conn.execute(_configs.delete().where(_configs.c.endpoint == endpoint)).rowcount == 0:
                raise NotFound(f"No monitor for endpoint {endpoint!r}.", field="endpoint")
            audit.append(conn, action="monitor.delete", target=f"monitor:{endpoint}")

    # ---- monitor results (the time series) ---------------------------------------------------
    @endpoint("POST", "/monitoring/runs", status_code=201, permission="write")
    def record_run(self, run: MonitorRun, metrics: list[MetricPoint]) -> MonitorRun:
        """Store one monitor run and its figures (one transaction)."""
        _check_name(run.endpoint, "endpoint")
        created = run.created_at or self.clock.now()
        run = run.model_copy(update={"created_at": created, "id": run.id or new_id()})
        rows = []
        for m in metrics:
            if not math.isfinite(m.value):
                continue  # NaN/inf figures (an undefined metric) are not points of a series
            rows.append({
                "run_id": run.id, "endpoint": m.endpoint or run.endpoint,
                "model_version": m.model_version, "route": m.route,
                "window_start": m.window_start, "window_end": m.window_end, "name": m.name,
                "feature": m.feature, "value": float(m.value),
            })
        with self.db.write() as conn:
            conn.execute(_runs.insert().values(
                id=run.id, endpoint=run.endpoint, window_start=run.window_start,
                window_end=run.window_end, status=run.status, n_rows=run.n_rows,
                reference=run.reference, summary=run.summary, report_digest=run.report_digest,
                created_at=created,
            ))
            for i in range(0, len(rows), 5000):
                conn.execute(_metrics.insert(), rows[i:i + 5000])
        return run

    @endpoint("GET", "/monitoring/runs", permission="read")
    def list_runs(self, endpoint: str | None = None, start: datetime | None = None,
                  end: datetime | None = None, limit: int = 100) -> list[MonitorRun]:
        """Monitor runs, newest window first."""
        q = sa.select(_runs).order_by(_runs.c.window_end.desc(), _runs.c.id.desc()).limit(
            max(1, min(limit, 10_000)))
        if endpoint is not None:
            q = q.where(_runs.c.endpoint == endpoint)
        if (s := _opt_time(start, "start")) is not None:
            q = q.where(_runs.c.window_end >= s)
        if (e := _opt_time(end, "end")) is not None:
            q = q.where(_runs.c.window_end <= e)
        with self.db.read() as conn:
            return [MonitorRun(**r._mapping) for r in conn.execute(q)]

    @endpoint("GET", "/monitoring/runs/{run_id}", permission="read")
    def get_run(self, run_id: str) -> MonitorRun:
        with self.db.read() as conn:
            row = conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"No monitor run {run_id!r}.", field="run_id")
        return MonitorRun(**row._mapping)

    @endpoint("GET", "/monitoring/metrics", permission="read")
    def metrics(
        self,
        endpoint: str | None = None,
        name: str | None = None,
        feature: str | None = None,
        model_version: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100_000,
    ) -> list[MetricPoint]:
        """Points of the monitor time series, oldest window first (filters combine)."""
        q = sa.select(_metrics).order_by(_metrics.c.window_end, _metrics.c.id).limit(
            max(1, min(limit, 1_000_000)))
        for col, value in ((_metrics.c.endpoint, endpoint), (_metrics.c.name, name),
                           (_metrics.c.feature, feature),
                           (_metrics.c.model_version, model_version)):
            if value is not None:
                q = q.where(col == value)
        if (s := _opt_time(start, "start")) is not None:
            q = q.where(_metrics.c.window_end >= s)
        if (e := _opt_time(end, "end")) is not None:
            q = q.where(_metrics.c.window_end <= e)
        with self.db.read() as conn:
            return [_point(r) for r in conn.execute(q)]

    # ---- alert rules ------------------------------------------------------------------------
    @endpoint("PUT", "/monitoring/alert-rules/{name}", permission="write")
    def set_alert_rule(
        self,
        name: str,
        metric: str,
        threshold: float,
        op: str = ">",
        endpoint: str = "*",
        feature: str | None = None,
        model_version: str | None = None,
        window: str = "1h",
        agg: str = "last",
        cooldown: str = "1h",
        webhooks: list[str] | None = None,
        severity: str = "warning",
        enabled: bool = True,
    ) -> AlertRule:
        """Create or replace an alert rule (see :class:`AlertRule`)."""
        from pydantic import ValidationError

        check_label(name, field="name", what="An alert rule name")  # shown, not a path
        try:
            rule = AlertRule(name=name, metric=metric, threshold=threshold, op=op,  # type: ignore[arg-type]
                             endpoint=endpoint, feature=feature, model_version=model_version,
                             window=window, agg=agg, cooldown=cooldown,  # type: ignore[arg-type]
                             webhooks=list(webhooks or []), severity=severity,  # type: ignore[arg-type]
                             enabled=enabled)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise InvalidParameter(f"{where} {err['msg'].lower()}. Got {err.get('input')!r} instead.",
                                   field=where) from exc
        rules.validate_rule(rule)
        now = self.clock.now()
        with self.db.write() as conn:
            old = conn.execute(sa.select(_rules.c.created_at).where(_rules.c.name == name)).first()
            spec = rule.model_dump(mode="json", exclude={"created_at"})
            if old is None:
                conn.execute(_rules.insert().values(name=name, spec=spec, created_at=now,
                                                    updated_at=now))
                rule.created_at = now
            else:
                conn.execute(_rules.update().where(_rules.c.name == name)
                             .values(spec=spec, updated_at=now))
                rule.created_at = old.created_at
            audit.append(conn, action="alert_rule.set", target=f"alert_rule:{name}", after=spec)
        return rule

    @endpoint("GET", "/monitoring/alert-rules", permission="read")
    def list_alert_rules(self) -> list[AlertRule]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_rules).order_by(_rules.c.name)).all()
        return [AlertRule(**r.spec, created_at=r.created_at) for r in rows]

    @endpoint("DELETE", "/monitoring/alert-rules/{name}", status_code=204, permission="write")
    def delete_alert_rule(self, name: str) -> None:
        with self.db.write() as conn:
            if conn.execute(_rules.delete().where(_rules.c.name == name)).rowcount == 0:
                raise NotFound(f"No alert rule {name!r}.", field="name")
            audit.append(conn, action="alert_rule.delete", target=f"alert_rule:{name}")

    # ---- alerts -------------------------------------------------------------------------------
    @endpoint("GET", "/monitoring/alerts", permission="read")
    def list_alerts(self, state: str | None = None, endpoint: str | None = None,
                    rule: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts, most recently seen first; ``state`` is ``open`` or ``resolved``."""
        if state not in (None, "open", "resolved"):
            raise InvalidParameter(f"state must be 'open' or 'resolved'. Got {state!r} instead.",
                                   field="state")
        q = sa.select(_alerts).order_by(_alerts.c.last_seen.desc(), _alerts.c.id.desc()).limit(
            max(1, min(limit, 10_000)))
        for col, value in ((_alerts.c.state, state), (_alerts.c.endpoint, endpoint),
                           (_alerts.c.rule, rule)):
            if value is not None:
                q = q.where(col == value)
        with self.db.read() as conn:
            return [_alert(r) for r in conn.execute(q)]

    @endpoint("GET", "/monitoring/alerts/{alert_id}", permission="read")
    def get_alert(self, alert_id: str) -> Alert:
        with self.db.read() as conn:
            row = conn.execute(sa.select(_alerts).where(_alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"No alert {alert_id!r}.", field="alert_id")
        return _alert(row)

    @endpoint("POST", "/monitoring/alerts/{alert_id}/resolve", permission="write")
    def resolve_alert(self, alert_id: str) -> Alert:
        """Resolve an open alert by hand (it re-opens if its condition holds at a later run)."""
        now = self.clock.now()
        with self.db.write() as conn:
            done = conn.execute(_alerts.update().where(_alerts.c.id == alert_id,
                                                       _alerts.c.state == "open")
                                .values(state="resolved", open_key=None, resolved_at=now))
            if done.rowcount:
                audit.append(conn, action="alert.resolve", target=f"alert:{alert_id}")
        return self.get_alert(alert_id)

    @endpoint("POST", "/monitoring/alerts/evaluate", permission="write")
    def evaluate_alerts(self, endpoint: str | None = None) -> list[AlertEvent]:
        """Evaluate every enabled rule (for ``endpoint``, or all) on the stored time series
        now; returns what changed: alerts ``opened``, ``resolved`` (their webhook deliveries
        queued in the same transaction) and ``reopened`` (silently, within the cool-down)."""
        now = self.clock.now()
        events: list[AlertEvent] = []
        with self.db.write() as conn:
            for rule in self._rules(conn):
                if not rule.enabled or (endpoint is not None and rule.endpoint not in ("*", endpoint)):
                    continue
                events += self._evaluate(conn, rule, endpoint, now)
            for ev in events:  # the notifications, in the alert changes' transaction
                if ev.event != "reopened" and ev.webhooks:
                    outbox.queue(conn, ev, rules.payload(ev.event, ev.alert), now)
        return events

    # ---- webhook deliveries (the outbox; see monitoring.delivery) ------------------------------
    @endpoint("GET", "/monitoring/deliveries", permission="read")
    def list_deliveries(self, state: str | None = None, alert_id: str | None = None,
                        limit: int = 100) -> list[Delivery]:
        """Webhook deliveries, newest first; ``state``: pending, delivered or failed."""
        if state not in (None, "pending", "delivered", "failed"):
            raise InvalidParameter("state must be 'pending', 'delivered' or 'failed'. Got "
                                   f"{state!r} instead.", field="state")
        with self.db.read() as conn:
            return outbox.list_deliveries(conn, state=state, alert_id=alert_id,
                                          limit=max(1, min(limit, 10_000)))

    @endpoint("POST", "/monitoring/deliveries/run", permission="write")
    def run_deliveries(self, limit: int = 100) -> list[Delivery]:
        """Try every webhook delivery due now once (up to ``limit``), here and now; returns
        their new state (failed tries stay queued for their next attempt)."""
        from .delivery import Deliverer

        return Deliverer(self).run_once(max(1, min(limit, 10_000)))

    def claim_deliveries(self, owner: str, lease: timedelta, limit: int) -> list[outbox.Claimed]:
        with self.db.write() as conn:
            return outbox.claim(conn, owner, self.clock.now(), lease, limit)

    def finish_delivery(self, claimed: outbox.Claimed, owner: str,
                        outcome: outbox.Outcome) -> Delivery | None:
        with self.db.write() as conn:
            return outbox.finish(conn, claimed, owner, outcome, self.clock.now(),
                                 max_attempts=max(1, self.settings.webhook_attempts),
                                 backoff=self.settings.webhook_backoff_s)

    def next_delivery_due(self) -> datetime | None:
        with self.db.read() as conn:
            return outbox.next_due(conn)

    def _rules(self, conn: Connection) -> list[AlertRule]:
        rows = conn.execute(sa.select(_rules).order_by(_rules.c.name)).all()
        return [AlertRule(**r.spec, created_at=r.created_at) for r in rows]

    def _evaluate(self, conn: Connection, rule: AlertRule, endpoint: str | None,
                  now: datetime) -> list[AlertEvent]:
        since = now - parse_duration(rule.window)
        q = (sa.select(_metrics.c.endpoint, _metrics.c.model_version, _metrics.c.feature,
                       _metrics.c.value)
             .where(_metrics.c.name == rule.metric, _metrics.c.window_end > since,
                    _metrics.c.window_end <= now)
             .order_by(_metrics.c.window_end, _metrics.c.id))
        scope = rule.endpoint if rule.endpoint != "*" else endpoint
        if scope is not None:
            q = q.where(_metrics.c.endpoint == scope)
        if rule.feature is None:
            q = q.where(_metrics.c.feature.is_(None))
        elif rule.feature != "*":
            q = q.where(_metrics.c.feature == rule.feature)
        if rule.model_version is not None:
            q = q.where(_metrics.c.model_version == rule.model_version)
        series: dict[tuple[str, str | None, str | None], list[float]] = defaultdict(list)
        for r in conn.execute(q):
            series[(r.endpoint, r.model_version, r.feature)].append(r.value)
        open_rows = {r.key: r for r in conn.execute(
            sa.select(_alerts).where(_alerts.c.rule == rule.name, _alerts.c.state == "open"))}
        cooldown = parse_duration(rule.cooldown)
        events: list[AlertEvent] = []
        for (ep, mv, feat), values in series.items():
            value = rules.aggregate(values, rule.agg)
            key = rules.alert_key(rule.name, ep, mv, feat)
            open_row = open_rows.get(key)
            last = None
            if open_row is None:
                last = conn.execute(
                    sa.select(_alerts).where(_alerts.c.key == key, _alerts.c.state == "resolved")
                    .order_by(_alerts.c.resolved_at.desc()).limit(1)).first()
            action = rules.transition(rules.holds(rule, value),
                                      _alert(open_row) if open_row is not None else None,
                                      last.resolved_at if last is not None else None, now,
                                      cooldown)
            text = rules.message(rule, ep, mv, feat, value)
            if action == "open":
                alert_id = new_id()
                conn.execute(_alerts.insert().values(
                    id=alert_id, rule=rule.name, key=key, open_key=key, endpoint=ep,
                    model_version=mv, feature=feat, metric=rule.metric, value=value,
                    threshold=rule.threshold, op=rule.op, severity=rule.severity, state="open",
                    message=text, count=1, opened_at=now, last_seen=now, resolved_at=None,
                    notified_at=None, delivery={}))
                events.append(self._event(conn, "opened", alert_id, rule))
            elif action == "reopen":
                assert last is not None
                conn.execute(_alerts.update().where(_alerts.c.id == last.id).values(
                    state="open", open_key=key, resolved_at=None, value=value, message=text,
                    last_seen=now, count=last.count + 1))
                events.append(self._event(conn, "reopened", last.id, rule))
            elif action == "repeat":
                assert open_row is not None
                conn.execute(_alerts.update().where(_alerts.c.id == open_row.id).values(
                    value=value, last_seen=now, count=open_row.count + 1, message=text))
            elif action == "resolve":
                assert open_row is not None
                conn.execute(_alerts.update().where(_alerts.c.id == open_row.id).values(
                    state="resolved", open_key=None, resolved_at=now, value=value))
                events.append(self._event(conn, "resolved", open_row.id, rule))
        return events

    def _event(self, conn: Connection, event: str, alert_id: str, rule: AlertRule) -> AlertEvent:
        row = conn.execute(sa.select(_alerts).where(_alerts.c.id == alert_id)).one()
        return AlertEvent(event=event, alert=_alert(row), webhooks=list(rule.webhooks))  # type: ignore[arg-type]


def _same_label(old: Any, new: Any) -> bool:
    return type(old) is type(new) and old == new or (
        not isinstance(old, (bool, str)) and not isinstance(new, (bool, str)) and old == new)


def _point(r: Any) -> MetricPoint:
    return MetricPoint(run_id=r.run_id, endpoint=r.endpoint, model_version=r.model_version,
                       route=r.route, window_start=r.window_start, window_end=r.window_end,
                       name=r.name, feature=r.feature, value=r.value)


def _alert(r: Any) -> Alert:
    m = dict(r._mapping)
    m.pop("open_key", None)
    m["delivery"] = m.get("delivery") or {}
    return Alert(**m)
