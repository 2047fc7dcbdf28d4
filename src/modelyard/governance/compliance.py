"""``ComplianceStore``: traces and model cards where the data is (``backend.compliance``).

    GET /predictions/{prediction_id}/trace             Trace: prediction -> model -> run -> data
    GET /models/{name}/versions/{version}/card         ModelCard: the stored facts of a version

On a remote yard the server builds them: it reads its own prediction log, registry, runs,
datasets, validation reports and audit log, computes the explanation there, and sends back the
result. The store builds the yard's domain objects over its own database to do so.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..explain.store import local_yard
from ..registry.refs import check_model_name
from ..store.base import DomainStore
from ..transport import endpoint
from .card import ModelCard, build_card
from .trace import Trace, Tracer

__all__ = ["ComplianceStore"]


class ComplianceStore(DomainStore):
    """Trace and model card over one database (see the module docstring)."""

    @cached_property
    def _yard(self) -> Any:
        return local_yard(self)

    @cached_property
    def tracer(self) -> Tracer:
        yard = self._yard
        return Tracer(yard.predictions, yard.models, yard.runs, yard.datasets, yard.validation,
                      yard.backend.explain.explanations, self.db, self.clock,
                      audit=getattr(yard.backend, "audit", None))

    @endpoint("GET", "/predictions/{prediction_id}/trace", permission="read")
    def trace(self, prediction_id: str, explain: bool = True) -> Trace:
        """One logged prediction and everything behind it: input and output, endpoint and
        route, the exact model version (digest), its run, code, environment and training data,
        validation reports, the alias moves and journal entries in force then, the audit
        records, and an explanation computed with that version (``explain=false`` skips it)."""
        return self.tracer.trace(prediction_id, explain=explain)

    @endpoint("GET", "/models/{name}/versions/{version}/card", permission="read")
    def card(self, name: str, version: int) -> ModelCard:
        """The model card of a version: purpose and owner, training data, metrics overall and
        by slice, validation, global explanation, lineage, serving, drift and performance
        history, journal and alias history, all from stored facts."""
        check_model_name(name)
        return build_card(self._yard, name, int(version),
                          audit=getattr(self._yard.backend, "audit", None))
