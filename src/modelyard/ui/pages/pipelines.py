"""Pipelines: runs of every pipeline; one run drawn as its graph, each step with its status,
time, cache hit (and the run it came from) or why it missed, and its outputs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...access import requires
from ...errors import ModelyardError
from ..nav import Section
from ..render import error, page, url, yard_of

__all__ = ["SECTION", "graph_layout", "router"]

SECTION = Section("pipelines", "Pipelines", "/pipelines", order=70)
PAGE_SIZE = 50
BOX_W, BOX_H, GAP_X, GAP_Y = 180, 54, 60, 22

router = APIRouter()


def graph_layout(run: Any) -> dict[str, Any]:
    """Boxes and arrows for a run's graph: a column per depth (a step sits right of every step
    it depends on), steps in graph order within a column. Positions only: the template draws
    them, with every label as text."""
    depth: dict[str, int] = {}
    for g in run.graph:  # the graph is stored dependencies first
        depth[g.name] = 1 + max((depth.get(d, 0) for d in g.depends_on), default=-1)
    rows: dict[int, int] = {}
    boxes: dict[str, dict[str, Any]] = {}
    statuses = {s.step: s for s in run.steps}
    for g in run.graph:
        col = depth[g.name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        step = statuses.get(g.name)
        boxes[g.name] = {"name": g.name, "x": 10 + col * (BOX_W + GAP_X),
                         "y": 10 + row * (BOX_H + GAP_Y), "status": step.status if step else "",
                         "time": "" if step is None or step.duration_s is None
                         else f"{step.duration_s:.2f}s"}
    arrows = []
    for g in run.graph:
        for dep in g.depends_on:
            a, b = boxes[dep], boxes[g.name]
            arrows.append({"x1": a["x"] + BOX_W, "y1": a["y"] + BOX_H // 2,
                           "x2": b["x"] - 4, "y2": b["y"] + BOX_H // 2})
    width = 20 + (max(depth.values(), default=0) + 1) * (BOX_W + GAP_X)
    height = 20 + max(rows.values(), default=1) * (BOX_H + GAP_Y)
    return {"boxes": list(boxes.values()), "arrows": arrows, "width": width, "height": height,
            "box_w": BOX_W, "box_h": BOX_H}


@router.get("/pipelines", response_class=HTMLResponse)
@requires("read")
def pipelines_page(request: Request, pipeline: str | None = None,
                   page_no: int = 1) -> HTMLResponse:
    yard = yard_of(request)
    page_no = max(page_no, 1)
    try:
        runs = yard.pipelines.runs(pipeline or None, limit=PAGE_SIZE + 1,
                                   offset=(page_no - 1) * PAGE_SIZE)
    except ModelyardError as exc:
        return error(request, exc)
    return page(request, "pipelines.html", section="pipelines", runs=runs[:PAGE_SIZE],
                more=len(runs) > PAGE_SIZE, page_no=page_no, pipeline=pipeline or "",
                names=yard.pipelines.names(),
                href=lambda n: url("/pipelines", pipeline=pipeline or None, page_no=n))


@router.get("/pipelines/runs/{run_id}", response_class=HTMLResponse)
@requires("read")
def pipeline_run_page(request: Request, run_id: str) -> HTMLResponse:
    try:
        run = yard_of(request).pipelines.get(run_id)
    except ModelyardError as exc:
        return error(request, exc)
    return page(request, "pipeline_run.html", section="pipelines", run=run,
                layout=graph_layout(run), depends={g.name: g.depends_on for g in run.graph})
