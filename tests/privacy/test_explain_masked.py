"""A prediction whose inputs the log masked cannot be explained, and the error says why (not a
type error about an HMAC string); kept columns explain as before."""

from __future__ import annotations

import httpx
import pytest

import modelyard as my
from modelyard.errors import NotReproducible

from .conftest import ServerFactory, rows


def _predict(url: str) -> str:
    reply = httpx.post(f"{url}/predict/loans", json={"records": rows(1)}, timeout=30)
    reply.raise_for_status()
    return str(reply.json()["ids"][0])


def test_a_masked_input_is_named_when_explaining(loans_server: ServerFactory,
                                                 loans_yard: my.Yard) -> None:
    with loans_server(privacy={"columns": {"income": "hash", "zip": "drop"}}) as url:
        pid = _predict(url)
    with pytest.raises(NotReproducible, match=r"\['income', 'zip'\] were masked"):
        loans_yard.explain(pid)
    trace = loans_yard.trace(pid)
    assert trace.explanation is None and "privacy.columns" in (trace.explanation_error or "")


def test_kept_columns_explain(loans_server: ServerFactory, loans_yard: my.Yard) -> None:
    with loans_server(privacy={"mask": "keep"}) as url:
        pid = _predict(url)
    assert {a.feature for a in loans_yard.explain(pid).attributions} == {"income", "age", "zip"}
