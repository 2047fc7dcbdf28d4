"""Bitemporal reads: as_of (knowledge time) and window (event time)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

import modelyard as my
from conftest import T0
from modelyard.errors import InvalidParameter, NotFound


@pytest.fixture
def history(dyard: my.Yard, make_loans, clock):
    """Version 1 at T0 (January), version 2 at T0+1d (+February), version 3 at T0+2d (+March)."""
    jan = make_loans(24 * 31, seed=1, start="2026-01-01")
    feb = make_loans(24 * 28, seed=2, start="2026-02-01")
    mar = make_loans(24 * 31, seed=3, start="2026-03-01")
    dyard.datasets.add("loans", jan, time_column="ts")
    clock.advance(86400)
    dyard.datasets.append("loans", feb)
    clock.advance(86400)
    dyard.datasets.append("loans", mar)
    return jan, feb, mar


def test_as_of_gives_exactly_the_rows_known_then(dyard: my.Yard, history) -> None:
    jan, feb, _ = history
    view = dyard.datasets.get("loans").as_of(T0 + timedelta(hours=30))
    assert (view.version, view.as_of) == (2, T0 + timedelta(hours=30))
    got = view.to_pandas()
    expected = pd.concat([jan, feb], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert dyard.datasets.as_of("loans", T0).version == 1
    assert dyard.datasets.as_of("loans", "2026-03-03T00:00:00Z").count() == len(jan) * 3 - 24 * 3


def test_as_of_before_the_first_version(dyard: my.Yard, history) -> None:
    with pytest.raises(NotFound, match="had no version at 2026-02-28"):
        dyard.datasets.as_of("loans", "2026-02-28")


def test_as_of_on_an_old_version_never_sees_later_ones(dyard: my.Yard, history) -> None:
    v1 = dyard.datasets.get("loans", version=1)
    assert v1.as_of(T0 + timedelta(days=10)).version == 1


def test_window_selects_event_time(dyard: my.Yard, history) -> None:
    _, feb, _ = history
    view = dyard.datasets.window("loans", "2026-02-01", "2026-03-01")
    pd.testing.assert_frame_equal(view.to_pandas(), feb, check_dtype=False)
    assert view.count() == len(feb)
    assert (view.window_start.isoformat(), view.window_end.isoformat()) == (
        "2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00")


def test_window_as_known_at_a_time(dyard: my.Yard, history) -> None:
    # the last 90 days as known on T0 + 12h: only January had arrived
    view = dyard.datasets.window("loans", "2025-12-01", "2026-03-01", as_of=T0 + timedelta(hours=12))
    assert (view.version, view.count()) == (1, 24 * 31)
    later = dyard.datasets.window("loans", "2025-12-01", "2026-03-01", as_of=T0 + timedelta(days=3))
    assert (later.version, later.count()) == (3, 24 * 59)


def test_window_needs_a_time_column_and_an_order(dyard: my.Yard, make_loans) -> None:
    dv = dyard.datasets.add("plain", make_loans(10))
    with pytest.raises(InvalidParameter, match="has no time_column"):
        dv.window("2026-01-01", "2026-02-01")
    timed = dyard.datasets.add("timed", make_loans(10), time_column="ts")
    with pytest.raises(InvalidParameter, match="end must be after start"):
        timed.window("2026-02-01", "2026-01-01")
    with pytest.raises(InvalidParameter, match="start must be an ISO-8601 date"):
        timed.window("yesterday", "2026-01-01")


def test_each_row_knows_when_it_became_known(dyard: my.Yard, history) -> None:
    table = dyard.datasets.get("loans").view().to_arrow(with_ingested_at=True)
    known = table.column("_ingested_at").to_pylist()
    assert known[0] == T0 and known[-1] == T0 + timedelta(days=2)
    assert sorted(set(known)) == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]


def test_readers_agree(dyard: my.Yard, history, small_fragments) -> None:
    view = dyard.datasets.window("loans", "2026-01-15", "2026-02-15")
    arrow = view.to_arrow()
    batches = list(view.iter_batches(batch_size=100))
    assert all(b.num_rows <= 100 for b in batches)
    assert sum(b.num_rows for b in batches) == arrow.num_rows == view.count()
    assert view.to_polars().to_arrow().column("amount").to_pylist() == \
        arrow.column("amount").to_pylist()
    assert view.to_pandas(columns=["amount"]).columns.tolist() == ["amount"]
    with pytest.raises(InvalidParameter, match="columns must be among"):
        view.to_arrow(columns=["nope"])


def test_a_view_has_what_a_run_records(dyard: my.Yard, history) -> None:
    view = dyard.datasets.window("loans", "2026-01-01", "2026-02-01", as_of=T0)
    assert (view.name, view.version, view.digest) == ("loans", 1, dyard.datasets.get("loans/1").digest)
    assert view.as_of == T0
    dv = dyard.datasets.get("loans")
    assert (dv.window_start, dv.window_end) == (None, None)


def test_fragments_on_an_fsspec_store_are_fetched_verified_once(
    sqlite_url: str, tmp_path, make_loans
) -> None:
    import uuid

    from modelyard.config import Settings

    settings = Settings.load({}, home=tmp_path / "home")
    artifacts = f"memory://yard-{uuid.uuid4().hex}"
    with my.connect(sqlite_url, artifacts=artifacts, settings=settings) as yard:
        df = make_loans(30)
        dv = yard.datasets.add("loans", df, time_column="ts")
        pd.testing.assert_frame_equal(dv.to_pandas(), df, check_dtype=False)
        cached = list((tmp_path / "home" / "cache" / "blobs").rglob("*.parquet"))
        assert [p.name for p in cached] == [f"{dv.fragments[0].digest}.parquet"]
        assert yard.datasets.window("loans", "2026-01-01", "2026-01-02").count() == 24
