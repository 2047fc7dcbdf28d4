"""The same SDK over HTTP: fragments travel as verified blobs, the manifest through the API."""

from __future__ import annotations

import pandas as pd
import pytest

import modelyard as my
from modelyard.errors import NotFound, SchemaMismatch


def test_add_append_read_over_http(remote_yard: my.Yard, make_loans) -> None:
    jan = make_loans(100)
    v1 = remote_yard.datasets.add("loans", jan, time_column="ts")
    feb = make_loans(50, seed=1, start="2026-02-01")
    v2 = remote_yard.datasets.append("loans", feb)
    assert (v1.version, v2.version, v2.n_rows) == (1, 2, 150)
    got = remote_yard.datasets.get("loans").to_pandas()
    pd.testing.assert_frame_equal(got, pd.concat([jan, feb], ignore_index=True), check_dtype=False)
    assert remote_yard.datasets.window("loans", "2026-02-01", "2026-03-01").count() == 50
    assert remote_yard.datasets.as_of("loans", v1.created_at).version == 1
    assert remote_yard.datasets.profile("loans")["amount"].count == 150
    assert remote_yard.datasets.get("loans", version=1).profile.n_rows == 100
    remote_yard.datasets.describe("loans", "amount", unit="EUR")
    assert remote_yard.datasets.dictionary("loans")[1].unit == "EUR"
    assert [d.name for d in remote_yard.datasets.list()] == ["loans"]
    with pytest.raises(SchemaMismatch, match="'term': missing"):
        remote_yard.datasets.append("loans", feb.drop(columns=["term"]))
    with pytest.raises(NotFound):
        remote_yard.datasets.get("loans", version=9)
