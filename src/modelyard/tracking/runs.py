"""The tracking SDK: ``yard.experiments``, ``yard.runs`` and ``yard.start_run``.

    with yard.start_run(experiment="loans", datasets=[dv]) as run:
        run.log_params({"max_depth": 6})
        run.log_metrics({"auc": 0.91}, step=0)
        mv = run.log_model(model, name="loans", example=X[:5])
    yard.runs.search("metrics.auc > 0.9 and params.max_depth = '6'")

Everything here goes through ``yard.backend.tracking`` (the store, local or over HTTP) and
``yard.backend.blobs``; nothing touches the database directly, so the same code works against
a shared server.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ..errors import InvalidParameter
from . import environment
from .entities import Experiment, Metric, Run, RunArtifact, RunInput

if TYPE_CHECKING:
    from ..yard import Yard

__all__ = ["ActiveRun", "Experiments", "Runs", "active_run", "to_run_input"]

log = logging.getLogger(__name__)

_ACTIVE: ContextVar[ActiveRun | None] = ContextVar("modelyard_active_run", default=None)
_MAX_ERROR = 64 * 1024


def active_run() -> ActiveRun | None:
    """The run started last in this context (thread, task) and not yet ended, if any."""
    return _ACTIVE.get()


def to_run_input(item: Any, role: str = "training") -> RunInput:
    """A :class:`RunInput` from a ``RunInput``, a dataset version or an ``as_of``/window view
    (anything with ``name``, ``version`` and ``digest``)."""
    if isinstance(item, RunInput):
        return item
    try:
        name, version, digest = item.name, item.version, item.digest
    except AttributeError:
        raise InvalidParameter(
            "datasets must be dataset versions or views (with name, version and digest) or "
            f"RunInput objects. Got {type(item).__name__} {item!r} instead.",
            field="datasets",
        ) from None

    def when(attr: str) -> datetime | None:
        value = getattr(item, attr, None)
        return value if isinstance(value, datetime) else None  # a version's as_of is a method

    return RunInput(
        dataset=name, version=version, digest=digest, role=role, as_of=when("as_of"),
        window_start=when("window_start"), window_end=when("window_end"),
    )


class _OverStore:
    def __init__(self, yard: Yard) -> None:
        self._yard = yard

    @property
    def _store(self) -> Any:
        return self._yard.backend.tracking


class Experiments(_OverStore):
    """``yard.experiments``: named groups of runs."""

    def create(
        self, name: str, *, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> Experiment:
        """Create an experiment (``start_run`` also creates one on first use)."""
        return self._store.create_experiment(  # type: ignore[no-any-return]
            name, description=description, tags=_texts(tags or {})
        )

    def get(self, name: str) -> Experiment:
        return self._store.get_experiment(name)  # type: ignore[no-any-return]

    def list(self) -> list[Experiment]:
        return self._store.list_experiments()  # type: ignore[no-any-return]


class Runs(_OverStore):
    """``yard.runs``: start, read and search runs."""

    def start(
        self,
        experiment: str = "default",
        *,
        name: str | None = None,
        datasets: Iterable[Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        entry_point: str | None = None,
        recipe: Mapping[str, Any] | None = None,
    ) -> ActiveRun:
        """Start a run in ``experiment`` and make it the active one; use it as a context
        manager (FINISHED on success, FAILED with the error on an exception) or call
        :meth:`ActiveRun.end`.

        ``datasets``: the dataset versions or ``as_of``/window views it reads (role
        "training"), or :class:`RunInput` objects. The git commit, source file, Python and
        library versions are captured automatically (``tracking.environment``). ``recipe``:
        what re-runs this training (``automation.retrain``), stored with the run for good.
        """
        inputs = [to_run_input(d) for d in (datasets or ())]
        run = self._store.create_run(
            experiment=experiment,
            name=name,
            params=_texts(params or {}),
            tags=_texts(tags or {}),
            inputs=inputs,
            environment=environment.capture(entry_point),
            recipe=None if recipe is None else dict(recipe),
        )
        return ActiveRun(self._yard, run)

    def get(self, run_id: str) -> Run:
        return self._store.get_run(run_id)  # type: ignore[no-any-return]

    def search(
        self,
        filter: str = "",
        *,
        experiment: str | Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching ``filter``, e.g. ``"metrics.auc > 0.9 and params.max_depth = '6'"``
        (see ``tracking.search`` for the language), newest first unless ``order_by`` says
        otherwise (``["metrics.auc DESC", "attributes.start_time"]``; one string is one key);
        ``offset`` skips that many runs (the next page)."""
        experiments = [experiment] if isinstance(experiment, str) else (
            list(experiment) if experiment is not None else None
        )
        return self._store.search_runs(  # type: ignore[no-any-return]
            filter=filter,
            experiments=experiments,
            order_by=([order_by] if isinstance(order_by, str) else list(order_by))
            if order_by else None,
            max_results=max_results,
            offset=offset,
        )

    def metric_history(self, run_id: str, key: str, *,
                       max_points: int | None = None) -> list[Metric]:
        """Every value logged for ``key``, by step; with ``max_points``, a long history is
        downsampled in the database to about that many points (each step range keeps its
        first, last, lowest and highest value), enough to draw it."""
        return self._store.get_metric_history(run_id, key,  # type: ignore[no-any-return]
                                              max_points=max_points)

    def artifacts(self, run_id: str) -> list[RunArtifact]:
        return self._store.list_artifacts(run_id)  # type: ignore[no-any-return]

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> Path:
        """Copy artifact ``path`` of a run to the local file ``dest`` (digest checked)."""
        from ..errors import NotFound

        for art in self.artifacts(run_id):
            if art.path == path:
                return self._yard.backend.blobs.get_file(art.digest, dest)  # type: ignore[no-any-return]
        raise NotFound(f"Run {run_id} has no artifact {path!r}.", field="path")

    def for_dataset(self, name: str, version: int) -> list[Run]:
        """The runs that read version ``version`` of dataset ``name`` (reverse lineage)."""
        return self._store.runs_for_dataset(name, version)  # type: ignore[no-any-return]

    def end(self, run_id: str, status: str = "FINISHED", error: str | None = None) -> Run:
        """End a run by id (e.g. mark a crashed run KILLED); returns it as stored. If it is
        this thread's active run, it stops being the active run, as with ``run.end()``."""
        self._store.end_run(run_id, status=status, error=error)
        active = _ACTIVE.get()
        if active is not None and active.id == run_id:
            active._ended = True
            _ACTIVE.set(active._previous)
        return self.get(run_id)


