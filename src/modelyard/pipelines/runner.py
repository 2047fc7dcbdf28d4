"""Running a pipeline's graph: cache lookups, parallel steps, failures, resume.

For each step whose dependencies are done the runner computes the step's cache key
(:mod:`.cache`); a completed step run with the same key gives its outputs (a *hit*: nothing
runs, nothing is loaded). Otherwise it records why it missed, reads the step's inputs
(outputs of this run kept in memory until their last reader is done, or stored ones read back
on demand), calls the function — in a thread of this process, or on an *executor* (local
processes, a Dask cluster: any object with ``submit(fn, *args)``) — checks the value against
the declared type, stores it (:mod:`.outputs`) and records it. Independent steps run at the
same time, up to ``workers`` of them. A step given a dataset version runs in this process (the
version reads its rows through the yard, which is not sent to workers).

A step that raises is recorded ``failed`` with its traceback; the steps that depend on it are
``skipped``; independent steps still run, and every completed output is kept. Resuming the run
(:meth:`Runner.execute` with the completed steps) runs only what did not complete.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import InvalidParameter
from .cache import cache_key, miss_reasons
from .entities import DONE, OutputRef, PipelineRun, StepRun
from .fingerprint import CodeFingerprint, Unfingerprintable, digest_value, fingerprint_code
from .graph import DEFAULT_OUTPUT, Graph, Node
from .outputs import OutputStore, _json_problem, type_name
from .types import annotation_name, matches, type_hints

__all__ = ["Runner", "StepExecutor", "call_step"]


class StepExecutor(Protocol):
    """Where a step's function runs when not in this process (``automation.executors``)."""

    workers: int

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...

    def describe(self) -> str: ...


def call_step(target: Any, code_path: str | None, kwargs: dict[str, Any]) -> Any:
    """Run a step's function on a worker: ``target`` is ``"module:qualname"`` (imported there,
    ``code_path`` first on ``sys.path``) or the function itself."""
    if isinstance(target, str):
        from ..tracking.environment import import_module

        module, _, qualname = target.partition(":")
        obj: Any = import_module(module, code_path, field="step", what="step module")
        for part in qualname.split("."):
            obj = getattr(obj, part)
        target = getattr(obj, "__modelyard_step_function__", obj)
    return target(**kwargs)


class _StepError(Exception):
    """A step's own failure, with the text to record."""


@dataclass
class _State:
    """What one execution of a graph shares between its threads."""

    graph: Graph
    outputs: dict[str, dict[str, OutputRef]] = field(default_factory=dict)
    values: dict[tuple[str, str], Any] = field(default_factory=dict)
    readers_left: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    load_locks: dict[str, threading.Lock] = field(default_factory=dict)
    fingerprints: dict[int, CodeFingerprint] = field(default_factory=dict)


