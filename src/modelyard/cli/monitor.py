"""``modelyard monitor run|report|compare|alerts|feedback|rule|deliver|deliveries``: monitoring from
the command line.

    modelyard monitor run loans --window 1h           # evaluate now, store, alert
    modelyard monitor run                             # every configured monitor
    modelyard monitor report loans --window 1d -o drift.html [--format json]
    modelyard monitor compare loans --window 7d [--json]   # the versions on the same traffic
    modelyard monitor alerts [--state open]
    modelyard monitor feedback PREDICTION_ID LABEL    # or --file labels.csv
    modelyard monitor rule drift --metric drift_share --threshold 0.3 --webhook URL
    modelyard monitor deliver [--follow]              # send the alert webhooks that are due
    modelyard monitor deliveries [--state failed]     # webhook deliveries and their outcome
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._context import open_yard

HomeOption = Annotated[Path | None, typer.Option(help="The yard's folder (default ./.modelyard).")]

monitor_app = typer.Typer(help="Drift, data quality, performance and alerts of served models.",
                          no_args_is_help=True)


def _yard(home: Path | None) -> Any:
    """The yard the global options (``--home/--db/--remote``) point at; ``--home`` here wins."""
    return open_yard(None, home=home)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    run = result.run
    console = Console()
    console.print(f"[bold]{run.endpoint}[/bold] {run.window_start:%Y-%m-%d %H:%M} → "
                  f"{run.window_end:%Y-%m-%d %H:%M} UTC: {run.n_rows:,} predictions, status "
                  f"[bold]{run.status}[/bold], reference {run.reference or '–'}")
    for f in result.findings:
        console.print(f"  {f.severity}: {f.message}")
    if result.groups:
        table = Table("version", "route", "rows", "drift share", "drifted", "prediction drift",
                      "accuracy / rmse", "estimated acc.", "outliers", "p99 ms")
        for g in result.groups:
            perf = g.performance.get("accuracy", g.performance.get("rmse"))
            table.add_row(
                str(g.model_version or "–"), (g.route or "–") + (" (shadow)" if g.shadow else ""),
                f"{g.n_rows:,}", f"{g.drift.drift_share:.0%}",
                ", ".join(g.drift.drifted_features) or "–",
                ", ".join(f.feature for f in g.drift.prediction_drift if f.drifted) or "–",
                "–" if perf is None else f"{perf:.3f}",
                "–" if "estimated_accuracy" not in g.estimated else f"{g.estimated['estimated_accuracy']:.3f}",
                "–" if g.outliers.get("share") is None else f"{g.outliers['share']:.2%}",
                "–" if "latency_p99_ms" not in g.latency else f"{g.latency['latency_p99_ms']:.1f}",
            )
        console.print(table)
    for ev in result.events:
        console.print(f"  alert {ev.event}: {ev.alert.message}")


@monitor_app.command("run")
def run_command(
    endpoint: str | None = typer.Argument(None, help="Endpoint; default: every configured monitor."),
    window: str | None = typer.Option(None, help="Window before --end (default now), e.g. 1h, 1d."),
    start: str | None = typer.Option(None, help="Window start (ISO-8601)."),
    end: str | None = typer.Option(None, help="Window end (ISO-8601); default now."),
    reference: str | None = typer.Option(
        None, help="'dataset:NAME', 'dataset:NAME/VERSION' or 'window:START/END'; default: lineage."),
    segment_by: str | None = typer.Option(None, help="Feature to break performance down by."),
    alerts: bool = typer.Option(True, "--alerts/--no-alerts", help="Evaluate alert rules."),
    save: bool = typer.Option(True, "--save/--no-save", help="Store the results."),
    format: str = typer.Option("text", "--format", help="text or json."),
    home: HomeOption = None,
) -> None:
    """Evaluate monitors now: drift, quality, outliers, performance; store them; alert."""
    from rich.console import Console

    if format not in ("text", "json"):
        raise typer.BadParameter(f"--format must be text or json; got {format!r}")
    with _yard(home) as yard, Console(stderr=True).status("monitoring…"):
        if endpoint is not None:  # a mistyped name is an error, not "no data"
            yard.predictions.require_endpoint(
                endpoint, known=[m.endpoint for m in yard.monitoring.monitors()])
        out = yard.monitoring.run(endpoint, window=window, start=start, end=end,
                                  **({"reference": reference, "segment_by": segment_by}
                                     if endpoint else {}),
                                  save=save, alerts=alerts)
        results = out if isinstance(out, list) else [out]
        deliveries = _deliver_now(yard, [ev for r in results for ev in r.events])
    if format == "json":
        _echo_json([r.to_dict() for r in results])
    else:
        if not results:
            typer.echo("No monitors configured: name an endpoint, or configure one with "
                       "yard.monitoring.configure(...).")
        for r in results:
            _print_result(r)
    for d in deliveries:
        _print_delivery(d, err=format == "json")


def _deliver_now(yard: Any, events: list[Any]) -> list[Any]:
    """This process exits next: stop its background webhook worker (after the try in
    progress), try what is due once more, and say where each delivery of ``events`` stands
    (what failed stays queued for the server, ``monitor deliver`` or the next run)."""
    alert_ids = {ev.alert.id for ev in events if ev.webhooks and ev.event != "reopened"}
    if not alert_ids:
        return []
    yard.monitoring.close()
    yard.monitoring.deliver()
    return [d for a in sorted(alert_ids) for d in yard.monitoring.deliveries(alert_id=a)]


def _print_delivery(d: Any, *, err: bool = False) -> None:
    how = {"delivered": f"delivered (HTTP {d.status})",
           "failed": f"failed after {d.attempts} tries: {d.error}",
           "pending": f"not yet delivered ({d.error or 'queued'}); next try "
                      f"{d.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" if d.next_attempt_at
                      else "being tried"}[d.state]
    typer.echo(f"  webhook {d.event} → {d.url}: {how}", err=err or d.state != "delivered")


@monitor_app.command("deliver")
def deliver_command(
    follow: bool = typer.Option(False, "--follow", help="Keep delivering until interrupted."),
    home: HomeOption = None,
) -> None:
    """Deliver the alert webhooks that are due (retries included), then exit; with --follow,
    keep delivering as they fall due (a webhook worker beside cron-driven monitor runs)."""
    import time

    with _yard(home) as yard:
        if not follow:
            done = yard.monitoring.deliver()
            for d in done:
                _print_delivery(d)
            if not done:
                typer.echo("No webhook deliveries are due.")
            return
        typer.echo("Delivering alert webhooks; Ctrl-C to stop.")
        try:
            while True:
                for d in yard.monitoring.deliver():
                    _print_delivery(d)
                time.sleep(1.0)
        except KeyboardInterrupt:
            return


@monitor_app.command("deliveries")
def deliveries_command(
    state: str | None = typer.Option(None, help="pending, delivered or failed."),
    limit: int = typer.Option(100, help="At most this many."),
    format: str = typer.Option("text", "--format", help="text or json."),
    home: HomeOption = None,
) -> None:
    """List alert webhook deliveries and their outcome, newest first."""
    from rich.console import Console
    from rich.table import Table

    with _yard(home) as yard:
        rows = yard.monitoring.deliveries(state=state, limit=limit)
    if format == "json":
        _echo_json([d.model_dump(mode="json") for d in rows])
        return
    if not rows:
        typer.echo("No webhook deliveries.")
        return
    table = Table("id", "alert", "event", "url", "state", "tries", "status", "next try", "error")
    for d in rows:
        table.add_row(d.id[:12], d.alert_id[:12], d.event, d.url, d.state, str(d.attempts),
                      str(d.status or "–"),
                      f"{d.next_attempt_at:%H:%M:%S}" if d.next_attempt_at else "–",
                      d.error or "–")
    Console().print(table)


@monitor_app.command("report")
def report_command(
    endpoint: str = typer.Argument(..., help="The endpoint to report on."),
    window: str = typer.Option("1d", help="Window before --end, e.g. 1h, 1d, 7d."),
    start: str | None = typer.Option(None, help="Window start (ISO-8601)."),
    end: str | None = typer.Option(None, help="Window end (ISO-8601); default now."),
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write.")] = None,
    format: str = typer.Option("html", "--format", help="html or json."),
    reference: str | None = typer.Option(None, help="'dataset:NAME', 'dataset:NAME/VERSION' or 'window:START/END'."),
    history: str = typer.Option("30d", help="How much of the stored time series to plot."),
    home: HomeOption = None,
) -> None:
    """Write a self-contained report (HTML with Plotly inlined, or JSON)."""
    from rich.console import Console

    if format not in ("html", "json"):
        raise typer.BadParameter(f"--format must be html or json; got {format!r}")
    options: dict[str, Any] = {"reference": reference} if reference else {}
    with _yard(home) as yard, Console(stderr=True).status("building the report…"):
        text = yard.monitoring.report(endpoint, window=window, start=start, end=end,
                                      format=format, history=history, **options)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output} ({len(text.encode()):,} bytes)")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _difference(d: Any) -> str:
    if d is None:
        return "–"
    if d.difference is None:
        return f"{d.verdict} (n={d.n})"
    sign = "+" if d.difference >= 0 else ""
    what = "accuracy" if d.metric == "accuracy" else "MAE"
    interval = "" if d.low is None else f" [{d.low:+.3f}, {d.high:+.3f}]"
    return (f"{what} {sign}{d.difference:.3f}{interval} {'paired' if d.paired else 'unpaired'} "
            f"n={d.n}: {d.verdict}")


def _print_comparison(c: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 160))
    console.print(f"[bold]{c.endpoint}[/bold] {c.start:%Y-%m-%d %H:%M} → {c.end:%Y-%m-%d %H:%M} "
                  f"UTC: {c.requests:,} answered requests, champion {c.champion or '–'}")
    for f in c.findings:
        console.print(f"  {f.severity}: {f.message}")
    if not c.versions:
        return
    table = Table("route", "version", "role", "requests", "share", "agrees", "p50 / p99 ms",
                  "predictions", "drift", "labelled", "performance", "vs champion (95% CI)")
    for v in c.versions:
        p = v.predictions
        if p.kind == "categorical":
            shown = ", ".join(f"{lb}: {n}" for lb, n in zip(p.labels, p.counts))
        elif v.quantiles:
            shown = " ".join(f"{k}={_num(v.quantiles.get(k))}" for k in ("p5", "p50", "p95"))
        else:
            shown = "–"
        drift = "–"
        if v.drift is not None and v.drift.features:
            drift = f"{v.drift.drift_share:.0%}" + (
                f" ({', '.join(v.drift.drifted_features)})" if v.drift.drifted_features else "")
        perf = ", ".join(f"{k} {_num(val)}" for k, val in v.performance.items()
                         if k in ("accuracy", "f1", "roc_auc", "mae", "rmse")) or "–"
        table.add_row(v.route, v.ref, v.role, f"{v.requests:,}",
                      "" if v.shadow else _pct(v.share),
                      "–" if v.agreement is None else f"{v.agreement:.1%} of {v.compared:,}",
                      f"{_num(v.latency.p50_ms)} / {_num(v.latency.p99_ms)}", shown, drift,
                      f"{v.n_labeled:,}", perf, _difference(v.versus_champion))
    console.print(table)
    console.print(f"[dim]errors: {c.errors}[/dim]")
    if c.sampled:
        console.print(f"[dim]agreement, distributions and performance from a sample of "
                      f"{c.sampled:,} rows (whole requests)[/dim]")


@monitor_app.command("compare")
def compare_command(
    endpoint: str = typer.Argument(..., help="The endpoint whose model versions to compare."),
    window: str | None = typer.Option(None, help="Window before --end, e.g. 1h, 1d, 7d "
                                      "(default: the monitor's, else 1d)."),
    start: str | None = typer.Option(None, help="Window start (ISO-8601)."),
    end: str | None = typer.Option(None, help="Window end (ISO-8601); default now."),
    champion: str | None = typer.Option(None, help="The champion's route (default: the route "
                                        "that answered most)."),
    reference: str | None = typer.Option(
        None, help="'dataset:NAME', 'dataset:NAME/VERSION' or 'window:START/END'; default: "
                   "the monitor's, else lineage."),
    drift: bool = typer.Option(True, "--drift/--no-drift", help="Compute drift (reads the inputs)."),
    confidence: float = typer.Option(0.95, help="Confidence of the intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    home: HomeOption = None,
) -> None:
    """Compare an endpoint's model versions on the same traffic: agreement, distributions,
    latency, drift, and realised performance with a paired confidence interval."""
    from rich.console import Console

    with _yard(home) as yard, Console(stderr=True).status("comparing…"):
        yard.predictions.require_endpoint(endpoint)
        c = yard.monitoring.compare(endpoint, window=window, start=start, end=end,
                                    champion=champion, reference=reference, drift=drift,
                                    confidence=confidence)
    if as_json:
        _echo_json(c.to_dict())
    else:
        _print_comparison(c)


@monitor_app.command("alerts")
def alerts_command(
    state: str | None = typer.Option(None, help="open or resolved."),
    endpoint: str | None = typer.Option(None, help="Only this endpoint."),
    limit: int = typer.Option(100, help="At most this many."),
    format: str = typer.Option("text", "--format", help="text or json."),
    home: HomeOption = None,
) -> None:
    """List alerts, most recently seen first."""
    from rich.console import Console
    from rich.table import Table

    with _yard(home) as yard:
        alerts = yard.monitoring.alerts(state=state, endpoint=endpoint, limit=limit)
    if format == "json":
        _echo_json([a.model_dump(mode="json") for a in alerts])
        return
    if not alerts:
        typer.echo("No alerts.")
        return
    table = Table("id", "state", "severity", "rule", "endpoint", "value", "seen", "last seen", "message")
    for a in alerts:
        table.add_row(a.id[:12], a.state, a.severity, a.rule, a.endpoint, f"{a.value:.4g}",
                      f"{a.count}×", f"{a.last_seen:%Y-%m-%d %H:%M}", a.message)
    Console().print(table)


@monitor_app.command("feedback")
def feedback_command(
    prediction_id: str | None = typer.Argument(None, help="A logged prediction's id."),
    label: str | None = typer.Argument(None, help="Its true label (numbers are read as numbers)."),
    file: Annotated[Path | None, typer.Option(
        "--file", help="CSV or Parquet with prediction_id, label.")] = None,
    home: HomeOption = None,
) -> None:
    """Record ground truth (late and idempotent)."""
    with _yard(home) as yard:
        if file is not None:
            res = yard.monitoring.feedback(items=str(file))
        elif prediction_id is not None and label is not None:
            res = yard.monitoring.feedback(prediction_id, _parse_label(label))
        else:
            raise typer.BadParameter("give PREDICTION_ID LABEL, or --file")
    typer.echo(f"created {res.created}, updated {res.updated}, unchanged {res.unchanged}"
               + (f"; {res.unmatched} not in the prediction log yet (recorded unchecked)"
                  if res.unmatched else ""))


def _parse_label(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool, str)) else text


@monitor_app.command("rule")
def rule_command(
    name: str = typer.Argument(..., help="The rule's name."),
    metric: str = typer.Option(..., help="A figure monitor runs store: drift_share, psi (with "
                               "--feature), accuracy, latency_p99_ms, outlier_share … (a name no "
                               "run stores is refused)."),
    threshold: float = typer.Option(..., help="The threshold."),
    op: str = typer.Option(">", help="One of > >= < <=."),
    endpoint: str = typer.Option("*", help="Endpoint, or * for all."),
    feature: str | None = typer.Option(None, help="Feature (for per-feature metrics), or *."),
    window: str = typer.Option("1h", help="Runs whose window ended this recently are read."),
    agg: str = typer.Option("last", help="last, mean, max or min over the window."),
    cooldown: str = typer.Option("1h", help="Re-open silently within this time of a resolve."),
    webhook: Annotated[list[str] | None, typer.Option(
        "--webhook", help="URL to POST the alert to (repeat).")] = None,
    severity: str = typer.Option("warning", help="info, warning or error."),
    home: HomeOption = None,
) -> None:
    """Create or replace an alert rule."""
    with _yard(home) as yard:
        rule = yard.monitoring.alert_rule(name, metric=metric, threshold=threshold, op=op,
                                          endpoint=endpoint, feature=feature, window=window,
                                          agg=agg, cooldown=cooldown, webhooks=list(webhook or []),
                                          severity=severity)
    typer.echo(f"rule {rule.name}: {rule.metric}{'[' + rule.feature + ']' if rule.feature else ''} "
               f"{rule.op} {rule.threshold:g} over {rule.window} on {rule.endpoint}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(monitor_app, name="monitor")
