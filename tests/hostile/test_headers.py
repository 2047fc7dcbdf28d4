"""Values a caller sends that come back in a response header (a redirect's Location) are
percent-encoded: CR/LF in them cannot start a header of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import modelyard as my
from modelyard.cli.core import _dashboard

from .conftest import HTTP


@pytest.mark.parametrize("path", ["/ui/predictions?id=abc%0d%0aSet-Cookie:%20evil=1",
                                  "/ui/predictions?id=abc%0aLocation:%20http://evil.example",
                                  "/ui/predictions?id=%0d%0a%0d%0a<script>x</script>"])
def test_a_redirect_never_carries_an_injected_header(hostile_yard: my.Yard,
                                                     server_factory: Callable[..., Any],
                                                     path: str) -> None:
    ui = server_factory(hostile_yard, **_dashboard())
    r = HTTP.get(f"{ui.url}{path}", follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert "\r" not in location and "\n" not in location
    assert location.startswith("/ui/predictions/")
    assert not any("evil" in c for c in r.headers.get_list("set-cookie"))
    assert [v for k, v in r.headers.multi_items() if k == "location"] == [location]
