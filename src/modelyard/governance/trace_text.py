"""A trace for people: rich renderables (``modelyard trace``) and the same as plain text
(``Trace.to_text()``). Every value from the log or the database is shown as text, never as
console markup."""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from .trace import Trace

__all__ = ["trace_renderable", "trace_text"]


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


def _v(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _recipe(recipe: dict[str, Any] | None) -> str:
    """A run's recipe (what re-runs it) on one line."""
    if not recipe:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in sorted(recipe.items()))


def _pairs(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=Text(title, style="bold"), title_justify="left", show_header=False,
                  box=None, pad_edge=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(key), Text(_v(value)))
    return table


def _grid(title: str, columns: list[str], rows: list[list[Any]], empty: str) -> RenderableType:
    if not rows:
        return Group(Text(title, style="bold"), Text(f"  {empty}", style="dim"))
    table = Table(title=Text(title, style="bold"), title_justify="left", box=None,
                  pad_edge=False, header_style="dim")
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_v(v)) for v in row))
    return table


def trace_renderable(trace: Trace) -> RenderableType:
    p, mv, run = trace.prediction, trace.model, trace.run
    parts: list[RenderableType] = [
        _pairs(f"prediction {p.id}", [
            ("time", _t(p.time)), ("endpoint", p.endpoint), ("route", f"{p.route} ({trace.role})"),
            ("request id", p.request_id), ("latency ms", p.latency_ms),
            ("output", ", ".join(f"{k}={v}" for k, v in p.outputs.items()))]),
        _grid("input", ["feature", "value"], [[k, v] for k, v in p.inputs.items()], "none"),
        _pairs(f"model {mv.ref}", [
            ("flavor", mv.flavor), ("digest", mv.digest), ("created", _t(mv.created_at)),
            ("created by", mv.created_by), ("reproduces", mv.source_version),
            ("aliases then", ", ".join(f"{a.alias}" for a in trace.aliases
                                        if a.version == mv.version) or "-")]),
    ]
    if run is not None:
        parts.append(_pairs(f"run {run.id}", [
            ("experiment", run.experiment), ("status", run.status),
            ("started", _t(run.start_time)), ("ended", _t(run.end_time)),
            ("code commit", (run.code_commit or "-") + (" (dirty)" if run.code_dirty else "")),
            ("repository", run.code_repo), ("entry point", run.entry_point),
            ("recipe", _recipe(run.recipe)),
            ("source", run.source), ("python", run.python_version), ("user", run.user),
            ("params", ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())) or "-"),
            ("metrics", ", ".join(f"{k}={_v(v)}" for k, v in sorted(run.metrics.items()))
             or "-")]))
    else:
        parts.append(Text("run: none recorded", style="dim"))
    parts.append(_grid("training data", ["dataset", "role", "digest", "rows", "as of", "window"],
                       [[f"{d.dataset}/{d.version}", d.role, d.digest[:16], d.n_rows,
                         _t(d.as_of), f"[{_t(d.window_start)}, {_t(d.window_end)})"
                         if d.window_start else "-"] for d in trace.datasets], "none recorded"))
    parts.append(_grid("validation reports", ["report", "status", "created", "by", "checks"],
                       [[r.id, r.status, _t(r.created_at), r.created_by,
                         ", ".join(f"{c.name}={c.status}" for c in r.checks)]
                        for r in trace.validation], "none"))
    parts.append(_grid("aliases at the prediction's time", ["alias", "version", "moved", "by",
                                                            "reason"],
                       [[a.alias, a.version, _t(a.moved_at), a.moved_by, a.reason]
                        for a in trace.aliases], "none"))
    parts.append(_grid(f"alias moves to or from {mv.ref}", ["alias", "from", "to", "moved", "by",
                                                           "reason"],
                       [[e.alias, e.old_version, e.new_version, _t(e.moved_at), e.moved_by,
                         e.reason] for e in trace.alias_history], "none"))
    parts.append(_grid("journal in force", ["written", "by", "version", "text"],
                       [[_t(j.created_at), j.author, j.version, j.text] for j in trace.journal],
                       "no entries"))
    if trace.audit:
        parts.append(_grid("audit log", ["seq", "at", "actor", "action", "target"],
                           [[r.seq, _t(r.at), r.actor, r.action, r.target]
                            for r in trace.audit], "none"))
    if trace.explanation is not None:
        e = trace.explanation
        parts.append(Group(Text(f"explanation ({'cached' if e.cached else 'computed'}; "
                                f"reproduced within {e.reproduction.max_abs_diff:.3g})",
                                style="bold"), Text(e.to_text())))
    else:
        parts.append(Group(Text("explanation", style="bold"),
                           Text(f"  not available: {trace.explanation_error}")))
    spaced: list[RenderableType] = []
    for part in parts:
        spaced.extend([part, Text("")])
    return Group(*spaced[:-1])


def trace_text(trace: Trace, width: int = 110) -> str:
    """The trace as plain text (no colours)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      highlight=False)
    console.print(trace_renderable(trace))
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]
