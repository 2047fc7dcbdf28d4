"""Adding and appending: content addressing, shared fragments, provenance, schema checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modelyard as my
from modelyard.errors import NotFound, SchemaMismatch


def _blobs(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "artifacts" / "blobs").rglob("*") if p.is_file()}


def test_add_records_schema_rows_and_provenance(dyard: my.Yard, make_loans) -> None:
    dv = dyard.datasets.add("loans", make_loans(), time_column="ts", key_columns=["ts"],
                            transform="raw export", code_commit="abc123")
    assert (dv.name, dv.version, dv.n_rows) == ("loans", 1, 200)
    assert [(c.name, c.type) for c in dv.schema] == [
        ("ts", "timestamp[us, tz=UTC]"), ("amount", "double"), ("term", "int64"),
        ("grade", "string"), ("defaulted", "bool"),
    ]
    assert dv.time_column == "ts" and dv.key_columns == ["ts"]
    assert dv.source_uri == "pandas.DataFrame" and dv.created_by
    assert (dv.transform, dv.code_commit) == ("raw export", "abc123")
    assert dv.n_bytes == sum(f.n_bytes for f in dv.fragments) > 0
    assert len(dv.digest) == 64


def test_same_content_from_any_source_is_the_same_version(
    dyard: my.Yard, make_loans, tmp_path: Path
) -> None:
    df = make_loans()
    first = dyard.datasets.add("loans", df, time_column="ts")
    path = tmp_path / "loans.parquet"
    pq.write_table(pa.Table.from_pandas(df), path, row_group_size=7)
    for source in (df, pl.from_pandas(df), pa.Table.from_pandas(df), path, str(path)):
        again = dyard.datasets.add("loans", source, time_column="ts")
        assert (again.version, again.digest) == (1, first.digest)
    assert len(dyard.datasets.versions("loans")) == 1


def test_csv_source(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    df = make_loans(50)
    path = tmp_path / "loans.csv"
    df.assign(ts=df.ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
    dv = dyard.datasets.add("loans", path, time_column="ts")
    out = dv.to_pandas()
    assert out.ts.tolist() == df.ts.tolist()
    assert out.amount.tolist() == df.amount.tolist()


def test_append_shares_fragments_and_stores_only_new_rows(
    dyard: my.Yard, make_loans, clock, tmp_path: Path
) -> None:
    v1 = dyard.datasets.add("loans", make_loans(200), time_column="ts")
    before = _blobs(tmp_path)
    clock.advance(60)
    v2 = dyard.datasets.append("loans", make_loans(50, seed=1, start="2026-02-01"))
    assert (v2.version, v2.n_rows) == (2, 250)
    assert v2.fragments[: len(v1.fragments)] == v1.fragments
    new = _blobs(tmp_path) - before
    assert new == {f.digest for f in v2.fragments[len(v1.fragments):]}
    assert v2.fragments[-1].n_rows == 50
    assert v2.fragments[-1].ingested_at > v1.fragments[0].ingested_at
    assert dyard.datasets.get("loans").version == 2


def test_append_accepts_columns_in_another_order(dyard: my.Yard, make_loans) -> None:
    dyard.datasets.add("loans", make_loans(20), time_column="ts")
    rows = make_loans(5, seed=2, start="2026-05-01")
    v2 = dyard.datasets.append("loans", rows[list(reversed(rows.columns))])
    assert v2.to_pandas().columns.tolist() == list(make_loans(1).columns)
    assert v2.to_pandas().tail(5).amount.tolist() == rows.amount.tolist()


def test_appending_the_same_rows_again_is_a_no_op(dyard: my.Yard, make_loans, clock) -> None:
    dyard.datasets.add("loans", make_loans(20), time_column="ts")
    rows = make_loans(5, seed=2, start="2026-05-01")
    v2 = dyard.datasets.append("loans", rows)
    clock.advance(60)
    assert dyard.datasets.append("loans", rows).version == v2.version


def test_append_with_another_schema_is_refused_and_writes_nothing(
    dyard: my.Yard, make_loans, tmp_path: Path
) -> None:
    dyard.datasets.add("loans", make_loans(20), time_column="ts")
    before = _blobs(tmp_path)
    bad = make_loans(5).drop(columns=["term"]).assign(amount="high", extra=1)
    with pytest.raises(SchemaMismatch, match=r"'amount': expected double, got string") as info:
        dyard.datasets.append("loans", bad)
    assert "'term': missing (expected int64)" in str(info.value)
    assert "'extra': not in the dataset (got int64)" in str(info.value)
    assert _blobs(tmp_path) == before
    assert [v.version for v in dyard.datasets.versions("loans")] == [1]


def test_append_to_unknown_dataset(dyard: my.Yard, make_loans) -> None:
    with pytest.raises(NotFound, match="No dataset named 'nope'"):
        dyard.datasets.append("nope", make_loans(5))


def test_new_content_makes_a_new_version_keeping_known_fragments(
    dyard: my.Yard, make_loans, clock
) -> None:
    v1 = dyard.datasets.add("loans", make_loans(30), time_column="ts")
    clock.advance(60)
    v2 = dyard.datasets.add("loans", make_loans(30, seed=5))
    assert (v2.version, v2.time_column) == (2, "ts")
    assert v2.digest != v1.digest
    # reverting to the first content is a new version that stores no new bytes
    clock.advance(60)
    v3 = dyard.datasets.add("loans", make_loans(30))
    assert (v3.version, v3.digest) == (3, v1.digest)
    assert v3.fragments[0].digest == v1.fragments[0].digest


def test_parents_are_recorded(dyard: my.Yard, make_loans) -> None:
    raw = dyard.datasets.add("raw", make_loans(20), time_column="ts")
    clean = dyard.datasets.add("clean", make_loans(20).query("amount > 100"), parents=[raw],
                               transform="amount > 100")
    assert clean.parents == ["raw/1"]
    with pytest.raises(NotFound):
        dyard.datasets.add("other", make_loans(5), parents=["raw/9"])


def test_get_list_and_refs(dyard: my.Yard, make_loans, clock) -> None:
    dyard.datasets.add("loans", make_loans(20), time_column="ts")
    clock.advance(1)
    dyard.datasets.append("loans", make_loans(5, start="2026-04-01"))
    assert dyard.datasets.get("loans", version=1).n_rows == 20
    assert dyard.datasets.get("loans/2").n_rows == 25
    assert dyard.datasets.get("dataset:loans/1").version == 1
    [info] = dyard.datasets.list()
    assert (info.name, info.latest_version, info.n_rows, info.time_column) == ("loans", 2, 25, "ts")
    with pytest.raises(NotFound, match="No version 7 of dataset 'loans'"):
        dyard.datasets.get("loans", version=7)
    with pytest.raises(NotFound, match="No dataset named 'ghost'"):
        dyard.datasets.get("ghost")


def test_large_data_spans_fragments_and_row_groups(
    dyard: my.Yard, make_loans, small_fragments
) -> None:
    df = make_loans(1000)
    dv = dyard.datasets.add("loans", df, time_column="ts")
    assert [f.n_rows for f in dv.fragments] == [256, 256, 256, 232]
    assert dv.to_pandas().amount.tolist() == df.amount.tolist()
    # batches of any size in give the same fragments out
    batches = pa.Table.from_pandas(df).to_batches(max_chunksize=77)
    again = dyard.datasets.add("loans", pa.Table.from_batches(batches), time_column="ts")
    assert again.digest == dv.digest


def test_pandas_categories_are_kept(dyard: my.Yard, make_loans) -> None:
    df = make_loans(20).assign(grade=lambda d: d.grade.astype("category"))
    dv = dyard.datasets.add("loans", df, time_column="ts")
    grade = next(c for c in dv.schema if c.name == "grade")
    assert grade.type == "dictionary<values=string, indices=int32, ordered=0>"
    assert grade.categories == sorted(df.grade.unique())
    assert dv.to_pandas().grade.tolist() == df.grade.tolist()


def test_concurrent_appends_lose_nothing(dyard: my.Yard, make_loans) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dyard.datasets.add("loans", make_loans(10), time_column="ts")
    parts = [make_loans(7, seed=s, start=f"2026-0{s + 2}-01") for s in range(4)]
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda part: dyard.datasets.append("loans", part), parts))
    assert sorted(v.version for v in versions) == [2, 3, 4, 5]
    latest = dyard.datasets.get("loans")
    assert latest.n_rows == 10 + 4 * 7 and len(latest.fragments) == 5
    assert sorted(latest.to_pandas().amount) == sorted(
        pd.concat([make_loans(10), *parts]).amount)


def test_the_store_refuses_sketches_it_cannot_merge(dyard: my.Yard, make_loans) -> None:
    from modelyard.datasets.entities import NewFragment
    from modelyard.errors import InvalidParameter

    dv = dyard.datasets.add("loans", make_loans(5), time_column="ts")
    bogus = {"n_rows": 5, "columns": {c.name: {"kind": "numeric"} for c in dv.schema}}
    digest = dyard.backend.blobs.put_bytes(b"uploaded, never profiled by the SDK")
    fragment = NewFragment(digest=digest, n_rows=5, n_bytes=1, sketch=bogus)
    with pytest.raises(InvalidParameter, match="fragment sketches must be"):
        dyard.backend.datasets.commit_version("other", dv.schema, [fragment])
    assert [d.name for d in dyard.datasets.list()] == ["loans"]
