"""The backtest's self-contained HTML report: the summary table, the metric over time per
policy with retrain markers, drift of the model in use, cost against benefit, and every
step. Plotly's JavaScript is inlined from the installed package; data reaches the page's
script only as escaped JSON (:func:`modelyard.htmlsafe.json_for_html`) and strings Plotly
reads as markup are escaped (:func:`modelyard.htmlsafe.plotly_literal`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ...htmlsafe import json_for_html, plotly_literal
from ...monitoring.report import plotly_js
from .results import BacktestResult

__all__ = ["render_backtest_html"]

_COLORS = ["#1c7ed6", "#e8590c", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c",
           "#5c940d"]


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["tojson"] = json_for_html
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _layout(title: str, y: str) -> dict[str, Any]:
    return {"title": {"text": title}, "height": 360, "margin": {"l": 60, "r": 20, "t": 50,
                                                                 "b": 40},
            "yaxis": {"title": {"text": y}}, "legend": {"orientation": "h"}}


def _figures(result: BacktestResult) -> list[dict[str, Any]]:
    metric_traces: list[dict[str, Any]] = []
    drift_traces: list[dict[str, Any]] = []
    for i, policy in enumerate(result.policies):
        color = _COLORS[i % len(_COLORS)]
        steps = result.policy(policy.name)
        x = [s.start.isoformat() for s in steps]
        metric_traces.append({"type": "scatter", "mode": "lines", "name": policy.name,
                              "x": x, "y": [s.metric for s in steps],
                              "line": {"color": color, "shape": "hv"}})
        retrained = [s for s in steps if s.retrained]
        if retrained:
            metric_traces.append({
                "type": "scatter", "mode": "markers", "name": f"{policy.name}: retrain",
                "x": [s.start.isoformat() for s in retrained],
                "y": [s.metric for s in retrained],
                "text": [s.reason or "" for s in retrained], "hoverinfo": "x+y+text",
                "marker": {"color": color, "symbol": "triangle-up", "size": 11}})
        drift_traces.append({"type": "scatter", "mode": "lines", "name": policy.name, "x": x,
                             "y": [s.drift_share for s in steps],
                             "line": {"color": color, "shape": "hv"}})
    cost = [{"type": "scatter", "mode": "markers+text", "textposition": "top center",
             "x": [s.compute_seconds for s in result.summary],
             "y": [s.mean for s in result.summary],
             "text": [s.policy for s in result.summary],
             "marker": {"size": [10 + 3 * s.retrains ** 0.5 for s in result.summary],
                        "color": _COLORS[: len(result.summary)]}}]
    cost_layout = _layout(f"Cost and benefit: mean {result.metric} vs compute seconds",
                          f"mean {result.metric}")
    cost_layout["xaxis"] = {"title": {"text": "compute seconds (trainings + evaluations)"}}
    return [
        {"id": "metric", "spec": {"data": metric_traces, "layout": _layout(
            f"{result.metric} on each window (▲ retrain)", result.metric)}},
        {"id": "drift", "spec": {"data": drift_traces, "layout": _layout(
            "drift share of each window against the model's training data", "drift share")}},
        {"id": "cost", "spec": {"data": cost, "layout": cost_layout}},
    ]


def render_backtest_html(result: BacktestResult) -> str:
    """The report as one HTML page."""
    figures = [{"id": f["id"], "spec": plotly_literal(f["spec"])} for f in _figures(result)]
    best = None
    means = [(s.mean, s.policy) for s in result.summary if s.mean is not None]
    if means:
        best = (max if result.higher_is_better else min)(means)[1]
    return _env().get_template("backtest.html.j2").render(
        title=f"Backtest of {result.model}", r=result, figures=figures, best=best,
        plotly_js=Markup(plotly_js()))  # the installed bundle, as it is (not data)
