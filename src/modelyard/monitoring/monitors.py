"""``yard.monitoring``: ground truth, monitor runs, the results time series, alerts, reports.

    yard.feedback(prediction_id, 1)                          # = yard.monitoring.feedback(...)
    yard.monitoring.feedback(items=[{"prediction_id": i, "label": y} for i, y in ...])
    yard.monitoring.configure("loans", reference="dataset:loans/3", window="1h")
    result = yard.monitoring.run("loans", window="1h")       # MonitorResult (stored, alerts evaluated)
    yard.monitoring.alert_rule("drift", metric="drift_share", op=">", threshold=0.3,
                               webhooks=["https://hooks.example/alerts"])
    yard.monitoring.report("loans", window="1d", path="drift.html")
    yard.monitoring.results("loans", name="accuracy")        # polars DataFrame: the time series

:meth:`Monitoring.run` is a plain function of its arguments (plus the yard's clock): the
scheduler calls it on a cron, ``modelyard monitor run`` on demand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from ..clock import parse_time
from ..errors import InvalidParameter, NotFound
from ..ids import new_id
from .compare import MAX_ROWS, Comparison, compare_window
from .delivery import Deliverer
from .entities import (
    Alert,
    AlertEvent,
    AlertRule,
    Delivery,
    Feedback,
    FeedbackResult,
    Finding,
    MonitorConfig,
    MonitorResult,
    MonitorRun,
)
from .evaluation import WindowEvaluation, labels_frame, metric_points, window_slack
from .references import INPUT, OUTPUT, ReferenceResolver
from .windows import format_duration, parse_duration, resolve_window

if TYPE_CHECKING:
    from ..yard import Yard

__all__ = ["Monitoring", "run_monitors"]

class Monitoring:
    """The monitoring domain of a yard (see the module docstring)."""

    def __init__(self, yard: Yard) -> None:
        self._yard = yard
        self._delivery: Deliverer | None = None

    @property
    def _store(self) -> Any:
        return self._yard.backend.monitoring

    # ---- ground truth ---------------------------------------------------------------------------
    def feedback(
        self,
        prediction_id: str | Sequence[str] | None = None,
        label: Any = None,
        *,
        items: Any = None,
        endpoint: str | None = None,
    ) -> FeedbackResult:
        """Record the true label of logged predictions: ``feedback(id, label)``,
        ``feedback([ids], [labels])``, or ``feedback(items=...)`` with a list of
        ``{"prediction_id", "label"}`` or a DataFrame with those columns. Idempotent; labels
        may come long after the prediction."""
        if items is not None and not isinstance(items, list):
            table_items = _items_from_table(items)
            return self._store.feedback(items=table_items, endpoint=endpoint)  # type: ignore[no-any-return]
        if isinstance(prediction_id, (list, tuple)):
            labels = list(label) if isinstance(label, (list, tuple)) else None
            if labels is None or len(labels) != len(prediction_id):
                raise InvalidParameter(
                    "label must be a list as long as prediction_id when prediction_id is a list. "
                    f"Got {label!r} instead.", field="label")
            items = [{"prediction_id": p, "label": _plain(v)} for p, v in zip(prediction_id, labels)]
            return self._store.feedback(items=items, endpoint=endpoint)  # type: ignore[no-any-return]
        if items is not None:
            return self._store.feedback(items=items, endpoint=endpoint)  # type: ignore[no-any-return]
        return self._store.feedback(prediction_id=prediction_id, label=_plain(label),  # type: ignore[no-any-return]
                                    endpoint=endpoint)

    def get_feedback(self, prediction_id: str) -> Feedback:
        return self._store.get_feedback(prediction_id)  # type: ignore[no-any-return]

    # ---- configuration --------------------------------------------------------------------------
    def configure(self, endpoint: str, *, reference: str | None = None, window: str = "1d",
                  features: list[str] | None = None, tests: dict[str, str] | None = None,
                  thresholds: dict[str, float] | None = None,
                  segment_by: str | None = None) -> MonitorConfig:
        """Save what ``modelyard monitor run`` (and the scheduler) evaluates for ``endpoint``."""
        return self._store.set_monitor(endpoint, reference=reference, window=window,  # type: ignore[no-any-return]
                                       features=features, tests=tests, thresholds=thresholds,
                                       segment_by=segment_by)

    def monitors(self) -> list[MonitorConfig]:
        return self._store.list_monitors()  # type: ignore[no-any-return]

    # ---- alerts ---------------------------------------------------------------------------------
    def alert_rule(self, name: str, *, metric: str, threshold: float, **options: Any) -> AlertRule:
        """Create or replace an alert rule; options: ``op``, ``endpoint``, ``feature``,
        ``model_version``, ``window``, ``agg``, ``cooldown``, ``webhooks``, ``severity``,
        ``enabled`` (see :class:`~modelyard.monitoring.entities.AlertRule`)."""
        return self._store.set_alert_rule(name, metric=metric, threshold=threshold, **options)  # type: ignore[no-any-return]

    def alert_rules(self) -> list[AlertRule]:
        return self._store.list_alert_rules()  # type: ignore[no-any-return]

    def delete_alert_rule(self, name: str) -> None:
        self._store.delete_alert_rule(name)

    def alerts(self, *, state: str | None = None, endpoint: str | None = None,
               limit: int = 100) -> list[Alert]:
        return self._store.list_alerts(state=state, endpoint=endpoint, limit=limit)  # type: ignore[no-any-return]

    def resolve_alert(self, alert_id: str) -> Alert:
        return self._store.resolve_alert(alert_id)  # type: ignore[no-any-return]

    def evaluate_alerts(self, endpoint: str | None = None) -> list[AlertEvent]:
        """Evaluate the rules now; ``opened``/``resolved`` events are queued for their webhooks
        and delivered in the background (never waited for here; see
        :mod:`~modelyard.monitoring.delivery`)."""
        events: list[AlertEvent] = self._store.evaluate_alerts(endpoint)
        if any(ev.event != "reopened" and ev.webhooks for ev in events) \
                and not self._yard.backend.is_remote:  # a server delivers its own
            self._deliverer().wake()
        return events

    # ---- webhook deliveries -------------------------------------------------------------------
    def deliver(self, limit: int = 100) -> list[Delivery]:
        """Try every webhook delivery due now once, in the foreground (on a remote yard, on
        the server); returns their new state. Failed tries stay queued for their next
        attempt."""
        return self._store.run_deliveries(limit=limit)  # type: ignore[no-any-return]

    def deliveries(self, *, state: str | None = None, alert_id: str | None = None,
                   limit: int = 100) -> list[Delivery]:
        """Webhook deliveries and their outcome, newest first (``pending``, ``delivered``,
        ``failed``)."""
        return self._store.list_deliveries(state=state, alert_id=alert_id, limit=limit)  # type: ignore[no-any-return]

    def _deliverer(self) -> Deliverer:
        if self._delivery is None:
            self._delivery = Deliverer(self._store)
        return self._delivery

    def close(self) -> None:
        """Stop the background webhook worker, if one runs (after its try in progress)."""
        if self._delivery is not None:
            self._delivery.stop()

    # ---- the time series --------------------------------------------------------------------------
    def results(self, endpoint: str | None = None, *, name: str | None = None,
                feature: str | None = None, model_version: str | int | None = None,
                start: Any = None, end: Any = None) -> pl.DataFrame:
        """Stored monitor figures as a DataFrame (``window_end, endpoint, model_version, route,
        name, feature, value``), oldest first: what to plot over time."""
        points = self._store.metrics(
            endpoint=endpoint, name=name, feature=feature,
            model_version=None if model_version is None else str(model_version),
            start=start, end=end)
        schema = {"window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC"),
                  "endpoint": pl.String, "model_version": pl.String, "route": pl.String,
                  "name": pl.String, "feature": pl.String, "value": pl.Float64}
        return pl.DataFrame([{k: getattr(p, k) for k in schema} for p in points], schema=schema)

    def runs(self, endpoint: str | None = None, *, limit: int = 100) -> list[MonitorRun]:
        return self._store.list_runs(endpoint=endpoint, limit=limit)  # type: ignore[no-any-return]

    # ---- running a monitor ------------------------------------------------------------------------
    def run(
        self,
        endpoint: str | None = None,
        *,
        window: str | timedelta | None = None,
        start: Any = None,
        end: Any = None,
        reference: Any = None,
        features: list[str] | None = None,
        tests: str | Mapping[str, str] | None = None,
        thresholds: float | Mapping[str, float] | None = None,
        segment_by: str | None = None,
        model_version: int | None = None,
        save: bool = True,
        alerts: bool = True,
        batch_size: int = 65_536,
    ) -> MonitorResult | list[MonitorResult]:
        """Evaluate ``endpoint`` over a window of its prediction log: drift of inputs and
        predictions against the reference, data quality, outliers, latency, realised
        performance from ground truth and its CBPE estimate, per model version and route.

        Window: ``start``/``end``, or the last ``window`` before ``end`` (default now). Options
        not given come from the endpoint's saved configuration (:meth:`configure`). With
        ``save`` the figures join the time series; with ``alerts`` the rules are evaluated and
        their webhooks queued (delivered in the background, never waited for here). With no ``endpoint``, every configured monitor runs (a list).
        """
        if self._yard.backend.is_remote:  # the server reads its log where it lies
            names = [endpoint] if endpoint is not None else [c.endpoint for c in self.monitors()]
            results = [self._run_remote(name, window=window, start=start, end=end,
                                        reference=reference, features=features, tests=tests,
                                        thresholds=thresholds, segment_by=segment_by,
                                        model_version=model_version, save=save, alerts=alerts)
                       for name in names]
            return results[0] if endpoint is not None else results
        if endpoint is None:
            return [self._run_one(c.endpoint, config=c, window=window, start=start, end=end,
                                  save=save, alerts=alerts, batch_size=batch_size)
                    for c in self.monitors()]
        config = self._config(endpoint)
        overrides = {"reference": reference, "features": features, "tests": tests,
                     "thresholds": thresholds, "segment_by": segment_by}
        return self._run_one(endpoint, config=config, window=window, start=start, end=end,
                             save=save, alerts=alerts, batch_size=batch_size,
                             model_version=model_version, overrides=overrides)

    def _run_remote(self, endpoint: str, *, window: Any, start: Any, end: Any, reference: Any,
                    **options: Any) -> MonitorResult:
        reference_table = None
        if reference is not None and not isinstance(reference, str):
            # a table given here goes to the server's blob store (Parquet) and the run there
            # reads it: the log stays where it lies
            reference_table = self._yard.backend.blobs.put_bytes(_parquet_bytes(reference))
            reference = None
        if isinstance(window, timedelta):
            window = format_duration(window)
        return self._yard.backend.monitor_service.evaluate(  # type: ignore[no-any-return]
            endpoint, window=window,
            start=None if start is None else parse_time(start, field="start"),
            end=None if end is None else parse_time(end, field="end"),
            reference=reference, reference_table=reference_table, **options)

    def _config(self, endpoint: str) -> MonitorConfig:
        try:
            return self._store.get_monitor(endpoint)  # type: ignore[no-any-return]
        except NotFound:
            return MonitorConfig(endpoint=endpoint)

    def _run_one(self, endpoint: str, *, config: MonitorConfig, window: Any, start: Any,
                 end: Any, save: bool, alerts: bool, batch_size: int,
                 model_version: int | None = None,
                 overrides: dict[str, Any] | None = None) -> MonitorResult:
        o = {k: v for k, v in (overrides or {}).items() if v is not None}
        s, e = resolve_window(self._yard.clock, start=start, end=end,
                              window=window if window is not None else config.window)
        reference = o.get("reference", config.reference)
        segment_by = o.get("segment_by", config.segment_by)
        tests = o.get("tests", config.tests or None)
        thresholds = o.get("thresholds", config.thresholds or None)
        columns, read, log_findings = self._window(endpoint, s, e, model_version, batch_size)
        features = o.get("features", config.features)
        inputs = list(features) if features else [c[len(INPUT):] for c in columns
                                                   if c.startswith(INPUT)]
        outputs = [c for c in columns if c.startswith(OUTPUT)]
        if segment_by and segment_by not in inputs and segment_by in columns:
            inputs_read = [segment_by]
        else:
            inputs_read = []
        batches = read([c for c in columns if not c.startswith(INPUT)]
                       + [f"{INPUT}{f}" for f in inputs] + inputs_read)
        resolver = ReferenceResolver(self._yard, endpoint, spec=reference, inputs=inputs,
                                     outputs=outputs, tests=tests, thresholds=thresholds)
        ev = WindowEvaluation(resolver, inputs=inputs, outputs=outputs,
                              labels=self._labels(endpoint, s, e), segment_by=segment_by)
        for batch in batches:
            ev.update(batch)
        groups, findings = ev.results()
        findings.extend(log_findings)
        status = "ok"
        if ev.n_rows == 0:
            status = "no data"
            findings.insert(0, Finding(kind="no_data", severity="warning", message=(
                f"No predictions of {endpoint!r} between {s.isoformat()} and {e.isoformat()}.")))
        elif all(g.drift.features == [] for g in groups) and any(
                f.kind == "no_reference" for f in findings):
            status = "no reference"
        labels = sorted({r.label for r in resolver.references() if r.drift is not None})
        run = MonitorRun(
            id=new_id(), endpoint=endpoint, window_start=s, window_end=e, status=status,  # type: ignore[arg-type]
            n_rows=ev.n_rows, reference=", ".join(labels) or None,
            summary=_summary(groups, findings), created_at=self._yard.clock.now())
        result = MonitorResult(run=run, groups=groups, findings=findings)
        if save:
            try:
                run.report_digest = self._yard.backend.blobs.put_bytes(
                    orjson.dumps(result.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY))
            except (AttributeError, NotImplementedError):
                run.report_digest = None
            result.run = self._store.record_run(run, metric_points(endpoint, s, e, groups))
            if alerts:
                result.events = self.evaluate_alerts(endpoint)
        return result

    def _window(self, endpoint: str, s: datetime, e: datetime, model_version: int | None,
                batch_size: int) -> tuple[list[str], Any, list[Finding]]:
        """The window's columns, a function giving its batches for a list of columns, and
        findings about reading it (bytes of the log that could not be read)."""
        win = self._yard.predictions.window(endpoint, s, e, model_version=model_version)

        def read(columns: list[str]) -> Any:
            return win.batches(columns=columns, batch_size=batch_size)

        findings = []
        if win.skipped_bytes:
            findings.append(Finding(
                kind="log_unreadable", severity="warning", value=float(win.skipped_bytes),
                message=f"{win.skipped_bytes} bytes of the prediction log's pending segments "
                        "could not be read and were skipped (see the server log and "
                        "`modelyard predictions doctor`)."))
        return win.columns, read, findings

    def _labels(self, endpoint: str, s: datetime, e: datetime) -> pl.DataFrame | None:
        lo, hi = s - window_slack(), e + window_slack()
        ids, labels = self._store.feedback_labels(lo, hi, endpoint)
        return labels_frame(ids, labels) if ids else None

    # ---- comparing the versions on the same traffic ---------------------------------------------
    def compare(self, endpoint: str, *, window: str | timedelta | None = None, start: Any = None,
                end: Any = None, champion: str | None = None, reference: Any = None,
                drift: bool = True, confidence: float = 0.95,
                max_rows: int | None = None) -> Comparison:
        """Every model version of ``endpoint`` on the same requests of a window: agreement
        with the champion, prediction distributions, latency, drift, and realised performance
        with the difference from the champion and its confidence interval (see
        :mod:`~modelyard.monitoring.compare`). ``champion``: a route (default the one that
        answered most); ``drift=False`` skips drift (and reading the inputs)."""
        if self._yard.backend.is_remote:  # the server reads its log where it lies
            if reference is not None and not isinstance(reference, str):
                raise InvalidParameter(
                    "reference must be 'dataset:NAME[/VERSION]' or 'window:START/END' on a "
                    f"remote yard. Got {type(reference).__name__} instead.", field="reference")
            return self._yard.backend.monitor_service.compare(  # type: ignore[no-any-return]
                endpoint, window=format_duration(window) if isinstance(window, timedelta)
                else window, start=None if start is None else parse_time(start, field="start"),
                end=None if end is None else parse_time(end, field="end"), champion=champion,
                reference=reference, drift=drift, confidence=confidence, max_rows=max_rows)
        config = self._config(endpoint)
        s, e = resolve_window(self._yard.clock, start=start, end=end,
                              window=window if window is not None else config.window)
        spec = reference if reference is not None else config.reference

        def resolver(inputs: list[str], outputs: list[str]) -> ReferenceResolver:
            return ReferenceResolver(self._yard, endpoint, spec=spec, inputs=inputs,
                                     outputs=outputs, tests=config.tests or None,
                                     thresholds=config.thresholds or None)

        return compare_window(self._yard.predictions.window(endpoint, s, e), endpoint, s, e,
                              labels=self._labels(endpoint, s, e),
                              resolver=resolver if drift else None,
                              features=config.features or None, champion=champion,
                              confidence=confidence, max_rows=max_rows or MAX_ROWS)

    # ---- reports ----------------------------------------------------------------------------------
    def report(self, endpoint: str, *, window: str | timedelta = "1d", start: Any = None,
               end: Any = None, path: str | None = None, format: str = "html",
               history: str | timedelta = "30d", **run_options: Any) -> str:
        """Evaluate a window now (not stored) and render it: a self-contained HTML page
        (per-feature reference-vs-current histograms, the verdict table with the deciding test
        and threshold, quality findings, outliers, performance and drift over time from the
        stored series, open alerts), or ``format="json"``. Written to ``path`` when given."""
        if format not in ("html", "json"):
            raise InvalidParameter(f"format must be 'html' or 'json'. Got {format!r} instead.",
                                   field="format")
        result = self.run(endpoint, window=window, start=start, end=end, save=False,
                          alerts=False, **run_options)
        assert isinstance(result, MonitorResult)
        since = result.run.window_end - parse_duration(history, field="history")
        series = self._store.metrics(endpoint=endpoint, start=since, end=result.run.window_end)
        open_alerts = self.alerts(state="open", endpoint=endpoint)
        comparison = self.compare(endpoint, start=result.run.window_start,  # drift is above
                                  end=result.run.window_end, drift=False)
        if format == "json":
            body = {"result": result.to_dict(),
                    "history": [p.model_dump(mode="json") for p in series],
                    "alerts": [a.model_dump(mode="json") for a in open_alerts],
                    "comparison": comparison.to_dict()}
            text = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
        else:
            from .report import render_monitor_html

            text = render_monitor_html(result, series, open_alerts, comparison)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text


def run_monitors(yard: Yard, endpoint: str | None = None, **options: Any) -> Any:
    """``yard.monitoring.run(...)`` as a function of the yard: what a scheduler job calls."""
    return yard.monitoring.run(endpoint, **options)


def _parquet_bytes(table: Any) -> bytes:
    """A reference table (pandas, polars or Arrow) as Parquet bytes."""
    import io

    module = type(table).__module__
    if module.startswith("pandas"):
        table = pl.from_pandas(table)
    elif module.startswith("pyarrow"):
        table = pl.from_arrow(table)
    if not isinstance(table, pl.DataFrame):
        raise InvalidParameter(
            "reference must be 'dataset:NAME[/VERSION]', 'window:START/END' or a table "
            f"(pandas, polars, Arrow). Got {type(table).__name__} instead.", field="reference")
    buf = io.BytesIO()
    table.write_parquet(buf)
    return buf.getvalue()


def _plain(value: Any) -> Any:
    """numpy scalars (a label taken from an array) as Python values."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def _items_from_table(table: Any) -> list[dict[str, Any]]:
    from .tables import as_table

    t = as_table(table, field="items")
    cols = t.columns
    pid = "prediction_id" if "prediction_id" in cols else "id" if "id" in cols else None
    if pid is None or "label" not in cols:
        raise InvalidParameter(
            f"items as a table must have columns 'prediction_id' (or 'id') and 'label'. Got "
            f"{cols} instead.", field="items")
    ids = t.column(pid).to_list()
    labels = t.column("label").to_list()
    return [{"prediction_id": i, "label": v} for i, v in zip(ids, labels)]


def _summary(groups: list[Any], findings: list[Finding]) -> dict[str, Any]:
    return {
        "groups": [
            {"model_version": g.model_version, "route": g.route, "shadow": g.shadow,
             "n_rows": g.n_rows, "n_labeled": g.n_labeled,
             "drift_share": g.drift.drift_share, "drifted": g.drift.drifted,
             "drifted_features": g.drift.drifted_features,
             "prediction_drift": [f.feature for f in g.drift.prediction_drift if f.drifted],
             "performance": g.performance, "estimated": g.estimated,
             "outlier_share": g.outliers.get("share"), "latency_p99_ms": g.latency.get("latency_p99_ms")}
            for g in groups
        ],
        "findings": [f.model_dump(mode="json") for f in findings],
    }
