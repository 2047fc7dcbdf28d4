"""The dashboard's charts as Plotly specs (data only; ``render.plot`` makes them safe)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from ..automation.history import StageTime
from ..monitoring.traffic import DriftGrid, EndpointTraffic, RouteTraffic
from .render import plot

__all__ = ["bars", "drift_heatmap", "histogram", "histories", "prediction_distributions",
           "stages", "traffic"]


def histories(key: str, series: Sequence[tuple[str, Sequence[int], Sequence[float | None]]],
              div_id: str) -> dict[str, Any]:
    """One metric's history, one line per run (``(name, steps, values)``)."""
    mode = "lines" if max((len(s) for _, s, _ in series), default=0) > 60 else "lines+markers"
    traces = [{"x": list(steps), "y": list(values), "type": "scatter", "mode": mode,
               "name": name} for name, steps, values in series]
    return plot(traces, {"title": {"text": key}, "xaxis": {"title": {"text": "step"}},
                         "showlegend": len(series) > 1, "legend": {"orientation": "h"}}, div_id)


def bars(title: str, x: Sequence[Any], y: Sequence[Any], div_id: str, *,
         height: int = 180, categorical: bool = True) -> dict[str, Any]:
    layout: dict[str, Any] = {"height": height, "title": {"text": title}}
    if categorical:
        layout["xaxis"] = {"type": "category"}
    return plot([{"x": list(x), "y": list(y), "type": "bar"}], layout, div_id)


def histogram(title: str, edges: Sequence[float], counts: Sequence[int], div_id: str) -> dict[str, Any]:
    mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    return bars(title, mids, counts, div_id, categorical=False)


def traffic(t: EndpointTraffic, div_id: str) -> dict[str, Any]:
    """Answered requests per second and their p95 latency over the window."""
    ends = [*t.bucket_starts[1:], t.end]
    widths = [(b - a).total_seconds() for a, b in zip(t.bucket_starts, ends)]
    rate = [c / w if w > 0 else 0.0 for c, w in zip(t.bucket_counts, widths)]
    x = [b.isoformat() for b in t.bucket_starts]
    return plot([
        {"x": x, "y": rate, "type": "scatter", "mode": "lines", "name": "requests/s",
         "line": {"shape": "hv"}},
        {"x": x, "y": t.bucket_p95_ms, "type": "scatter", "mode": "lines", "name": "p95 ms",
         "yaxis": "y2", "line": {"dash": "dot"}},
    ], {"height": 240, "title": {"text": "traffic"}, "legend": {"orientation": "h"},
        "yaxis": {"title": {"text": "requests/s"}, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "p95 ms"}, "overlaying": "y", "side": "right",
                   "rangemode": "tozero"}}, div_id)


def _route_name(r: RouteTraffic) -> str:
    return f"{r.route} · {r.model_name}/{r.model_version}" + (" (shadow)" if r.shadow else "")


def prediction_distributions(routes: Sequence[RouteTraffic], div_id: str) -> dict[str, Any] | None:
    """Each route's predictions side by side, as shares of its rows (same bins for all)."""
    if not routes or routes[0].predictions.kind == "none":
        return None
    traces = []
    for r in routes:
        d = r.predictions
        total = sum(d.counts) or 1
        x: list[Any] = d.labels if d.kind == "categorical" else [
            (a + b) / 2 for a, b in itertools.pairwise(d.edges)]
        traces.append({"x": x, "y": [c / total for c in d.counts], "type": "bar",
                       "name": _route_name(r)})
    layout: dict[str, Any] = {"height": 260, "barmode": "group", "legend": {"orientation": "h"},
                              "title": {"text": "predictions by route (share of its rows)"},
                              "yaxis": {"tickformat": ".0%"}}
    if routes[0].predictions.kind == "categorical":
        layout["xaxis"] = {"type": "category"}
    return plot(traces, layout, div_id)


def drift_heatmap(grid: DriftGrid, div_id: str) -> dict[str, Any] | None:
    """Feature x time: the drift statistic of each feature in each monitored window."""
    if not grid.features:
        return None
    return plot([{"type": "heatmap", "z": grid.values, "x": [t.isoformat() for t in grid.times],
                  "y": grid.features, "colorscale": "YlOrRd", "zmin": 0,
                  "colorbar": {"title": {"text": grid.statistic}}}],
                {"height": max(200, 60 + 22 * len(grid.features)),
                 "title": {"text": f"drift by feature ({grid.statistic}"
                                   + (f", model version {grid.model_version})"
                                      if grid.model_version else ")")},
                 "margin": {"l": 140, "r": 10, "t": 30, "b": 40},
                 "yaxis": {"type": "category", "automargin": True}}, div_id)


def stages(times: Sequence[StageTime], div_id: str) -> dict[str, Any]:
    """A job's stages on a time line: one bar per stage from its start to its end (or to the
    last recorded time while it runs)."""
    last = max((t.end or t.start for t in times), default=None)
    names = [t.stage for t in times]
    return plot([{
        "type": "bar", "orientation": "h", "y": names,
        "base": [t.start.isoformat() for t in times],
        "x": [((t.end or last) - t.start).total_seconds() * 1000 for t in times],  # type: ignore[operator]
        "text": [f"{t.seconds:.3g} s" if t.seconds is not None else "running" for t in times],
        "textposition": "auto", "hoverinfo": "y+text",
    }], {"height": 80 + 34 * len(times), "title": {"text": "stages"},
         "xaxis": {"type": "date"},
         "yaxis": {"type": "category", "autorange": "reversed", "automargin": True}}, div_id)
