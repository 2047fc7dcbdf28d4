"""Lineage: which data and code made a model, and which models a dataset version fed.

``lineage(yard, "loans/3")`` (or ``"loans@production"``) walks down from a model version:
its aliases, the run that made it (code commit, entry point, params), the dataset versions the
run read (digest, role, ``as_of`` and window), those versions' parent datasets, and the model
version it reproduces (``source_version``). ``lineage(yard, "dataset:loans/2")`` walks the
other way: the runs that read that version, the model versions they made, their aliases.

Pipelines add their steps: a model or dataset version a step made links back to that step of
its pipeline run, the steps that fed it and the data they read; a dataset version a step read
links on to the steps it fed and what they made. ``lineage(yard, "pipeline:<run id>")`` is a
whole pipeline run.

A model version's node also shows the endpoints that serve it now (``yard.models.endpoints``:
what the model servers recorded in the serving tables), locally and over REST.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import NotFound

__all__ = [
    "Lineage",
    "LineageEdge",
    "LineageNode",
    "lineage",
]

NodeKind = Literal["dataset_version", "run", "model_version", "alias", "endpoint",
                   "pipeline_run", "pipeline_step"]

_MAX_PARENT_DEPTH = 8


class LineageNode(BaseModel):
    id: str  # "model:loans/3", "run:<id>", "dataset:loans/2", "alias:loans@production"
    kind: NodeKind
    label: str
    attrs: dict[str, Any] = Field(default_factory=dict)


class LineageEdge(BaseModel):
    """``source`` -> ``target``: data flows downstream (dataset -> run -> model -> alias)."""

    source: str
    target: str
    relation: Literal["read_by", "produced", "alias_of", "reproduces", "derived_from", "serves",
                      "feeds", "contains"]
    attrs: dict[str, Any] = Field(default_factory=dict)


class Lineage(BaseModel):
    """A small graph around ``root``; ``to_text()`` draws it as a tree from the root."""

    root: str
    nodes: list[LineageNode] = Field(default_factory=list)
    edges: list[LineageEdge] = Field(default_factory=list)

    def node(self, node_id: str) -> LineageNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise NotFound(f"No node {node_id!r} in this lineage.", field="node")

    def upstream(self, node_id: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.target == node_id]

    def downstream(self, node_id: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.source == node_id]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def children(self, node_id: str) -> list[tuple[LineageEdge, LineageNode]]:
        """What the tree shows under ``node_id``: downstream from a dataset root, upstream
        from a model root (aliases are part of a model's line; endpoints hang under it)."""
        if self.node(self.root).kind in ("dataset_version", "pipeline_run"):
            return [(e, self.node(e.target)) for e in self.downstream(node_id)
                    if e.relation != "alias_of"]
        out = [(e, self.node(e.target)) for e in self.downstream(node_id)
               if e.relation == "serves"]
        return out + [(e, self.node(e.source)) for e in self.upstream(node_id)]

    def to_text(self) -> str:
        """The graph as an indented tree (what ``modelyard lineage`` prints)."""
        lines = [describe(self.node(self.root))]
        seen = {self.root}

        def walk(node_id: str, prefix: str) -> None:
            kids = self.children(node_id)
            for i, (edge, child) in enumerate(kids):
                last = i == len(kids) - 1
                lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(child, edge)}")
                if child.id not in seen:
                    seen.add(child.id)
                    walk(child.id, prefix + ("    " if last else "│   "))

        walk(self.root, "")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def describe(node: LineageNode, edge: LineageEdge | None = None) -> str:
    """One line for a node (and the edge that leads to it)."""
    a = node.attrs
    if node.kind == "model_version":
        text = f"model {node.label} ({a.get('flavor')}, digest {str(a.get('digest'))[:12]})"
        if a.get("aliases"):
            text += f" aliases: {', '.join(a['aliases'])}"
    elif node.kind == "run":
        params = ", ".join(f"{k}={v}" for k, v in sorted((a.get("params") or {}).items()))
        text = (f"run {node.label} ({a.get('status')}, commit {a.get('code_commit') or '-'}, "
                f"entry point {a.get('entry_point') or '-'})")
        if params:
            text += f" params: {params}"
    elif node.kind == "dataset_version":
        text = f"dataset {node.label} (digest {str(a.get('digest'))[:12]}, {a.get('n_rows')} rows)"
    elif node.kind == "alias":
        text = f"alias {node.label}"
    elif node.kind == "pipeline_step":
        how = f"cache hit from {a['cached_from']}" if a.get("cached_from") else a.get("status")
        text = f"pipeline step {node.label} ({how}, function {a.get('function')})"
    elif node.kind == "pipeline_run":
        text = f"pipeline run {node.label} ({a.get('pipeline')}, {a.get('status')})"
    else:
        text = f"endpoint {node.label}"
    if edge is not None:
        extras = ", ".join(f"{k}={v}" for k, v in edge.attrs.items() if v is not None)
        text = f"[{edge.relation}{' ' + extras if extras else ''}] {text}"
    return text


