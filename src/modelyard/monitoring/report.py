"""Self-contained HTML reports (Jinja2 + Plotly). Plotly's JavaScript comes from the installed
``plotly`` package and is inlined, so a report opens offline and never calls a CDN.

Figures are plain Plotly JSON specs built here (no Python figure objects), one per feature
(reference vs current histogram, with the deciding test and threshold in the title) and one
per series over time (drift share, accuracy realised vs estimated, p99 latency, outlier share).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..htmlsafe import json_for_html, plotly_literal
from .compare import Comparison
from .drift import TESTS
from .entities import Alert, DriftReport, FeatureDrift, MetricPoint, MonitorResult

__all__ = ["plotly_js", "render_drift_html", "render_monitor_html"]

_TEMPLATES = Path(__file__).parent / "templates"
_REF = "#6c757d"
_CUR = "#d9480f"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle of the installed plotly package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(_TEMPLATES)),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = _num
    env.filters["tojson"] = json_for_html  # the one way data reaches the page's script
    return env


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _feature_figure(f: FeatureDrift) -> dict[str, Any] | None:
    h = f.histogram
    if not h:
        return None
    verdict = "DRIFT" if f.drifted else "no drift"
    how = f"{f.test} {_num(f.statistic)}" + (f", p={_num(f.p_value)}" if f.p_value is not None else "")
    title = f"{f.feature}: {verdict} ({how}; threshold {_num(f.threshold)})"
    if h.get("type") == "categorical":
        x = h["categories"]
        data = [
            {"type": "bar", "name": "reference", "x": x, "y": h["reference"], "marker": {"color": _REF}},
            {"type": "bar", "name": "current", "x": x, "y": h["current"], "marker": {"color": _CUR}},
        ]
    else:
        edges = h["edges"]
        centers = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        widths = [b - a for a, b in itertools.pairwise(edges)]
        data = [
            {"type": "bar", "name": "reference", "x": centers, "y": h["reference"], "width": widths,
             "marker": {"color": _REF}, "opacity": 0.6},
            {"type": "bar", "name": "current", "x": centers, "y": h["current"], "width": widths,
             "marker": {"color": _CUR}, "opacity": 0.6},
        ]
    layout = {"title": {"text": title, "font": {"size": 13}}, "barmode": "overlay"
              if h.get("type") != "categorical" else "group", "height": 280,
              "margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "yaxis": {"title": "share"},
              "legend": {"orientation": "h"}}
    return plotly_literal({"data": data, "layout": layout})


def _drift_context(report: DriftReport) -> dict[str, Any]:
    figures = []
    for i, f in enumerate(report.features):
        fig = _feature_figure(f)
        if fig is not None:
            figures.append({"id": f"f{i}", "spec": fig})
    return {"report": report, "figures": figures,
            "tests": {name: t.label for name, t in TESTS.items()}}


def render_drift_html(report: DriftReport, *, title: str = "Drift report") -> str:
    ctx = _drift_context(report)
    return _env().get_template("drift.html.j2").render(
        title=title, plotly_js=Markup(plotly_js()), all_figures=ctx["figures"], **ctx)


def _series_figures(points: list[MetricPoint]) -> list[dict[str, Any]]:
    """Time-series figures from stored points: one line per model version/route."""
    wanted = [
        ("drift_share", None, "Drift share (share of drifted input features)"),
        ("accuracy", "estimated_accuracy", "Accuracy: realised (ground truth) vs estimated (CBPE)"),
        ("rmse", None, "RMSE (ground truth)"),
        ("outlier_share", None, "Outlier share"),
        ("latency_p99_ms", None, "p99 latency (ms)"),
    ]
    by_name: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        if p.feature is not None:
            continue
        who = f"v{p.model_version}" if p.model_version else "all"
        if p.route:
            who += f" ({p.route})"
        by_name[p.name][who].append((p.window_end.isoformat(), p.value))
    figs = []
    for name, companion, title in wanted:
        if name not in by_name:
            continue
        data = []
        for who, xy in sorted(by_name[name].items()):
            data.append({"type": "scatter", "mode": "lines+markers", "name": f"{who}",
                         "x": [x for x, _ in xy], "y": [y for _, y in xy]})
        if companion and companion in by_name:
            for who, xy in sorted(by_name[companion].items()):
                data.append({"type": "scatter", "mode": "lines+markers", "name": f"{who} estimated",
                             "line": {"dash": "dot"}, "x": [x for x, _ in xy],
                             "y": [y for _, y in xy]})
        figs.append({"id": f"s{len(figs)}", "spec": plotly_literal({"data": data, "layout": {
            "title": {"text": title, "font": {"size": 13}}, "height": 280,
            "margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "legend": {"orientation": "h"}}})})
    return figs


def _comparison_figures(c: Comparison) -> list[dict[str, Any]]:
    """The versions' predictions side by side and each one's difference from the champion
    with its confidence interval."""
    figs = []
    shown = [v for v in c.versions if v.predictions.kind != "none"]
    if shown:
        data = []
        for v in shown:
            p = v.predictions
            share = [n / max(sum(p.counts), 1) for n in p.counts]
            x = p.labels if p.kind == "categorical" else [
                (a + b) / 2 for a, b in itertools.pairwise(p.edges)]
            data.append({"type": "bar", "name": f"{v.route} {v.ref}", "x": x, "y": share})
        figs.append({"id": "cmp-pred", "spec": plotly_literal({"data": data, "layout": {
            "title": {"text": "Predictions side by side (share of each version's rows)",
                      "font": {"size": 13}}, "barmode": "group", "height": 280,
            "margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "legend": {"orientation": "h"}}})})
    diffs = [v for v in c.versions if v.versus_champion is not None
             and v.versus_champion.low is not None]
    if diffs:
        d0 = diffs[0].versus_champion
        assert d0 is not None
        what = "accuracy" if d0.metric == "accuracy" else "MAE"
        ys = [f"{v.route} {v.ref}" for v in diffs]
        xs = [v.versus_champion.difference for v in diffs if v.versus_champion]
        plus = [v.versus_champion.high - v.versus_champion.difference  # type: ignore[operator]
                for v in diffs if v.versus_champion]
        minus = [v.versus_champion.difference - v.versus_champion.low  # type: ignore[operator]
                 for v in diffs if v.versus_champion]
        figs.append({"id": "cmp-diff", "spec": plotly_literal({"data": [{
            "type": "scatter", "mode": "markers", "x": xs, "y": ys, "name": "difference",
            "error_x": {"type": "data", "symmetric": False, "array": plus,
                        "arrayminus": minus}}], "layout": {
            "title": {"text": f"{what}: candidate - champion ({d0.confidence:.0%} interval)",
                      "font": {"size": 13}}, "height": 120 + 40 * len(diffs),
            "margin": {"l": 140, "r": 10, "t": 40, "b": 40},
            "shapes": [{"type": "line", "x0": 0, "x1": 0, "yref": "paper", "y0": 0, "y1": 1,
                        "line": {"dash": "dot", "color": _REF}}]}})})
    return figs


def render_monitor_html(result: MonitorResult, history: list[MetricPoint],
                        alerts: list[Alert], comparison: Comparison | None = None) -> str:
    groups = []
    for gi, g in enumerate(result.groups):
        ctx = _drift_context(g.drift)
        for fig in ctx["figures"]:
            fig["id"] = f"g{gi}{fig['id']}"
        groups.append({"group": g, **ctx})
    series = _series_figures(history)
    compared = _comparison_figures(comparison) if comparison is not None else []
    figures = series + compared + [fig for item in groups for fig in item["figures"]]
    return _env().get_template("monitor.html.j2").render(
        title=f"Monitoring report: {result.run.endpoint}", result=result, run=result.run,
        groups=groups, series=series, alerts=alerts, all_figures=figures,
        comparison=comparison, compared=compared,
        tests={name: t.label for name, t in TESTS.items()},
        plotly_js=Markup(plotly_js()))
