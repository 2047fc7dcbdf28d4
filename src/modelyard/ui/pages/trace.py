"""Trace: paste a prediction id, see everything behind it.

``/ui/trace?id=…`` renders :meth:`Yard.trace <modelyard.yard.Yard.trace>` (what ``modelyard
trace`` prints): the logged input and output, the route's role, the exact model version, its run,
training data, validation reports, the aliases and journal in force at the prediction's time,
the audit records, and the explanation as a Plotly waterfall. Every object links to its own
page; a prediction's page links here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from ..nav import Section
from ..render import page, plot, yard_of

__all__ = ["SECTION", "router", "waterfall"]

SECTION = Section("trace", "Trace", "/trace", order=65)

router = APIRouter()

_TOP = 15


def waterfall(explanation: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A Plotly waterfall (traces, layout) of an explanation: the base value, the largest
    attributions (the rest summed), the output."""
    shown = explanation.top(_TOP)
    rest = [a for a in explanation.attributions if a not in shown]
    labels = ["base value", *(f"{a.feature} = {a.value}" for a in shown)]
    values = [explanation.base_value, *(a.attribution for a in shown)]
    measures = ["absolute", *(["relative"] * len(shown))]
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(sum(a.attribution for a in rest))
        measures.append("relative")
    labels.append("output")
    values.append(explanation.output_value)
    measures.append("total")
    title = f"{explanation.method}: {explanation.output_space}"
    if explanation.target is not None:
        title += f" of class {explanation.target}"
    traces = [{"type": "waterfall", "orientation": "h", "y": labels, "x": values,
               "measure": measures, "base": 0}]
    layout = {"title": {"text": title}, "height": 120 + 24 * len(labels),
              "yaxis": {"autorange": "reversed", "automargin": True},
              "margin": {"l": 220}}
    return traces, layout


@router.get("/trace", response_class=HTMLResponse)
@requires("read")
def trace_page(request: Request, id: str = "") -> HTMLResponse:
    prediction_id = id.strip()
    if not prediction_id:
        return page(request, "trace.html", section="trace", trace=None, query="")
    try:
        trace = yard_of(request).trace(prediction_id)
    except ModelyardError as exc:
        return page(request, "trace.html", status_code=exc.status_code, section="trace",
                    trace=None, query=prediction_id, error=exc.message)
    plots = []
    if trace.explanation is not None:
        traces, layout = waterfall(trace.explanation)
        plots.append(plot(traces, layout, "waterfall"))
    return page(request, "trace.html", section="trace", trace=trace, query=prediction_id,
                plots=plots)