class _Builder:
    def __init__(self, yard: Any, root: str) -> None:
        self.yard = yard
        self.graph = Lineage(root=root)
        self._ids: set[str] = set()
        self._edges: set[tuple[str, str, str]] = set()
        self._runs: dict[str, tuple[Any, list[Any]]] = {}

    def add_node(self, node: LineageNode) -> str:
        if node.id not in self._ids:
            self._ids.add(node.id)
            self.graph.nodes.append(node)
        return node.id

    def add_edge(self, source: str, target: str, relation: Any, **attrs: Any) -> None:
        key = (source, target, relation)
        if key not in self._edges:
            self._edges.add(key)
            self.graph.edges.append(
                LineageEdge(source=source, target=target, relation=relation,
                            attrs={k: v for k, v in attrs.items() if v is not None})
            )

    # ---- nodes -----------------------------------------------------------------------------
    def model(self, mv: Any) -> str:
        node_id = self.add_node(LineageNode(
            id=f"model:{mv.ref}", kind="model_version", label=mv.ref,
            attrs={"flavor": mv.flavor, "digest": mv.digest, "run_id": mv.run_id,
                   "code_commit": mv.code_commit, "source_version": mv.source_version,
                   "aliases": list(mv.aliases), "created_at": mv.created_at.isoformat()},
        ))
        for alias in mv.aliases:
            alias_id = self.add_node(LineageNode(id=f"alias:{mv.name}@{alias}", kind="alias",
                                                 label=f"{mv.name}@{alias}"))
            self.add_edge(node_id, alias_id, "alias_of")
        for use in self.yard.models.endpoints(mv.ref):
            endpoint_id = self.add_node(LineageNode(
                id=f"endpoint:{use.endpoint}", kind="endpoint", label=use.endpoint,
                attrs={"source": use.source}))
            self.add_edge(node_id, endpoint_id, "serves", route=use.route)
        return node_id

    def run(self, run: Any) -> str:
        return self.add_node(LineageNode(
            id=f"run:{run.id}", kind="run", label=run.id,
            attrs={"experiment": run.experiment, "status": run.status,
                   "code_commit": run.code_commit, "code_dirty": run.code_dirty,
                   "entry_point": run.entry_point, "params": dict(run.params),
                   "started": run.start_time.isoformat()},
        ))

    def dataset(self, name: str, version: int, depth: int = 0) -> str:
        node_id = f"dataset:{name}/{version}"
        if node_id in self._ids:
            return node_id
        try:
            dv = self.yard.datasets.get(name, version=version)
        except NotFound:
            return self.add_node(LineageNode(id=node_id, kind="dataset_version",
                                             label=f"{name}/{version}", attrs={"missing": True}))
        self.add_node(LineageNode(
            id=node_id, kind="dataset_version", label=dv.ref,
            attrs={"digest": dv.digest, "n_rows": dv.n_rows, "time_column": dv.time_column,
                   "created_at": dv.created_at.isoformat(), "transform": dv.transform,
                   "code_commit": dv.code_commit},
        ))
        if depth < _MAX_PARENT_DEPTH:
            for parent in dv.parents:
                pname, _, pversion = parent.partition("/")
                parent_id = self.dataset(pname, int(pversion), depth + 1)
                self.add_edge(parent_id, node_id, "derived_from", transform=dv.transform)
        return node_id

    # ---- pipeline steps ----------------------------------------------------------------------
    def _pipeline_run(self, run_id: str) -> Any:
        cache = self._runs
        if run_id not in cache:
            try:
                run = self.yard.pipelines.get(run_id)
                links = self.yard.pipelines.store.links(run_id=run_id)
            except NotFound:
                run, links = None, []
            cache[run_id] = (run, links)
        return cache[run_id]

    def step(self, run: Any, name: str) -> str:
        sr = run.step(name)
        return self.add_node(LineageNode(
            id=f"step:{run.id}/{name}", kind="pipeline_step", label=f"{run.pipeline}.{name}",
            attrs={"pipeline": run.pipeline, "run_id": run.id, "step": name,
                   "function": sr.function, "status": sr.status, "cache_key": sr.cache_key,
                   "cached_from": sr.cached_from,
                   "outputs": {k: {"kind": v.kind, "digest": v.digest, "ref": v.ref}
                               for k, v in sr.outputs.items()}},
        ))

    def step_upstream(self, run: Any, links: list[Any], name: str, seen: set[str]) -> str:
        """A step, the steps that fed it and the data versions they read (transitively)."""
        step_id = self.step(run, name)
        if name in seen:
            return step_id
        seen.add(name)
        graph = {g.name: g for g in run.graph}
        inputs = graph[name].inputs if name in graph else {}
        for arg, source in inputs.items():
            if "step" in source:
                dep_id = self.step_upstream(run, links, source["step"], seen)
                self.add_edge(dep_id, step_id, "feeds", argument=arg)
        for link in links:
            if link.step == name and link.direction == "input":
                self._link_node(link, step_id)
        return step_id

    def _link_node(self, link: Any, step_id: str) -> None:
        if link.kind == "dataset":
            dname, _, dversion = link.ref.rpartition("/")
            self.add_edge(self.dataset(dname, int(dversion)), step_id, "read_by",
                          argument=link.name)
        else:
            try:
                self.add_edge(self.model(self.yard.models.get(link.ref)), step_id, "read_by",
                              argument=link.name)
            except NotFound:
                return

    def step_downstream(self, run: Any, links: list[Any], name: str, seen: set[str]) -> str:
        """A step, the steps it feeds and the data and model versions they made."""
        step_id = self.step(run, name)
        if name in seen:
            return step_id
        seen.add(name)
        for g in run.graph:
            for arg, source in g.inputs.items():
                if source.get("step") == name:
                    self.add_edge(step_id, self.step_downstream(run, links, g.name, seen),
                                  "feeds", argument=arg)
        for link in links:
            if link.step == name and link.direction == "output":
                self._made(link, step_id)
        return step_id

    def _made(self, link: Any, step_id: str) -> None:
        if link.kind == "dataset":
            dname, _, dversion = link.ref.rpartition("/")
            self.add_edge(step_id, self.dataset(dname, int(dversion)), "produced")
        else:
            try:
                self.add_edge(step_id, self.model(self.yard.models.get(link.ref)), "produced")
            except NotFound:
                return

    def from_pipeline_run(self, run_id: str) -> str:
        run, links = self._pipeline_run(run_id)
        if run is None:
            raise NotFound(f"No pipeline run with id {run_id!r}.", field="ref")
        root = self.add_node(LineageNode(
            id=f"pipeline:{run.id}", kind="pipeline_run", label=run.id,
            attrs={"pipeline": run.pipeline, "status": run.status, "params": run.params,
                   "created": run.created_at.isoformat()}))
        for g in run.graph:
            self.add_edge(root, self.step(run, g.name), "contains")
        seen: set[str] = set()
        for g in run.graph:
            self.step_upstream(run, links, g.name, set())
            self.step_downstream(run, links, g.name, seen)
        return root

    # ---- walks -----------------------------------------------------------------------------
    def from_model(self, mv: Any, depth: int = 0) -> str:
        model_id = self.model(mv)
        made_by = mv.tags.get("modelyard.pipeline.run")
        if made_by and mv.tags.get("modelyard.pipeline.step"):
            run, links = self._pipeline_run(made_by)
            if run is not None:
                step_id = self.step_upstream(run, links, mv.tags["modelyard.pipeline.step"],
                                             set())
                self.add_edge(step_id, model_id, "produced")
        if mv.run_id:
            try:
                run = self.yard.runs.get(mv.run_id)
            except NotFound:
                run = None
            if run is not None:
                run_id = self.run(run)
                self.add_edge(run_id, model_id, "produced")
                for item in run.inputs:
                    data_id = self.dataset(item.dataset, item.version)
                    self.add_edge(
                        data_id, run_id, "read_by", role=item.role,
                        as_of=item.as_of.isoformat() if item.as_of else None,
                        window=(f"[{item.window_start.isoformat()}, "
                                f"{item.window_end.isoformat()})") if item.window_start else None,
                    )
        if mv.source_version and depth < _MAX_PARENT_DEPTH:
            try:
                source = self.yard.models.get(mv.source_version)
            except NotFound:
                source = None
            if source is not None:
                source_id = self.from_model(source, depth + 1)
                self.add_edge(source_id, model_id, "reproduces")
        return model_id

    def from_dataset(self, name: str, version: int) -> str:
        data_id = self.dataset(name, version)
        for run in self.yard.runs.for_dataset(name, version):
            run_id = self.run(run)
            roles = [i.role for i in run.inputs if (i.dataset, i.version) == (name, version)]
            self.add_edge(data_id, run_id, "read_by", role=", ".join(roles) or None)
            for mv in self.yard.models.versions_of_run(run.id):
                self.add_edge(run_id, self.model(mv), "produced")
        for link in self.yard.pipelines.links("dataset", f"{name}/{version}"):
            run, links = self._pipeline_run(link.run_id)
            if run is None:
                continue
            if link.direction == "input":
                step_id = self.step_downstream(run, links, link.step, set())
                self.add_edge(data_id, step_id, "read_by", argument=link.name)
            else:
                step_id = self.step_upstream(run, links, link.step, set())
                self.add_edge(step_id, data_id, "produced")
        return data_id


def lineage(yard: Any, ref: str) -> Lineage:
    """The lineage of a model version ("loans/3", "loans@production", "loans"), a dataset
    version ("dataset:loans/2", "dataset:loans" for its latest) or a pipeline run
    ("pipeline:<run id>": its steps, what fed each, what they read and made)."""
    if ref.startswith("pipeline:"):
        builder = _Builder(yard, ref)
        builder.from_pipeline_run(ref.removeprefix("pipeline:"))
        return builder.graph
    if ref.startswith("dataset:"):
        from ..datasets.datasets import parse_ref

        name, version = parse_ref(ref)
        dv = yard.datasets.get(name, version=version)
        builder = _Builder(yard, f"dataset:{dv.ref}")
        builder.from_dataset(dv.name, dv.version)
        return builder.graph
    mv = yard.models.get(ref)
    builder = _Builder(yard, f"model:{mv.ref}")
    builder.from_model(mv)
    return builder.graph
