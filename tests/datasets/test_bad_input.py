"""Bad input: a clear error naming the problem, and nothing registered."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter, NotFound


def _nothing_registered(yard: my.Yard, tmp_path: Path) -> None:
    assert yard.datasets.list() == []
    blobs = tmp_path / "artifacts" / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


def test_empty_data(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="must have at least one row. Got 0 rows"):
        dyard.datasets.add("loans", make_loans(0), time_column="ts")
    with pytest.raises(InvalidParameter, match="must have at least one column"):
        dyard.datasets.add("loans", pd.DataFrame())
    _nothing_registered(dyard, tmp_path)


def test_empty_file(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    make_loans(0).to_parquet(path)
    with pytest.raises(InvalidParameter, match="at least one row"):
        dyard.datasets.add("loans", path)
    _nothing_registered(dyard, tmp_path)


def test_missing_time_column(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"time_column must be one of the columns .* "
                                               r"Got 'when' instead") as info:
        dyard.datasets.add("loans", make_loans(), time_column="when")
    assert info.value.field == "time_column"
    _nothing_registered(dyard, tmp_path)


def test_unparseable_timestamps(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    df = make_loans(5).assign(ts=["2026-01-01", "2026-01-02T10:00:00Z", "not a date",
                                  "2026-01-04", "2026-01-05"])
    with pytest.raises(InvalidParameter, match=r"time column 'ts' must hold ISO-8601 times.*"
                                               r"Got 'not a date' \(row 2"):
        dyard.datasets.add("loans", df, time_column="ts")
    _nothing_registered(dyard, tmp_path)


def test_missing_timestamps_and_wrong_type(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    df = make_loans(5)
    df.loc[2, "ts"] = pd.NaT
    with pytest.raises(InvalidParameter, match="must have a time on every row. Got 1 missing"):
        dyard.datasets.add("loans", df, time_column="ts")
    with pytest.raises(InvalidParameter, match="time column 'amount' must hold timestamps.*"
                                               "Got type double"):
        dyard.datasets.add("loans", make_loans(5), time_column="amount")
    _nothing_registered(dyard, tmp_path)


def test_mixed_types_in_a_column(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    df = make_loans(4).assign(term=pd.Series([12, "twenty", 36.0, 60], dtype=object))
    with pytest.raises(InvalidParameter, match="column 'term' must hold values of one type. "
                                               "Got a mix of float, int, str") as info:
        dyard.datasets.add("loans", df, time_column="ts")
    assert info.value.field == "term"
    _nothing_registered(dyard, tmp_path)


def test_corrupt_parquet(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InvalidParameter, match="must be a readable Parquet file"):
        dyard.datasets.add("loans", path)
    good = tmp_path / "cut.parquet"
    make_loans(100).to_parquet(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(data[: len(data) // 2] + data[-8:])
    with pytest.raises(InvalidParameter, match="truncated.parquet"):
        dyard.datasets.add("loans", truncated)
    _nothing_registered(dyard, tmp_path)


def test_path_that_does_not_exist(dyard: my.Yard, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"No file or folder at '.*nowhere.parquet'"):
        dyard.datasets.add("loans", tmp_path / "nowhere.parquet")
    with pytest.raises(NotFound, match="No file or folder at 'memory://nowhere/x.parquet'"):
        dyard.datasets.add("loans", "memory://nowhere/x.parquet")
    _nothing_registered(dyard, tmp_path)


def test_unknown_source_kind_and_bad_names(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="source must be a pandas or polars DataFrame"):
        dyard.datasets.add("loans", [1, 2, 3])
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(InvalidParameter, match="must be a Parquet file"):
        dyard.datasets.add("loans", notes)
    with pytest.raises(InvalidParameter, match="name must be 1-128 letters, digits"):
        dyard.datasets.add("../etc", make_loans(5))
    with pytest.raises(InvalidParameter, match="key_columns must be columns of the data"):
        dyard.datasets.add("loans", make_loans(5), key_columns=["id"])
    _nothing_registered(dyard, tmp_path)


def test_a_corrupt_stored_fragment_is_refused(dyard: my.Yard, make_loans, tmp_path: Path) -> None:
    from modelyard.errors import IntegrityError

    dv = dyard.datasets.add("loans", make_loans(20), time_column="ts")
    [blob] = [p for p in (tmp_path / "artifacts" / "blobs").rglob(dv.fragments[0].digest)]
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="is corrupt"):
        dyard.datasets.get("loans").to_pandas()


def test_a_corrupt_fragment_is_stored_again_by_the_next_add_of_the_same_rows(
    dyard: my.Yard, make_loans, tmp_path: Path
) -> None:
    from modelyard.errors import IntegrityError

    rows = make_loans(20)
    dv = dyard.datasets.add("loans", rows, time_column="ts")
    [blob] = [p for p in (tmp_path / "artifacts" / "blobs").rglob(dv.fragments[0].digest)]
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="is corrupt"):
        dyard.datasets.get("loans").to_pandas()
    assert dyard.datasets.add("loans", rows).version == dv.version  # same content, same version
    pd.testing.assert_frame_equal(dyard.datasets.get("loans").to_pandas(), rows,
                                  check_dtype=False)
