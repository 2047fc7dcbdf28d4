"""Predictions: look one up by its id (what a ``/predict`` answer returns), and see it with
its endpoint, model version, the run that made the model, and its ground truth once known.
The trace page (data, code and explanation of a prediction) extends this one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...access import requires
from ...errors import ModelyardError, NotFound
from ..nav import Section
from ..render import error, page, url_prediction, yard_of

__all__ = ["SECTION", "router"]

SECTION = Section("predictions", "Predictions", "/predictions", order=60)

router = APIRouter()


@router.get("/predictions", response_class=HTMLResponse)
@requires("read")
def lookup(request: Request, id: str = "") -> Response:
    if id.strip():
        return RedirectResponse(url_prediction(id.strip()), status_code=303)
    return page(request, "predictions.html", section="predictions")


@router.get("/predictions/{prediction_id}", response_class=HTMLResponse)
@requires("read")
def prediction_page(request: Request, prediction_id: str) -> HTMLResponse:
    yard = yard_of(request)
    try:
        rec = yard.predictions.get(prediction_id)
    except ModelyardError as exc:
        return error(request, exc)
    try:
        mv = yard.models.get(f"{rec.model_name}/{rec.model_version}")
    except NotFound:
        mv = None
    try:
        feedback = yard.monitoring.get_feedback(rec.id)
    except NotFound:
        feedback = None
    return page(request, "prediction.html", section="predictions", rec=rec, mv=mv,
                feedback=feedback)
