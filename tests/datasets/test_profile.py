"""Profiles: computed on add, merged on append, streamed in bounded memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import modelyard as my
from modelyard.datasets.profile import FragmentProfiler, build_profile, merge_sketches


def test_numbers_are_summarised_exactly(dyard: my.Yard, make_loans) -> None:
    df = make_loans(500)
    df.loc[::50, "amount"] = np.nan
    dv = dyard.datasets.add("loans", df, time_column="ts")
    assert {c.name: c.nullable for c in dv.schema}["amount"] is True
    assert {c.name: c.nullable for c in dv.schema}["term"] is False
    profile = dv.profile
    amount = profile["amount"]
    values = df.amount.dropna()
    assert (amount.kind, amount.count, amount.nulls) == ("numeric", 490, 10)
    assert (amount.min, amount.max) == (values.min(), values.max())
    assert amount.mean == pytest.approx(values.mean())
    assert amount.std == pytest.approx(values.std(ddof=0))
    assert amount.quantile(0.5) == pytest.approx(values.quantile(0.5))
    assert amount.quantiles[0.9] == pytest.approx(values.quantile(0.9))
    hist = amount.histogram
    assert sum(hist.counts) == 490 and len(hist.edges) == len(hist.counts) + 1
    assert hist.edges[0] <= values.min() and hist.edges[-1] > values.max()
    inside = ((values >= hist.edges[3]) & (values < hist.edges[4])).sum()
    assert hist.counts[3] == inside


def test_categories_and_times(dyard: my.Yard, make_loans) -> None:
    df = make_loans(300)
    profile = dyard.datasets.add("loans", df, time_column="ts").profile
    grade = profile["grade"]
    assert grade.kind == "categorical" and grade.n_distinct == 4
    assert [(c.value, c.count) for c in grade.top] == list(df.grade.value_counts().items())
    assert profile["defaulted"].top[0].value in ("true", "false")
    ts = profile["ts"]
    assert (ts.kind, ts.min, ts.max) == ("datetime", df.ts.min().isoformat(), df.ts.max().isoformat())
    assert profile.n_rows == 300 and profile.version == 1


def test_append_merges_profiles_without_rereading(
    dyard: my.Yard, make_loans, clock, small_fragments
) -> None:
    parts = [make_loans(400, seed=s) for s in range(3)]
    dyard.datasets.add("loans", parts[0], time_column="ts")
    for part in parts[1:]:
        clock.advance(1)
        dyard.datasets.append("loans", part)
    profile = dyard.datasets.profile("loans")
    whole = pd.concat(parts)
    amount = profile["amount"]
    assert amount.count == 1200
    assert amount.mean == pytest.approx(whole.amount.mean())
    assert amount.std == pytest.approx(whole.amount.std(ddof=0))
    assert sum(amount.histogram.counts) == 1200
    for q in (0.1, 0.5, 0.9):
        rank = (whole.amount <= amount.quantile(q)).mean()
        assert rank == pytest.approx(q, abs=0.02)
    assert profile["grade"].top[0].count == (whole.grade == "A").sum()
    assert dyard.datasets.profile("loans", version=1).n_rows == 400


def test_quantiles_of_a_large_column_come_from_a_sample(monkeypatch) -> None:
    from modelyard.datasets import profile as module

    monkeypatch.setattr(module, "SAMPLE_SIZE", 2_000)
    rng = np.random.default_rng(1)
    values = rng.normal(size=50_000)
    schema = pa.schema([("x", pa.float64())])
    profiler = FragmentProfiler(schema, seed=3)
    for chunk in np.array_split(values, 25):
        profiler.update(pa.record_batch([pa.array(chunk)], schema=schema))
    col = build_profile("d", 1, profiler.sketch())["x"]
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert (values <= col.quantile(q)).mean() == pytest.approx(q, abs=0.03)
    assert col.mean == pytest.approx(values.mean())


def test_merged_sketches_equal_one_sketch_for_exact_parts() -> None:
    rng = np.random.default_rng(2)
    values = rng.integers(-1000, 5000, 3000).astype(float)
    schema = pa.schema([("x", pa.float64())])

    def sketch(chunks):
        p = FragmentProfiler(schema, seed=0)
        for c in chunks:
            p.update(pa.record_batch([pa.array(c)], schema=schema))
        return p.sketch()

    one = build_profile("d", 1, sketch([values]))["x"]
    merged = build_profile("d", 1, merge_sketches([sketch([values[:1000]]), sketch([values[1000:]])]))["x"]
    assert (merged.count, merged.min, merged.max) == (one.count, one.min, one.max)
    assert merged.mean == pytest.approx(one.mean) and merged.std == pytest.approx(one.std)
    assert merged.histogram == one.histogram


def test_odd_columns(dyard: my.Yard) -> None:
    df = pd.DataFrame({
        "const": [5.0] * 10,
        "empty": pd.Series([None] * 10, dtype="float64"),
        "big": [1e300, -1e300] * 5,
        "ints": list(range(10)),
        "blob": [b"x"] * 10,
    })
    profile = dyard.datasets.add("odd", df).profile
    assert profile["const"].histogram.counts == [10] and profile["const"].std == 0
    assert (profile["empty"].count, profile["empty"].nulls, profile["empty"].mean) == (0, 10, None)
    assert sum(profile["big"].histogram.counts) == 10
    assert profile["blob"].kind == "other" and profile["blob"].count == 10
