"""``ExplainStore``: explanations where the data is (``backend.explain``, ``/api/v1``).

    GET  /predictions/{prediction_id}/explanation          explain (cached by id and digest)
    GET  /models/{name}/versions/{version}/importance      the stored global importance
    POST /models/{name}/versions/{version}/importance      compute it now (and store it)

On a remote yard these run on the server: it reads its own prediction log, loads the exact
model version and its training data there, and sends back only the explanation. The store
builds the yard's domain objects over its own database and artifact store to do so.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import sqlalchemy as sa

from ..errors import NotFound
from ..registry.refs import check_model_name
from ..store.base import DomainStore
from ..store.schema.explain import ExplanationRow, ImportanceRow
from ..transport import endpoint
from .entities import Explanation, GlobalImportance
from .explainer import Explanations

__all__ = ["ExplainStore", "local_yard"]

_EXPLANATIONS = ExplanationRow.__table__
_IMPORTANCE = ImportanceRow.__table__


def local_yard(store: DomainStore) -> Any:
    """A yard over the database and artifact store of ``store`` (for work a server does where
    its data is: trace, explain, card)."""
    from ..backend import LocalBackend
    from ..yard import Yard

    backend = LocalBackend(store.db, store.artifacts, store.settings, store.clock)
    return Yard(backend, store.settings, store.clock)


class ExplainStore(DomainStore):
    """Explanation cache and global importance in one database, and the explainer over it."""

    @cached_property
    def explanations(self) -> Explanations:
        yard = local_yard(self)
        return Explanations(yard.predictions, yard.models, yard.runs, yard.datasets, self,
                            self.clock)

    # ---- per prediction ------------------------------------------------------------------------
    @endpoint("GET", "/predictions/{prediction_id}/explanation", permission="read")
    def explain(self, prediction_id: str) -> Explanation:
        """Why a logged prediction came out as it did: the exact model version reproduces it
        first (409 not_reproducible, with the difference, when it does not), then exact TreeSHAP
        or a permutation explainer attributes it; cached by (prediction id, version digest)."""
        return self.explanations.explain(prediction_id)

    def cached_explanation(self, prediction_id: str, digest: str) -> Explanation | None:
        with self.db.read() as s:
            row = s.execute(sa.select(_EXPLANATIONS.c.body).where(
                _EXPLANATIONS.c.prediction_id == prediction_id,
                _EXPLANATIONS.c.digest == digest)).first()
        if row is None:
            return None
        return Explanation.model_validate({**row.body, "cached": True})

    def save_explanation(self, explanation: Explanation) -> None:
        """Keep ``explanation`` (the first one stored for its id and digest wins)."""
        body = explanation.model_dump(mode="json", exclude={"cached"})
        try:
            with self.db.write() as s:
                s.execute(_EXPLANATIONS.insert().values(
                    prediction_id=explanation.prediction_id, digest=explanation.digest,
                    model=explanation.model, body=body, created_at=self.clock.now()))
        except sa.exc.IntegrityError:
            pass  # computed by another request meanwhile: the same explanation

    # ---- per model version ---------------------------------------------------------------------
    @endpoint("GET", "/models/{name}/versions/{version}/importance",
              permission="read")
    def importance(self, name: str, version: int) -> GlobalImportance:
        """The global importance of a model version (mean |SHAP| on a sample), as computed when
        it was registered."""
        check_model_name(name)
        with self.db.read() as s:
            row = s.execute(sa.select(_IMPORTANCE.c.body).where(
                _IMPORTANCE.c.model == name, _IMPORTANCE.c.version == int(version))).first()
        if row is None:
            raise NotFound(f"No global importance stored for model {name}/{version}.",
                           field="version")
        return GlobalImportance.model_validate(row.body)

    @endpoint("POST", "/models/{name}/versions/{version}/importance", status_code=201,
              permission="write")
    def compute_importance(self, name: str, version: int) -> GlobalImportance:
        """Compute the global importance of a model version now and store it (registration
        does this; a model it could not explain is stored as ``unavailable`` with the
        reason)."""
        check_model_name(name)
        result = self.explanations.importance(f"{name}/{int(version)}")
        self.save_importance(result)
        return result

    def save_importance(self, result: GlobalImportance) -> None:
        """Store ``result`` as the global importance of its version (replacing an older one)."""
        name, _, version = result.model.rpartition("/")
        with self.db.write() as s:
            s.execute(_IMPORTANCE.delete().where(_IMPORTANCE.c.model == name,
                                                 _IMPORTANCE.c.version == int(version)))
            s.execute(_IMPORTANCE.insert().values(
                model=name, version=int(version), digest=result.digest, status=result.status,
                body=result.model_dump(mode="json"), computed_at=result.computed_at))
