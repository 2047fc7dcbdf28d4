"""What a pipeline run looks like in the SDK, the REST API, the CLI and the dashboard.

A :class:`PipelineRun` holds its :class:`StepRun` s. A step run's ``status`` is ``pending``,
``running``, ``succeeded`` (it ran), ``cached`` (its outputs were reused from an earlier step
run with the same key, named by ``cached_from``), ``failed`` or ``skipped`` (a step it depends
on failed). ``components`` is what its cache key was made of; ``reasons`` say why it missed
the cache (empty on a hit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

__all__ = [
    "RUN_STATUSES",
    "STEP_STATUSES",
    "GraphStep",
    "OutputRef",
    "PipelineRun",
    "RunStatus",
    "StepLink",
    "StepRun",
    "StepStatus",
]

RunStatus = Literal["running", "succeeded", "failed"]
StepStatus = Literal["pending", "running", "succeeded", "cached", "failed", "skipped"]
RUN_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed")
STEP_STATUSES: tuple[str, ...] = ("pending", "running", "succeeded", "cached", "failed",
                                  "skipped")
DONE: tuple[str, ...] = ("succeeded", "cached")


class OutputRef(BaseModel):
    """One stored output of a step: its ``kind`` (``frame`` Parquet, ``polars``, ``arrow``,
    ``array`` .npy, ``model`` flavor files + manifest, ``dataset`` a dataset version, ``json``),
    its content ``digest``, the Python type it had, and where it lives: ``blob`` (an artifact
    digest), ``ref`` (``dataset:loans/3``, ``model:loans/4`` when published) or ``value``
    (small JSON values, inline)."""

    kind: str
    digest: str
    python_type: str
    blob: str | None = None
    ref: str | None = None
    value: Any = None
    n_rows: int | None = None
    n_bytes: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class GraphStep(BaseModel):
    """A step of a run's graph: its function, the steps it depends on, and what feeds each
    argument (``{"step": "load", "output": "output"}`` or ``{"value": "…short text…"}``)."""

    name: str
    function: str
    depends_on: list[str] = Field(default_factory=list)
    inputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    cache: bool = True


class StepRun(BaseModel):
    run_id: str
    pipeline: str
    step: str
    function: str
    status: StepStatus
    cache_key: str | None = None
    components: dict[str, Any] = Field(default_factory=dict)
    cached_from: str | None = None
    reasons: list[str] = Field(default_factory=list)
    outputs: dict[str, OutputRef] = Field(default_factory=dict)
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None

    @property
    def cache_hit(self) -> bool:
        return self.status == "cached"


class PipelineRun(BaseModel):
    """One run of a pipeline; ``steps`` in the graph's order (dependencies first)."""

    id: str
    pipeline: str
    entry_point: str | None = None
    code_path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    graph: list[GraphStep] = Field(default_factory=list)
    status: RunStatus
    no_cache: bool = False
    executor: str | None = None
    attempt: int = 1
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    created_by: str | None = None
    steps: list[StepRun] = Field(default_factory=list)

    _loader: Any = PrivateAttr(default=None)
    _result: Any = PrivateAttr(default=None)

    @property
    def result_output(self) -> Any:
        """What the pipeline function returned while its graph was built (placeholders of
        step outputs), for the run this process started or resumed; None otherwise."""
        return self._result

    def result(self) -> Any:
        """The pipeline's return value with each step output read back (a single output, a
        tuple or a dict of them, as the pipeline function returned them)."""
        def load(value: Any) -> Any:
            node = getattr(value, "node", None)
            if node is not None and hasattr(value, "output"):
                return self.output(node, value.output)
            if isinstance(value, (tuple, list)):
                return type(value)(load(v) for v in value)
            if isinstance(value, dict):
                return {k: load(v) for k, v in value.items()}
            return value

        return load(self._result)

    def bind(self, loader: Any) -> PipelineRun:
        """Attach what reads outputs back (the SDK does this for you)."""
        self._loader = loader
        return self

    def output(self, step: str, name: str = "output") -> Any:
        """The value step ``step`` stored as ``name`` (read back from the yard)."""
        from ..errors import InvalidParameter, NotFound

        found = self.step(step)
        if name not in found.outputs:
            raise NotFound(f"step {step!r} of pipeline run {self.id} has no output {name!r} "
                           f"(it has {', '.join(found.outputs) or 'none'}; status "
                           f"{found.status}).", field="name")
        if self._loader is None:
            raise InvalidParameter(f"pipeline run {self.id} is not bound to a yard; get it "
                                   "with yard.pipelines.get(run_id).", field="run")
        return self._loader.load(found.outputs[name])

    def step(self, name: str) -> StepRun:
        for s in self.steps:
            if s.step == name:
                return s
        from ..errors import NotFound, did_you_mean

        raise NotFound(f"Pipeline run {self.id} has no step {name!r}."
                       f"{did_you_mean(name, [s.step for s in self.steps])}", field="step")

    def counts(self) -> dict[str, int]:
        """How many steps are in each status."""
        out: dict[str, int] = {}
        for s in self.steps:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.created_at).total_seconds()


class StepLink(BaseModel):
    """A dataset or model version that a step of a run read (``input``) or made (``output``)."""

    run_id: str
    pipeline: str
    step: str
    direction: Literal["input", "output"]
    kind: Literal["dataset", "model"]
    ref: str
    name: str
    created_at: datetime
