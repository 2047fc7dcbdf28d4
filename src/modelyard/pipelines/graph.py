"""Steps, pipelines and the graph a run executes.

    @my.step
    def clean(raw: pd.DataFrame, min_amount: float = 0.0) -> pd.DataFrame: ...

    @my.pipeline
    def loans(path: str = "loans.csv", min_amount: float = 0.0):
        raw = load(path)
        return train(clean(raw, min_amount))

A step is a plain function; called outside a pipeline it is just that function. Inside a
``@my.pipeline`` function, calling a step records a node and returns a placeholder for its
output, which can only be passed to other steps; the pipeline function runs once per run, with
the run's parameters, to build the graph (so it may branch on them). The other form wires steps
by name, Hamilton's way: ``my.pipeline(load, clean, train, name="loans")`` feeds each step's
argument named like another step (or like one of its ``outputs``) with that step's output; the
other arguments are the pipeline's parameters. There a cycle is possible, and refused.

Everything that can be checked before a step runs is checked when the graph is built: unknown,
missing or mistyped parameters, arguments a step does not take, a step fed an output whose
declared type differs from what it declares, an output type that cannot be stored, a cycle —
each error names the step.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter, did_you_mean
from .entities import GraphStep
from .types import annotation_name, matches, storable_annotation, type_hints

__all__ = ["Graph", "Node", "Pipeline", "Step", "StepOutput", "pipeline", "step"]

_EMPTY = inspect.Parameter.empty
_TRACE: ContextVar[_Tracer | None] = ContextVar("modelyard_pipeline_trace", default=None)
DEFAULT_OUTPUT = "output"


class Step:
    """A function made a pipeline step (see :func:`step`)."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, cache: bool = True,
                 outputs: tuple[str, ...] | None = None, dataset: str | None = None,
                 model: str | None = None) -> None:
        if not callable(fn) or isinstance(fn, (Step, Pipeline)):
            raise InvalidParameter(f"@step decorates a function. Got {fn!r} instead.",
                                   field="step")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.__modelyard_step_function__ = fn
        self.name = name or fn.__name__
        self.cache = cache
        self.outputs = tuple(outputs) if outputs else (DEFAULT_OUTPUT,)
        if outputs is not None and (not outputs or len(set(outputs)) != len(outputs)):
            raise InvalidParameter(f"outputs of step {self.name!r} must be distinct names. Got "
                                   f"{outputs!r} instead.", field="outputs")
        self.dataset = dataset
        self.model = model
        self.signature = inspect.signature(fn)

    @property
    def function(self) -> str:
        """``module:qualname`` of the function."""
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    @property
    def multiple(self) -> bool:
        return self.outputs != (DEFAULT_OUTPUT,)

    def spec(self) -> dict[str, Any]:
        """What about the step (beyond its code) its outputs depend on."""
        hints = type_hints(self.fn)
        return {"outputs": list(self.outputs), "dataset": self.dataset, "model": self.model,
                "returns": annotation_name(hints.get("return", _EMPTY))}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = _TRACE.get()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.add(self, args, kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_import_step, (self.fn.__module__, self.fn.__qualname__))

    def __repr__(self) -> str:
        return f"<step {self.name} ({self.function})>"


def _import_step(module: str, qualname: str) -> Step:
    import importlib

    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def step(fn: Callable[..., Any] | None = None, *, name: str | None = None, cache: bool = True,
         outputs: tuple[str, ...] | list[str] | None = None, dataset: str | None = None,
         model: str | None = None) -> Any:
    """Make a function a pipeline step.

    - ``cache=False``: always run it (never reuse an earlier output).
    - ``outputs=("train", "test")``: it returns a tuple, each item stored as its own output.
    - ``dataset="loans_features"``: its DataFrame output is also added as a version of that
      dataset; ``model="loans"``: its model output is also registered as a version of that
      model. Both record which step of which run made them (lineage).
    """
    def wrap(f: Callable[..., Any]) -> Step:
        return Step(f, name=name, cache=cache, outputs=tuple(outputs) if outputs else None,
                    dataset=dataset, model=model)

    return wrap(fn) if fn is not None else wrap


