"""The data dictionary: what each column means, kept across versions."""

from __future__ import annotations

import pytest

import modelyard as my
from modelyard.errors import InvalidParameter, NotFound


def test_descriptions_are_kept_across_versions(dyard: my.Yard, make_loans, clock) -> None:
    dyard.datasets.add("loans", make_loans(10), time_column="ts")
    info = dyard.datasets.describe("loans", "amount", description="Principal lent", unit="EUR",
                                   owner="credit-risk", sensitivity="confidential")
    assert (info.unit, info.owner, info.updated_at) == ("EUR", "credit-risk", clock.now())
    clock.advance(60)
    dyard.datasets.append("loans", make_loans(5, start="2026-02-01"))
    dyard.datasets.describe("loans", "amount", unit="USD")
    entries = {c.column: c for c in dyard.datasets.dictionary("loans")}
    assert list(entries) == ["ts", "amount", "term", "grade", "defaulted"]
    amount = entries["amount"]
    assert (amount.description, amount.unit, amount.sensitivity) == (
        "Principal lent", "USD", "confidential")
    assert entries["term"].description is None
    dyard.datasets.describe("loans", "amount", unit="")
    assert dyard.datasets.dictionary("loans")[1].unit is None


def test_describe_unknown_column_or_dataset(dyard: my.Yard, make_loans) -> None:
    dyard.datasets.add("loans", make_loans(10), time_column="ts")
    with pytest.raises(InvalidParameter, match="column must be one of the columns of 'loans'"):
        dyard.datasets.describe("loans", "nope", description="x")
    with pytest.raises(NotFound, match="No dataset named 'ghost'"):
        dyard.datasets.describe("ghost", "amount", description="x")
