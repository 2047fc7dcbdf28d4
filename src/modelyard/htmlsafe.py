"""The one way data reaches a page's script: JSON that cannot end the element it sits in.

The dashboard and the HTML reports hand their chart specs and other data to the browser as

    <script type="application/json" id="…">{{ value|tojson }}</script>

which a script reads with ``JSON.parse(el.textContent)``. JSON itself does not escape ``<``,
so a string such as ``</script><script>…`` (a metric key, a dataset column, a category
value) would end the element and run as code. :func:`json_for_html` escapes every ``<``,
``>`` and ``&`` (so neither ``</script>`` nor ``<!--`` can appear), and U+2028/U+2029, as
``\\uXXXX`` escapes: the text is still the same JSON value, now inert in HTML.

Plotly then reads its own strings (titles, legend names, category labels, hover text) as a
small subset of HTML (``<b>``, ``<br>``, ``<a href>``, entities). :func:`plotly_literal`
escapes ``&``, ``<`` and ``>`` in every string of a figure spec, so Plotly shows a category
value such as ``<b>x</b>`` as it is rather than as markup.
"""

from __future__ import annotations

from typing import Any

import orjson
from markupsafe import Markup

__all__ = ["json_for_html", "plotly_literal"]

_ESCAPES = str.maketrans({
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
})


def _default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    return str(value)


def json_for_html(value: Any) -> Markup:
    """``value`` as JSON safe to place inside a ``<script>`` element (not in an attribute:
    let the template's autoescaping handle those).

    Numbers that are not finite become ``null`` (JSON has no NaN); datetimes are ISO 8601;
    anything else unknown is its ``str``."""
    text = orjson.dumps(
        value, default=_default,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    ).decode()
    return Markup(text.translate(_ESCAPES))


def plotly_literal(spec: Any) -> Any:
    """A copy of a Plotly figure spec (or a part of one) whose strings Plotly shows literally.

    Only ``&``, ``<`` and ``>`` change, which never occur in Plotly's own enumerated values
    (trace types, modes, colours), so the whole spec can be passed through."""
    if isinstance(spec, str):
        return spec.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(spec, dict):
        return {k: plotly_literal(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [plotly_literal(v) for v in spec]
    return spec