class ActiveRun:
    """A run being recorded. Each ``log_*`` call is one transaction."""

    def __init__(self, yard: Yard, run: Run) -> None:
        self._yard = yard
        self._run = run
        self._ended = False
        self._previous = _ACTIVE.get()
        _ACTIVE.set(self)

    # ---- identity --------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._run.id

    @property
    def experiment(self) -> str:
        return self._run.experiment

    @property
    def name(self) -> str | None:
        return self._run.name

    @property
    def code_commit(self) -> str | None:
        return self._run.code_commit

    @property
    def yard(self) -> Yard:
        return self._yard

    @property
    def info(self) -> Run:
        """The run as stored now (params, latest metrics, tags, status …)."""
        return self._store.get_run(self._run.id)  # type: ignore[no-any-return]

    @property
    def _store(self) -> Any:
        return self._yard.backend.tracking

    # ---- logging ---------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Record a param (as text); a param cannot change once set."""
        self._store.log_params(self.id, {key: _text(value)})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._store.log_params(self.id, _texts(params))

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self._store.log_metrics(self.id, [Metric(key=key, value=_number(key, value), step=step or 0)])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record several metrics at one step, in one transaction."""
        s = step or 0
        self._store.log_metrics(
            self.id, [Metric(key=k, value=_number(k, v), step=s) for k, v in metrics.items()]
        )

    def log_batch(self, metrics: Sequence[Metric]) -> None:
        """Record many metric values, each with its own key, step and timestamp, in one
        transaction (e.g. a training curve after the fact)."""
        self._store.log_metrics(self.id, list(metrics))

    def set_tag(self, key: str, value: Any) -> None:
        self._store.set_tags(self.id, {key: _text(value)})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._store.set_tags(self.id, _texts(tags))

    def log_artifact(self, local_path: str | Path, path: str | None = None) -> list[RunArtifact]:
        """Store a file (or every file under a folder) and attach it to the run under
        ``path`` (default: its name)."""
        src = Path(local_path)
        blobs = self._yard.backend.blobs
        if src.is_dir():
            prefix = path or src.name
            return [
                self._store.log_artifact(
                    self.id, f"{prefix}/{f.relative_to(src).as_posix()}", blobs.put_file(f)
                )
                for f in sorted(src.rglob("*"))
                if f.is_file()
            ]
        digest = blobs.put_file(src)
        return [self._store.log_artifact(self.id, path or src.name, digest)]

    def log_input(self, dataset: Any, role: str = "training") -> RunInput:
        """Record a dataset version or view the run read (``role``: training, validation …)."""
        item = to_run_input(dataset, role)
        if item.role != role and not isinstance(dataset, RunInput):
            item = item.model_copy(update={"role": role})
        self._store.log_inputs(self.id, [item])
        return item

    def log_model(self, model: Any, name: str, *, example: Any = None, **kwargs: Any) -> Any:
        """Register ``model`` as a new version of ``name``, linked to this run and its commit;
        returns the ModelVersion (see ``yard.models.register`` for the keywords)."""
        return self._yard.models.register(
            model, name=name, example=example, run_id=self.id,
            code_commit=self._run.code_commit, **kwargs,
        )

    def search(self, estimator: Any, space: Mapping[str, Any], **kwargs: Any) -> Any:
        """Search hyperparameters of a scikit-learn ``estimator`` over ``space`` (lists and
        distributions) on an executor; each trial becomes a child run, the best may be
        registered. Returns a :class:`~modelyard.tracking.tuning.SearchResult`; see
        :func:`modelyard.tracking.tuning.search` for the keywords."""
        from .tuning import search

        return search(self, estimator, space, **kwargs)

    # ---- ending ----------------------------------------------------------------------------
    def end(self, status: str = "FINISHED", error: str | None = None) -> None:
        """Mark the run ended (FINISHED, FAILED or KILLED) and stop it being the active run."""
        try:
            self._store.end_run(self.id, status=status, error=error)
            self._ended = True
        finally:
            if _ACTIVE.get() is self:
                _ACTIVE.set(self._previous)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ended:
            if _ACTIVE.get() is self:
                _ACTIVE.set(self._previous)
            return
        if exc is None:
            self.end("FINISHED")
            return
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        if len(text) > _MAX_ERROR:
            text = "…" + text[-_MAX_ERROR:]
        try:
            self.end(status, error=text)
        except Exception:  # never hide the user's exception behind ours
            log.exception("could not mark run %s %s", self.id, status)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} experiment={self.experiment!r} name={self.name!r}>"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _texts(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: _text(v) for k, v in values.items()}


def _number(key: str, value: Any) -> float:
    if isinstance(value, float):
        return value
    try:
        if isinstance(value, (bool, str, bytes)):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"Metric {key!r} must be a number. Got {type(value).__name__} {value!r} instead.",
            field=key,
        ) from None
    return out
