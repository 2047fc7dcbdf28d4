"""``ingested_at=``: backfilling rows that became known before now, so that reads as of a past
date (the README's examples) work on a fresh yard; knowledge time still only moves forward."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app
from modelyard.errors import InvalidParameter, NotFound


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_backfilled_versions_are_read_as_of_their_ingestion_time(dyard: my.Yard, make_loans
                                                                  ) -> None:
    jan = make_loans(48, start="2026-01-01")
    feb = make_loans(24, seed=1, start="2026-02-01")
    v1 = dyard.datasets.add("loans", jan, time_column="ts", ingested_at="2026-02-01")
    v2 = dyard.datasets.append("loans", feb, ingested_at="2026-02-20T12:00:00Z")
    assert (v1.created_at, v2.created_at) == (_at("2026-02-01"), _at("2026-02-20T12:00"))
    assert [f.ingested_at for f in v2.fragments] == [_at("2026-02-01"), _at("2026-02-20T12:00")]
    assert dyard.datasets.as_of("loans", "2026-02-10").version == 1
    assert dyard.datasets.as_of("loans", "2026-03-01").count() == 72
    known = dyard.datasets.get("loans").view().to_arrow(with_ingested_at=True).to_pandas()
    assert (known["_ingested_at"].iloc[:48] == pd.Timestamp("2026-02-01", tz="UTC")).all()
    window = dyard.datasets.window("loans", "2026-01-01", "2026-03-01", as_of="2026-02-10")
    assert window.count() == 48
    # a real as_of before the first version keeps its clear error
    with pytest.raises(NotFound, match="had no version at 2026-01-15.*first version was added "
                                       "at 2026-02-01"):
        dyard.datasets.as_of("loans", "2026-01-15")


def test_ingested_at_may_not_rewrite_history_nor_come_from_the_future(
    dyard: my.Yard, make_loans
) -> None:
    dyard.datasets.add("loans", make_loans(20), time_column="ts", ingested_at="2026-02-01")
    with pytest.raises(InvalidParameter, match="ingested_at must not be in the future") as err:
        dyard.datasets.append("loans", make_loans(5, seed=1), ingested_at="2026-03-02")
    assert err.value.field == "ingested_at"
    with pytest.raises(InvalidParameter, match="at or after the time of the latest version "
                                               "loans/1"):
        dyard.datasets.append("loans", make_loans(5, seed=1), ingested_at="2026-01-31")
    with pytest.raises(InvalidParameter, match="ingested_at must be an ISO-8601"):
        dyard.datasets.append("loans", make_loans(5, seed=1), ingested_at="last tuesday")
    assert [v.version for v in dyard.datasets.versions("loans")] == [1]
    # the same content again is simply the latest version, whatever ingested_at says
    assert dyard.datasets.add("loans", make_loans(20), ingested_at="2026-01-01").version == 1


def test_backfill_over_http(remote_yard: my.Yard, make_loans) -> None:
    v1 = remote_yard.datasets.add("loans", make_loans(30), time_column="ts",
                                  ingested_at="2026-02-01")
    assert v1.created_at == _at("2026-02-01")
    assert remote_yard.datasets.as_of("loans", "2026-03-01").version == 1
    with pytest.raises(InvalidParameter, match="at or after the time of the latest version"):
        remote_yard.datasets.append("loans", make_loans(5, seed=1), ingested_at="2026-01-01")


def test_the_cli_backfills_with_ingested_at(tmp_path: Path, make_loans) -> None:
    jan = tmp_path / "jan.parquet"
    make_loans(48).to_parquet(jan)
    home = str(tmp_path / "home")
    result = CliRunner().invoke(app, ["--home", home, "datasets", "add", "loans", str(jan),
                                      "--time-column", "ts", "--ingested-at", "2026-02-01"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["--home", home, "datasets", "as-of", "loans", "2026-03-01"])
    assert result.exit_code == 0 and "48 rows" in result.output