class StepOutput:
    """The placeholder a step call returns while a pipeline's graph is built."""

    __slots__ = ("node", "output")

    def __init__(self, node: str, output: str) -> None:
        self.node = node
        self.output = output

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise InvalidParameter(
            f"the output of step {self.node!r} is not known while the pipeline's graph is "
            "built: pass it to another step, rather than using it in the pipeline function "
            "itself (in an if, a loop, arithmetic or a call).", field=self.node)

    __bool__ = __iter__ = __len__ = __getitem__ = __add__ = __call__ = _refuse  # type: ignore
    __lt__ = __gt__ = __le__ = __ge__ = __float__ = __int__ = __index__ = _refuse  # type: ignore

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._refuse()

    def __repr__(self) -> str:
        return f"<output {self.output!r} of step {self.node!r}>"


@dataclass
class Node:
    """One step of a graph: ``args`` maps each argument to ``("step", node, output)`` or
    ``("value", value)``."""

    name: str
    step: Step
    args: dict[str, tuple[Any, ...]]
    depends_on: list[str] = field(default_factory=list)

    def describe(self) -> GraphStep:
        inputs: dict[str, dict[str, Any]] = {}
        for arg, source in self.args.items():
            if source[0] == "step":
                inputs[arg] = {"step": source[1], "output": source[2]}
            else:
                text = repr(source[1])
                inputs[arg] = {"value": text if len(text) <= 80 else text[:79] + "…"}
        return GraphStep(name=self.name, function=self.step.function,
                         depends_on=list(self.depends_on), inputs=inputs,
                         outputs=list(self.step.outputs), cache=self.step.cache)


@dataclass
class Graph:
    """The steps of a run in dependency order, and what the pipeline returned."""

    pipeline: str
    nodes: dict[str, Node]
    result: Any = None

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def dependants(self, name: str) -> set[str]:
        """Every step downstream of ``name``."""
        out: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for node in self.nodes.values():
                if current in node.depends_on and node.name not in out:
                    out.add(node.name)
                    frontier.append(node.name)
        return out

    def describe(self) -> list[GraphStep]:
        return [n.describe() for n in self.nodes.values()]


