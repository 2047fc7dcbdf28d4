"""The entry point of the SDK: ``my.connect()`` returns a :class:`Yard`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import Clock, SystemClock
from .config import Settings

if TYPE_CHECKING:
    from .automation.backtest import BacktestResult
    from .automation.policies import Automation
    from .datasets.datasets import Datasets
    from .explain.entities import Explanation
    from .governance.card import ModelCard
    from .governance.lineage import Lineage
    from .governance.trace import Trace
    from .monitoring.entities import FeedbackResult
    from .monitoring.monitors import Monitoring
    from .pipelines.pipelines import Pipelines
    from .predictions.predictions import Predictions
    from .registry.models import Models
    from .tracking.runs import ActiveRun, Experiments, Runs
    from .validation.validation import Validation

__all__ = ["Yard", "connect"]


class Yard:
    """One yard: experiments, runs, datasets, models, predictions … over one backend.

    Build it with :func:`connect`. Every domain is reached through an attribute
    (``yard.runs``, ``yard.models``, ``yard.datasets`` …) that works the same locally and
    against a shared server.
    """

    def __init__(self, backend: Any, settings: Settings, clock: Clock) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock

    # ---- domains ---------------------------------------------------------------------------
    @cached_property
    def experiments(self) -> Experiments:
        from .tracking.runs import Experiments

        return Experiments(self)

    @cached_property
    def runs(self) -> Runs:
        from .tracking.runs import Runs

        return Runs(self)

    @cached_property
    def models(self) -> Models:
        from .registry.models import Models

        return Models(self)

    @cached_property
    def datasets(self) -> Datasets:
        from .datasets.datasets import Datasets

        return Datasets(self)

    @cached_property
    def predictions(self) -> Predictions:
        from .predictions.predictions import Predictions

        return Predictions(self)

    @cached_property
    def monitoring(self) -> Monitoring:
        from .monitoring.monitors import Monitoring

        return Monitoring(self)

    @cached_property
    def validation(self) -> Validation:
        from .validation.validation import Validation

        return Validation(self.backend.validation, self.models, self.datasets, self.runs,
                          self.clock)

    @cached_property
    def automation(self) -> Automation:
        from .automation.policies import Automation

        return Automation(self.backend.automation, self.datasets, self.clock)

    @cached_property
    def pipelines(self) -> Pipelines:
        from .pipelines.pipelines import Pipelines

        cache = Path(self.settings.home).resolve() / "cache" / "pipelines"
        return Pipelines(self.backend.pipelines, self.backend.blobs, self.datasets,
                         self.backend.registry, cache)

    # ---- cross-domain ------------------------------------------------------------------------
    def lineage(self, ref: str) -> Lineage:
        """The graph around a model version ("loans/3", "loans@production") or a dataset
        version ("dataset:loans/2"): data versions -> run -> model version -> aliases."""
        from .governance.lineage import lineage

        return lineage(self, ref)

    def trace(self, prediction_id: str, *, explain: bool = True) -> Trace:
        """One logged prediction and everything behind it: prediction -> exact model version ->
        run, code and environment -> training data; validation reports, alias moves, journal,
        audit records, and an explanation computed with that version (``explain=False`` skips
        it). On a remote yard the server builds it. See :mod:`modelyard.governance.trace`."""
        return self.backend.compliance.trace(  # type: ignore[no-any-return]
            prediction_id, explain=explain)

    def card(self, ref: str) -> ModelCard:
        """The model card of a version ("loans/3", "loans@production"), from stored facts
        only; ``.to_html()``, ``.to_markdown()``, ``.to_huggingface()``. Its editable fields
        (purpose, owner …) are tags ``card.<field>`` of the model."""
        version = self.models.get(ref)
        return self.backend.compliance.card(  # type: ignore[no-any-return]
            version.name, version.version)

    def explain(self, prediction_id: str) -> Explanation:
        """Why a logged prediction came out as it did: the exact model version that answered
        reproduces it first (:class:`~modelyard.errors.NotReproducible` when it does not), then
        exact TreeSHAP (tree models) or a permutation explainer attributes it. On a remote yard
        the server computes it. See :mod:`modelyard.explain`."""
        return self.backend.explain.explain(prediction_id)  # type: ignore[no-any-return]

    def backtest(self, model: str | None = None, **kwargs: Any) -> BacktestResult:
        """Replay retraining policies over history with dataset time travel and compare them
        (metric per window, retrains, compute); stored as a run with an HTML report. See
        :func:`modelyard.automation.backtest.backtest` for the keywords."""
        from .automation.backtest import backtest

        return backtest(self, model, **kwargs)

    def feedback(self, prediction_id: str, label: Any) -> FeedbackResult:
        """Record the ground truth of a logged prediction (late-arriving and idempotent; a
        label the prediction's model cannot give is refused: see ``Monitoring.feedback``)."""
        return self.monitoring.feedback(prediction_id, label)

    # ---- tracking shortcuts ----------------------------------------------------------------
    def start_run(self, experiment: str = "default", **kwargs: Any) -> ActiveRun:
        """Start a run; use it as a context manager (see :meth:`Runs.start`)."""
        return self.runs.start(experiment=experiment, **kwargs)

    def autolog(self, **kwargs: Any) -> None:
        """Log params, metrics and the model of every scikit-learn/XGBoost/LightGBM ``fit``
        inside a run of this yard, with no extra code."""
        from .tracking.autolog import enable

        enable(self, **kwargs)

    def close(self) -> None:
        if "monitoring" in self.__dict__:  # its background webhook worker, if it started one
            self.monitoring.close()
        self.backend.close()

    def __enter__(self) -> Yard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = getattr(self.backend, "url", None) or self.settings.resolved_database_url
        return f"<Yard {where}>"


def connect(
    uri: str | None = None,
    *,
    artifacts: str | None = None,
    token: str | None = None,
    home: str | Path | None = None,
    settings: Settings | None = None,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
) -> Yard:
    """Open a yard.

    - ``connect()``: the embedded default under ``./.modelyard`` (or ``$MODELYARD_HOME``):
      SQLite in WAL mode plus a local artifact folder; migrated on first use.
    - ``connect("postgresql+psycopg://…", artifacts="s3://bucket/yard")``: a team database.
    - ``connect("http://host:8080", token="…")``: a shared ``modelyard server``; same API.
    """
    if settings is None:
        settings = Settings.load(
            environ,
            home=Path(home) if home is not None else None,
            token=token,
            artifacts_url=artifacts,
        )
    clock = clock or SystemClock()
    target = uri or settings.database_url
    if target and target.startswith(("http://", "https://")):
        from .client.remote import RemoteBackend

        backend: Any = RemoteBackend(target, token=token or settings.token, settings=settings)
        return Yard(backend, settings, clock)

    from .artifacts.store import open_artifact_store
    from .backend import LocalBackend
    from .store.database import open_database

    db = open_database(target or settings.resolved_database_url, clock=clock)
    store = open_artifact_store(artifacts or settings.resolved_artifacts_url)
    return Yard(LocalBackend(db, store, settings, clock), settings, clock)