class Runner:
    """Executes graphs for one yard: ``store`` (``backend.pipelines``), ``outputs`` (where
    values go), ``executor`` (None: threads of this process), ``workers`` (steps at once)."""

    def __init__(self, store: Any, outputs: OutputStore, *, executor: StepExecutor | None = None,
                 workers: int = 4) -> None:
        self.store = store
        self.outputs = outputs
        self.executor = executor
        self.workers = max(1, workers)

    # ---- the loop -----------------------------------------------------------------------------
    def execute(self, run: PipelineRun, graph: Graph, *, no_cache: bool = False,
                completed: dict[str, StepRun] | None = None) -> dict[str, str]:
        """Run every step of ``graph`` not in ``completed``; returns each step's status."""
        state = _State(graph)
        status: dict[str, str] = {}
        for name, done in (completed or {}).items():
            status[name] = done.status
            state.outputs[name] = dict(done.outputs)
        for node in graph:
            state.readers_left[node.name] = sum(
                1 for other in graph if node.name in other.depends_on
                and other.name not in status)
        pending = [n.name for n in graph if n.name not in status]
        with ThreadPoolExecutor(max_workers=self.workers,
                                thread_name_prefix="modelyard-step") as pool:
            running: dict[Future[str], str] = {}
            while pending or running:
                for name in list(pending):
                    node = graph.nodes[name]
                    failed = [d for d in node.depends_on if status.get(d) in ("failed",
                                                                               "skipped")]
                    if failed:
                        pending.remove(name)
                        status[name] = "skipped"
                        self.store.record_step(
                            run_id=run.id, step=name, status="skipped",
                            reasons=[f"step {failed[0]!r} did not complete"])
                        self._release(state, node)
                    elif all(status.get(d) in DONE for d in node.depends_on):
                        pending.remove(name)
                        status[name] = "running"
                        running[pool.submit(self._step, run, node, state, no_cache)] = name
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    status[name] = future.result()
                    self._release(state, graph.nodes[name])
        return status

    def _release(self, state: _State, node: Node) -> None:
        """A step is done with its inputs: drop those no other step still needs."""
        with state.lock:
            for dep in node.depends_on:
                state.readers_left[dep] -= 1
                if state.readers_left[dep] <= 0:
                    for key in [k for k in state.values if k[0] == dep]:
                        del state.values[key]

    # ---- one step -----------------------------------------------------------------------------
    def _step(self, run: PipelineRun, node: Node, state: _State, no_cache: bool) -> str:
        try:
            return self._run_step(run, node, state, no_cache)
        except _StepError as exc:
            message = str(exc)
        except InvalidParameter as exc:
            message = f"step {node.name!r}: {exc.message}"
        except Exception:  # noqa: BLE001 - the step's own failure, recorded on the step
            message = traceback.format_exc(limit=-20)
        self.store.record_step(run_id=run.id, step=node.name, status="failed", error=message)
        return "failed"

    def _run_step(self, run: PipelineRun, node: Node, state: _State, no_cache: bool) -> str:
        st = node.step
        components, problems, links = self._components(node, state)
        key = None if problems else cache_key(components)
        disabled = ("the cache is off for this run (--no-cache)" if no_cache else
                    f"step {node.name!r} is declared with cache=False" if not st.cache else None)
        outputs_missing = False
        if key is not None and disabled is None:
            hit = self.store.find_cached(cache_key=key)
            if hit is not None and all(self.outputs.exists(r) for r in hit.outputs.values()):
                with state.lock:
                    state.outputs[node.name] = dict(hit.outputs)
                self.store.record_step(
                    run_id=run.id, step=node.name, status="cached", cache_key=key,
                    components=components, reasons=[], cached_from=f"{hit.run_id}/{hit.step}",
                    outputs=hit.outputs, links=links)
                return "cached"
            outputs_missing = hit is not None
        previous = None
        if disabled is None and not problems:
            prev = self.store.previous_step(pipeline=run.pipeline, step=node.name,
                                            function=st.function)
            previous = prev.components if prev is not None else None
        reasons = miss_reasons(components, previous, step=node.name, disabled=disabled,
                               problems=problems, outputs_missing=outputs_missing)
        self.store.record_step(run_id=run.id, step=node.name, status="running", cache_key=key,
                               components=components, reasons=reasons)
        kwargs = {arg: self._value(source, state) for arg, source in node.args.items()}
        result = self._call(node, kwargs, run)
        values = self._check(node, result)
        refs: dict[str, OutputRef] = {}
        for out, value in values.items():
            try:
                ref = self.outputs.save(value)
            except InvalidParameter as exc:
                which = f"output {out!r} as " if st.multiple else ""
                raise _StepError(f"step {node.name!r} returned {which}a value that cannot be "
                                 f"stored: {exc.message}.") from exc
            refs[out] = self._publish(run, node, value, ref, links)
        with state.lock:
            state.outputs[node.name] = refs
            if state.readers_left.get(node.name, 0) > 0:
                for out, value in values.items():
                    state.values[(node.name, out)] = value
        self.store.record_step(run_id=run.id, step=node.name, status="succeeded",
                               outputs=refs, links=links + _output_links(refs))
        return "succeeded"

    def _components(self, node: Node, state: _State
                    ) -> tuple[dict[str, Any], list[str], list[dict[str, str]]]:
        st = node.step
        inputs: dict[str, Any] = {}
        params: dict[str, Any] = {}
        problems: list[str] = []
        links: list[dict[str, str]] = []
        for arg, source in node.args.items():
            if source[0] == "step":
                ref = state.outputs[source[1]][source[2]]
                origin = f"step {source[1]!r}" if source[2] == DEFAULT_OUTPUT else \
                    f"output {source[2]!r} of step {source[1]!r}"
                inputs[arg] = {"digest": ref.digest, "from": origin}
                continue
            value = source[1]
            ref_link = _input_link(arg, value)
            if ref_link is not None:
                links.append(ref_link)
            try:
                digest = digest_value(value)
            except Unfingerprintable as exc:
                problems.append(f"argument {arg!r} ({exc})")
                continue
            if _json_problem(value) is None:
                text = repr(value)
                params[arg] = {"digest": digest,
                               "value": text if len(text) <= 80 else text[:79] + "…"}
            else:
                inputs[arg] = {"digest": digest, "from": f"a {type_name(value)} value"}
        fp = state.fingerprints.get(id(st))
        if fp is None:
            fp = state.fingerprints[id(st)] = fingerprint_code(st.fn)
        problems += fp.problems
        components = {"function": st.function, "inputs": inputs, "params": params,
                      "code": dict(fp.functions), "libraries": dict(fp.libraries),
                      "spec": digest_value(st.spec())}
        return components, problems, links

    def _value(self, source: tuple[Any, ...], state: _State) -> Any:
        if source[0] == "value":
            return source[1]
        key = (source[1], source[2])
        with state.lock:
            if key in state.values:
                return state.values[key]
            lock = state.load_locks.setdefault(f"{key[0]}/{key[1]}", threading.Lock())
        with lock:  # two readers of one stored output read it once
            with state.lock:
                if key in state.values:
                    return state.values[key]
                ref = state.outputs[key[0]][key[1]]
            value = self.outputs.load(ref)
            with state.lock:
                state.values[key] = value
            return value

    def _call(self, node: Node, kwargs: dict[str, Any], run: PipelineRun) -> Any:
        st = node.step
        if self.executor is None or any(_bound_to_yard(v) for v in kwargs.values()):
            return st.fn(**kwargs)  # a dataset version reads through the yard: here
        fn = st.fn
        importable = "<locals>" not in fn.__qualname__ and fn.__module__ != "__main__"
        target: Any = st.function if importable else fn
        return self.executor.submit(call_step, target, run.code_path, kwargs).result()

    def _check(self, node: Node, result: Any) -> dict[str, Any]:
        st = node.step
        if st.multiple:
            if not isinstance(result, (tuple, list)) or len(result) != len(st.outputs):
                raise _StepError(
                    f"step {node.name!r} declares outputs {', '.join(st.outputs)} and must "
                    f"return a tuple of {len(st.outputs)}. Got {type_name(result)} instead.")
            return dict(zip(st.outputs, result))
        returns = type_hints(st.fn).get("return")
        if returns is not None and not matches(result, returns):
            raise _StepError(
                f"step {node.name!r} must return {annotation_name(returns)} (its declared "
                f"return type). Got {type_name(result)} instead.")
        return {DEFAULT_OUTPUT: result}

    def _publish(self, run: PipelineRun, node: Node, value: Any, ref: OutputRef,
                 links: list[dict[str, str]]) -> OutputRef:
        st = node.step
        made_by = f"pipeline {run.pipeline} run {run.id} step {node.name}"
        if st.dataset is not None:
            if ref.kind != "frame" and ref.kind not in ("polars", "arrow"):
                raise _StepError(f"step {node.name!r} publishes dataset {st.dataset!r}, so it "
                                 f"must return a DataFrame. Got {type_name(value)} instead.")
            parents = [link["ref"] for link in links if link["kind"] == "dataset"]
            return self.outputs.publish_dataset(value, ref, st.dataset, transform=made_by,
                                                parents=parents)
        if st.model is not None:
            if ref.kind != "model":
                raise _StepError(f"step {node.name!r} registers model {st.model!r}, so it must "
                                 f"return a model. Got {type_name(value)} instead.")
            return self.outputs.publish_model(
                ref, st.model, description=f"made by {made_by}",
                tags={"modelyard.pipeline": run.pipeline, "modelyard.pipeline.run": run.id,
                      "modelyard.pipeline.step": node.name})
        return ref


def _bound_to_yard(value: Any) -> bool:
    """A dataset version or view: it reads its rows through the yard, which stays here."""
    return type(value).__module__.startswith("modelyard.") and \
        type(value).__name__ in ("DatasetVersion", "DatasetView")


def _input_link(arg: str, value: Any) -> dict[str, str] | None:
    kind = type(value).__name__
    if type(value).__module__.startswith("modelyard.") and kind in ("DatasetVersion",
                                                                      "DatasetView"):
        return {"direction": "input", "kind": "dataset", "ref": f"{value.name}/{value.version}",
                "name": arg}
    if type(value).__module__.startswith("modelyard.") and kind == "ModelVersion":
        return {"direction": "input", "kind": "model", "ref": value.ref, "name": arg}
    return None


def _output_links(refs: dict[str, OutputRef]) -> list[dict[str, str]]:
    out = []
    for name, ref in refs.items():
        if ref.ref is None:
            continue
        kind, _, target = ref.ref.partition(":")
        if kind in ("dataset", "model"):
            out.append({"direction": "output", "kind": kind, "ref": target, "name": name})
    return out
