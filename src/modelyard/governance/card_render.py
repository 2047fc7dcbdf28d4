"""Model cards as HTML, Markdown and a Hugging Face README (see :mod:`.card`).

Every stored value goes through an escaping filter before it reaches the output: HTML through
Jinja's autoescaping (the page has no script at all, so no value is ever placed in one), and
Markdown through :func:`md`, which turns ``<``, ``>`` and ``&`` into entities and puts a
backslash before every character Markdown reads as syntax mid-line (emphasis, code, links,
table cells), so a column called
``</script>`` or a description with ``| ** [x](y)`` shows as written. The Hugging Face front
matter is written with ``yaml.safe_dump``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:
    from .card import ModelCard

__all__ = ["md", "render_html", "render_huggingface", "render_markdown"]

_MD_SPECIAL = set("\\`*_[]|~#")  # every value sits mid-line: line-start syntax cannot occur
_LIBRARIES = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm",
              "onnx": "onnx", "pytorch": "pytorch"}


def md(value: Any) -> str:
    """``value`` as literal Markdown text (also safe inside a table cell)."""
    if value is None:
        return ""
    text = _plain(value)
    out = []
    for ch in text:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in "\r\n":
            out.append(" ")
        elif ch in _MD_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    return str(value)


def _num(value: Any) -> str:
    return "" if value is None else _plain(value)


_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)
_env.filters["md"] = md
_env.filters["v"] = _num


def _context(card: ModelCard) -> dict[str, Any]:
    overall = [m for m in card.metrics if m.slice is None]
    sliced = [m for m in card.metrics if m.slice is not None]
    grouped: dict[tuple[str, str, str, str], list[Any]] = defaultdict(list)
    for p in card.monitoring:  # every overall figure; per feature, whether it drifted
        if p.feature is None or p.name == "drifted":
            grouped[(p.name, p.feature or "", p.endpoint, p.route or "")].append(p)
    series = [(key, _summary(points)) for key, points in sorted(grouped.items())]
    importance = card.importance.features if card.importance is not None else []
    top = max((f.mean_abs for f in importance), default=0.0) or 1.0
    return {"card": card, "mv": card.version, "overall": overall, "sliced": sliced,
            "series": series, "bars": [(f, round(100 * f.mean_abs / top, 1))
                                                        for f in importance[:20]],
            "lineage_text": card.lineage.to_text(),
            "aliases_now": sorted(card.model.aliases.items())}


def _summary(points: list[Any]) -> dict[str, Any]:
    """One monitor series: its windows, last, lowest and highest value, and a sparkline (SVG
    polyline points computed here: numbers only)."""
    values = [p.value for p in points if p.value is not None and math.isfinite(p.value)]
    line = ""
    if len(values) > 1:
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        step = 100 / (len(values) - 1)
        line = " ".join(f"{i * step:.1f},{18 - 16 * (v - lo) / span:.1f}"
                        for i, v in enumerate(values))
    return {"n": len(points), "first": points[0].window_end, "last": points[-1].window_end,
            "value": points[-1].value, "min": min(values) if values else None,
            "max": max(values) if values else None, "line": line}


def render_html(card: ModelCard) -> str:
    return _env.get_template("card.html").render(**_context(card))


def render_markdown(card: ModelCard) -> str:
    return _env.get_template("card.md").render(**_context(card))


def _task(card: ModelCard) -> str:
    outputs = card.version.signature.outputs if card.version.signature else []
    if outputs and outputs[0].type == "float":
        return "tabular-regression"
    return "tabular-classification"


def render_huggingface(card: ModelCard) -> str:
    mv = card.version
    meta: dict[str, Any] = {}
    if card.fields.get("license"):
        meta["license"] = card.fields["license"]
    if mv.flavor in _LIBRARIES:
        meta["library_name"] = _LIBRARIES[mv.flavor]
    meta["tags"] = ["modelyard", mv.flavor, _task(card)]
    results = [{"type": m.name, "name": m.name, "value": m.value}
               for m in card.metrics if m.slice is None and m.source == "run"
               and m.value is not None and math.isfinite(m.value)]
    if results:
        meta["model-index"] = [{"name": mv.ref, "results": [
            {"task": {"type": _task(card)}, "metrics": results}]}]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{render_markdown(card)}"
