"""The data dictionary's expectations (valid range, largest null rate) are checked by a
suite's data check for every model trained on that dataset, unless the suite sets its own."""

from __future__ import annotations

import textwrap

import pytest

import modelyard as my
from modelyard.errors import InvalidParameter

SUITE = textwrap.dedent('''
    checks:
      - {type: data, columns: [mean_radius, target]}
''')


def test_a_dictionary_range_fails_the_data_check_until_it_fits(cancer: my.Yard) -> None:
    yard = cancer
    yard.validation.set_suite("cancer", yaml=SUITE)
    assert yard.validation.run("cancer/2").status == "passed"

    info = yard.datasets.describe("cancer", "mean_radius", valid_min=0, valid_max=20,
                                  description="radius of the tumour", unit="mm")
    assert (info.valid_min, info.valid_max, info.unit) == (0.0, 20.0, "mm")
    yard.datasets.describe("cancer", "mean_texture", max_null_rate=0.0)
    report = yard.validation.run("cancer/2")
    data = {c.name: c for c in report.checks}["data"]
    assert data.status == "failed" and report.status == "failed"
    assert "'mean_radius' goes up to" in data.message and "above 20.0" in data.message
    assert data.details["train"]["expected_by_dictionary"] == ["mean_radius", "mean_texture"]
    assert data.details["train"]["null_rates"] == {"mean_texture": 0.0}

    # the suite's own range wins over the dictionary's for that column
    yard.validation.set_suite("cancer", yaml=SUITE.replace(
        "target]}", "target], ranges: {mean_radius: [0, 50]}}"))
    assert yard.validation.run("cancer/2").status == "passed"

    # and `dictionary: false` leaves the dictionary out
    yard.validation.set_suite("cancer", yaml=SUITE.replace("target]}",
                                                           "target], dictionary: false}"))
    yard.datasets.describe("cancer", "mean_texture", valid_max=1)
    assert yard.validation.run("cancer/2").status == "passed"

    # '' clears an expectation; the others stay
    yard.validation.set_suite("cancer", yaml=SUITE)
    yard.datasets.describe("cancer", "mean_radius", valid_max="")
    yard.datasets.describe("cancer", "mean_texture", valid_max="")
    entry = {e.column: e for e in yard.datasets.dictionary("cancer")}["mean_radius"]
    assert (entry.valid_min, entry.valid_max, entry.unit) == (0.0, None, "mm")
    assert yard.validation.run("cancer/2").status == "passed"


def test_a_range_on_a_text_column_is_a_failed_check_naming_it(cancer: my.Yard) -> None:
    cancer.validation.set_suite("cancer", yaml=SUITE)
    cancer.datasets.describe("cancer", "size_band", valid_min=0)
    data = {c.name: c for c in cancer.validation.run("cancer/2").checks}["data"]
    assert data.status == "failed" and "'size_band' has a range to check" in data.message


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"valid_min": 5, "valid_max": 1}, "valid_min", "must not be above valid_max"),
    ({"valid_min": "ten"}, "valid_min", "must be a number"),
    ({"valid_max": float("nan")}, "valid_max", "finite number"),
    ({"max_null_rate": 1.5}, "max_null_rate", "within 0 and 1"),
])
def test_bad_expectations_are_refused_naming_the_field(cancer: my.Yard, kwargs: dict,
                                                       field: str, words: str) -> None:
    before = {e.column: e for e in cancer.datasets.dictionary("cancer")}
    with pytest.raises(InvalidParameter, match=words) as err:
        cancer.datasets.describe("cancer", "mean_radius", **kwargs)
    assert err.value.field == field
    assert {e.column: e for e in cancer.datasets.dictionary("cancer")} == before