class _Tracer:
    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}

    def add(self, st: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = st.name
        n = 2
        while name in self.nodes:
            name, n = f"{st.name}_{n}", n + 1
        try:
            bound = st.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidParameter(f"step {name!r} of pipeline {self.pipeline!r} is called with "
                                   f"arguments it does not take: {exc}.", field=name) from exc
        sources: dict[str, tuple[Any, ...]] = {}
        for arg, value in bound.arguments.items():
            param = st.signature.parameters[arg]
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise InvalidParameter(f"step {name!r} takes *{arg}; a step's arguments must be "
                                       "named (no *args or **kwargs).", field=name)
            sources[arg] = _source(value, name, arg)
        node = Node(name, st, sources, sorted({s[1] for s in sources.values() if s[0] == "step"}))
        self.nodes[name] = node
        if st.multiple:
            return tuple(StepOutput(name, out) for out in st.outputs)
        return StepOutput(name, DEFAULT_OUTPUT)


def _source(value: Any, step_name: str, arg: str) -> tuple[Any, ...]:
    if isinstance(value, StepOutput):
        return ("step", value.node, value.output)
    if isinstance(value, (list, tuple, dict)) and _holds_placeholder(value):
        raise InvalidParameter(
            f"argument {arg!r} of step {step_name!r} is a container holding other steps' "
            "outputs; pass each output as its own argument.", field=step_name)
    return ("value", value)


def _holds_placeholder(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(v, StepOutput) or (isinstance(v, (list, tuple, dict))
                                             and _holds_placeholder(v)) for v in items)


class Pipeline:
    """Steps composed into a graph (see :func:`pipeline`); run it with
    ``yard.pipelines.run(pipeline, **params)`` or ``pipeline.run(yard, **params)``."""

    def __init__(self, fn: Callable[..., Any] | None = None, *, name: str | None = None,
                 steps: tuple[Step, ...] = ()) -> None:
        from .store import check_pipeline_name

        if fn is None and not steps:
            raise InvalidParameter("a pipeline needs a function that calls steps, or steps.",
                                   field="pipeline")
        self.fn = fn
        self.steps = steps
        if fn is not None:
            functools.update_wrapper(self, fn)
        self.name = check_pipeline_name(name or (fn.__name__ if fn is not None else ""))
        self._module = fn.__module__ if fn is not None else steps[0].fn.__module__

    # ---- parameters ---------------------------------------------------------------------------
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The pipeline's parameters: the function's, or (wired form) the steps' arguments
        that no step's output feeds."""
        if self.fn is not None:
            return dict(inspect.signature(self.fn).parameters)
        produced = self._produced()
        out: dict[str, inspect.Parameter] = {}
        for st in self.steps:
            hints = type_hints(st.fn)
            for arg, param in st.signature.parameters.items():
                if arg in produced or arg in out:
                    continue
                out[arg] = param.replace(annotation=hints.get(arg, param.annotation),
                                         kind=inspect.Parameter.KEYWORD_ONLY)
        return out

    def annotations(self) -> dict[str, Any]:
        if self.fn is not None:
            return type_hints(self.fn)
        return {k: p.annotation for k, p in self.parameters().items()}

    def _produced(self) -> dict[str, tuple[Step, str]]:
        produced: dict[str, tuple[Step, str]] = {}
        for st in self.steps:
            if st.multiple:
                for out in st.outputs:
                    produced[out] = (st, out)
            else:
                produced[st.name] = (st, DEFAULT_OUTPUT)
        return produced

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` completed with the defaults, each checked against its annotation."""
        declared = self.parameters()
        hints = self.annotations()
        for key in params:
            if key not in declared:
                raise InvalidParameter(
                    f"pipeline {self.name!r} has no parameter {key!r}; its parameters are "
                    f"{', '.join(declared) or 'none'}.{did_you_mean(key, declared)}", field=key)
        out: dict[str, Any] = {}
        for key, param in declared.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise InvalidParameter(f"pipeline {self.name!r} takes *{key}; a pipeline's "
                                       "parameters must be named.", field=key)
            if key in params:
                value = params[key]
            elif param.default is not _EMPTY:
                value = param.default
            else:
                raise InvalidParameter(f"pipeline {self.name!r} needs parameter {key!r}.",
                                       field=key)
            annotation = hints.get(key, _EMPTY)
            if not matches(value, annotation):
                raise InvalidParameter(
                    f"parameter {key!r} of pipeline {self.name!r} must be "
                    f"{annotation_name(annotation)}. Got {value!r} "
                    f"({type(value).__name__}) instead.", field=key)
            out[key] = value
        return out

    # ---- the graph ----------------------------------------------------------------------------
    def build(self, params: Mapping[str, Any] | None = None) -> Graph:
        """The graph of a run with ``params``, checked (module docstring)."""
        values = self.check_params(params or {})
        if self.fn is not None:
            tracer = _Tracer(self.name)
            token = _TRACE.set(tracer)
            try:
                result = self.fn(**values)
            except InvalidParameter:
                raise
            except Exception as exc:
                raise InvalidParameter(
                    f"pipeline {self.name!r} raised while its graph was built: "
                    f"{type(exc).__name__}: {exc}", field="pipeline") from exc
            finally:
                _TRACE.reset(token)
            if not tracer.nodes:
                raise InvalidParameter(f"pipeline {self.name!r} calls no step.",
                                       field="pipeline")
            graph = Graph(self.name, tracer.nodes, result)
        else:
            graph = self._wire(values)
        _check_graph(graph)
        return graph

    def _wire(self, values: dict[str, Any]) -> Graph:
        produced = self._produced()
        names = [st.name for st in self.steps]
        if len(set(names)) != len(names):
            raise InvalidParameter(f"pipeline {self.name!r} has two steps named alike: "
                                   f"{names!r}.", field="steps")
        nodes: dict[str, Node] = {}
        for st in self.steps:
            sources: dict[str, tuple[Any, ...]] = {}
            for arg, param in st.signature.parameters.items():
                if arg in produced:
                    source_step, out = produced[arg]
                    sources[arg] = ("step", source_step.name, out)
                elif arg in values:
                    sources[arg] = ("value", values[arg])
                elif param.default is not _EMPTY:
                    sources[arg] = ("value", param.default)
            deps = sorted({s[1] for s in sources.values() if s[0] == "step"})
            nodes[st.name] = Node(st.name, st, sources, deps)
        order = _topological(self.name, nodes)
        return Graph(self.name, {n: nodes[n] for n in order})

    @property
    def entry_point(self) -> str | None:
        """``module:attribute`` naming this pipeline, when it can be imported by name."""
        module = sys.modules.get(self._module)
        if module is None or self._module == "__main__":
            return None
        for attr, value in vars(module).items():
            if value is self:
                return f"{self._module}:{attr}"
        return None

    @property
    def code_path(self) -> str | None:
        from ..tracking.environment import module_root

        return module_root(self._module)

    def run(self, yard: Any, **params: Any) -> Any:
        """Run on ``yard`` (``yard.pipelines.run(self, **params)``)."""
        return yard.pipelines.run(self, **params)

    __call__ = run

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def _topological(pipeline_name: str, nodes: dict[str, Node]) -> list[str]:
    """Kahn's order of ``nodes``; a cycle is an error naming its steps in order."""
    indegree = {n: len(node.depends_on) for n, node in nodes.items()}
    ready = [n for n, d in indegree.items() if d == 0]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for n, node in nodes.items():
            if current in node.depends_on:
                indegree[n] -= 1
                if indegree[n] == 0:
                    ready.append(n)
    if len(order) == len(nodes):
        return order
    stuck = {n for n in nodes if n not in order}
    cycle = _find_cycle(nodes, stuck)
    raise InvalidParameter(f"pipeline {pipeline_name!r} has a cycle: steps "
                           f"{' -> '.join(repr(c) for c in cycle)} feed each other, so none of "
                           "them can run first.", field=cycle[0])


def _find_cycle(nodes: dict[str, Node], stuck: set[str]) -> list[str]:
    start = min(stuck)
    path = [start]
    current = start
    while True:
        current = next(d for d in nodes[current].depends_on if d in stuck)
        if current in path:
            return [*path[path.index(current):], current][::-1]
        path.append(current)


def _check_graph(graph: Graph) -> None:
    """Types known before anything runs (module docstring)."""
    for node in graph:
        st = node.step
        hints = type_hints(st.fn)
        returns = hints.get("return", _EMPTY)
        problem = None if st.multiple else storable_annotation(returns)
        if problem:
            raise InvalidParameter(f"step {node.name!r} declares it returns {problem}.",
                                   field=node.name)
        for arg, param in st.signature.parameters.items():
            if arg not in node.args and param.default is _EMPTY:
                raise InvalidParameter(f"step {node.name!r} needs argument {arg!r}, which "
                                       "nothing in the pipeline gives.", field=node.name)
        for arg, source in node.args.items():
            annotation = hints.get(arg, _EMPTY)
            if source[0] == "value":
                if not matches(source[1], annotation):
                    raise InvalidParameter(
                        f"argument {arg!r} of step {node.name!r} must be "
                        f"{annotation_name(annotation)}. Got {source[1]!r} "
                        f"({type(source[1]).__name__}) instead.", field=node.name)
                continue
            upstream = graph.nodes[source[1]].step
            if upstream.multiple:
                continue
            produced = type_hints(upstream.fn).get("return", _EMPTY)
            if isinstance(produced, type) and isinstance(annotation, type) \
                    and not issubclass(produced, annotation) \
                    and not (annotation is float and produced is int):
                raise InvalidParameter(
                    f"step {node.name!r} takes {arg!r} as {annotation_name(annotation)}, but "
                    f"step {source[1]!r} declares it returns {annotation_name(produced)}.",
                    field=node.name)


def pipeline(*steps_or_fn: Any, name: str | None = None) -> Any:
    """Compose steps into a pipeline: ``@my.pipeline`` (or ``@my.pipeline(name="x")``) on a
    function that calls steps, or ``my.pipeline(load, clean, train, name="x")`` wiring steps
    by argument name (module docstring)."""
    if steps_or_fn and all(isinstance(s, Step) for s in steps_or_fn):
        if name is None:
            raise InvalidParameter("a pipeline made from steps needs a name: "
                                   "my.pipeline(load, train, name='loans').", field="name")
        return Pipeline(name=name, steps=tuple(steps_or_fn))
    if len(steps_or_fn) == 1 and callable(steps_or_fn[0]):
        return Pipeline(steps_or_fn[0], name=name)
    if steps_or_fn:
        bad = next(s for s in steps_or_fn if not isinstance(s, Step))
        raise InvalidParameter(f"my.pipeline takes one function, or steps made with @my.step. "
                               f"Got {bad!r} instead.", field="steps")
    return lambda fn: Pipeline(fn, name=name)
