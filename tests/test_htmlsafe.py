"""json_for_html: any value becomes JSON that cannot end a <script> element, and reads back
unchanged; plotly_literal escapes what Plotly would read as markup."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.htmlsafe import json_for_html, plotly_literal

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20)
    | st.sampled_from(["</script>", "<!--", "\u2028", "\u2029", "&amp;", "<b>"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_json_for_html_is_inert_and_round_trips(value: Any) -> None:
    text = str(json_for_html(value))
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == value


def test_the_known_payloads_are_escaped() -> None:
    text = str(json_for_html({"k": "</script><!--<script>\u2028"}))
    assert text == '{"k":"\\u003c/script\\u003e\\u003c!--\\u003cscript\\u003e\\u2028"}'


def test_plotly_literal_escapes_every_string_of_a_spec() -> None:
    spec = {"data": [{"type": "bar", "x": ["<b>a</b>", 1.5], "name": "a & b"}],
            "layout": {"title": {"text": "<br>"}, "height": 300}}
    assert plotly_literal(spec) == {
        "data": [{"type": "bar", "x": ["&lt;b&gt;a&lt;/b&gt;", 1.5], "name": "a &amp; b"}],
        "layout": {"title": {"text": "&lt;br&gt;"}, "height": 300}}
