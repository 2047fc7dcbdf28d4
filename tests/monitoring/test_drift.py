"""my.drift: verdicts, defaults, overrides, inputs of every kind, and bad input as findings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter, NotFittedError
from modelyard.monitoring.drift import TESTS, DriftDetector, default_test


def _frames(n: int, shift: float = 0.0, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pl.DataFrame({
        "age": rng.normal(40, 10, n),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "rome", "oslo"], n, p=[0.5, 0.3, 0.2]),
    })
    cur = pl.DataFrame({
        "age": rng.normal(40 + shift * 10, 10, n),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "rome", "oslo"], n, p=[0.5, 0.3, 0.2]),
    })
    return ref, cur


def test_a_shifted_numerical_column_drifts_and_the_others_do_not() -> None:
    ref, cur = _frames(5000, shift=0.5)
    report = my.drift(ref, cur)
    assert report.drifted_features == ["age"]
    assert report["age"].test == "wasserstein" and report["age"].threshold == 0.1
    assert report["age"].statistic == pytest.approx(0.5, abs=0.06)
    assert report["city"].test == "jensenshannon" and report["city"].drifted is False
    assert report.drift_share == pytest.approx(1 / 3)
    assert report.drifted is False


def test_small_samples_get_hypothesis_tests_with_p_values() -> None:
    ref, cur = _frames(800, shift=0.5)
    report = my.drift(ref, cur)
    assert report["age"].test == "ks" and report["age"].p_value < 0.05 and report["age"].drifted
    assert report["city"].test == "chisquare" and report["city"].p_value is not None
    assert default_test("numerical", 1001) == "wasserstein"
    assert default_test("categorical", 1000) == "chisquare"


def test_every_statistic_is_reported_for_every_column() -> None:
    ref, cur = _frames(2000, shift=0.3)
    report = my.drift(ref, cur)
    assert set(report["age"].stats) == {"ks", "wasserstein", "psi", "jensenshannon"}
    assert set(report["city"].stats) == {"chisquare", "psi", "jensenshannon"}


def test_tests_and_thresholds_are_overridable_per_feature_test_and_kind() -> None:
    ref, cur = _frames(3000, shift=0.3)
    report = my.drift(ref, cur, tests={"age": "psi", "categorical": "chisquare"},
                      thresholds={"age": 0.5, "chisquare": 0.01})
    assert (report["age"].test, report["age"].threshold) == ("psi", 0.5)
    assert report["age"].drifted is False
    assert (report["city"].test, report["city"].threshold) == ("chisquare", 0.01)
    assert report["income"].test == "wasserstein"
    everything = my.drift(ref, cur, tests="ks", thresholds=0.01)
    assert everything["age"].test == "ks" and everything["age"].threshold == 0.01
    # ks does not apply to a categorical column: the default is used and it says so
    assert everything["city"].test == "jensenshannon"
    assert any(f.kind == "test_not_applicable" for f in everything.findings)


def test_an_unknown_test_name_is_refused_with_the_known_names() -> None:
    ref, cur = _frames(50)
    with pytest.raises(InvalidParameter, match=r"tests must name one of the drift tests .* Got 'kss'"):
        my.drift(ref, cur, tests="kss")
    with pytest.raises(InvalidParameter, match="must be a test for categorical columns"):
        my.drift(ref, cur, tests={"city": "ks"})
    with pytest.raises(InvalidParameter, match="thresholds\\['age'\\] must be a number"):
        my.drift(ref, cur, thresholds={"age": "high"})


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "lazy", "dict", "parquet"])
def test_every_kind_of_table_gives_the_same_verdicts(kind: str, tmp_path: Path) -> None:
    ref, cur = _frames(1500, shift=0.4)
    expected = my.drift(ref, cur).to_frame()

    def convert(df: pl.DataFrame, name: str) -> object:
        if kind == "pandas":
            return df.to_pandas()
        if kind == "arrow":
            return df.to_arrow()
        if kind == "lazy":
            return df.lazy()
        if kind == "dict":
            return df.to_dict(as_series=False)
        if kind == "parquet":
            path = tmp_path / f"{name}.parquet"
            df.write_parquet(path)
            return str(path)
        return df

    got = my.drift(convert(ref, "ref"), convert(cur, "cur")).to_frame()
    assert got.equals(expected)


def test_an_unsupported_input_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="reference must be a pandas, polars or Arrow table.*Got int"):
        my.drift(3, {"x": [1.0]})


def test_prediction_columns_drift_with_the_same_tests_but_stay_out_of_the_share() -> None:
    rng = np.random.default_rng(1)
    ref = pl.DataFrame({"x": rng.normal(size=3000), "output.prediction": rng.normal(size=3000)})
    cur = pl.DataFrame({"x": rng.normal(size=3000), "output.prediction": rng.normal(1, size=3000)})
    report = my.drift(ref, cur)
    assert [f.feature for f in report.prediction_drift] == ["output.prediction"]
    assert report["output.prediction"].drifted is True and report["output.prediction"].role == "output"
    assert report.drift_share == 0.0
    named = my.drift(ref.rename({"output.prediction": "score"}),
                     cur.rename({"output.prediction": "score"}), prediction="score")
    assert named["score"].role == "output"


def test_unseen_categories_are_counted() -> None:
    ref = pl.DataFrame({"c": ["a", "b"] * 1000})
    cur = pl.DataFrame({"c": ["a", "b", "zz", "yy"] * 500})
    row = my.drift(ref, cur)["c"]
    assert row.unseen == 1000 and set(row.unseen_categories) == {"zz", "yy"}
    assert row.drifted is True


def test_a_numerical_column_with_few_values_is_compared_as_categorical() -> None:
    ref = pl.DataFrame({"n_children": [0, 1, 2, 3] * 500})
    cur = pl.DataFrame({"n_children": [0.0, 1.0, 2.0, 3.0] * 500})
    row = my.drift(ref, cur)["n_children"]
    assert row.kind == "categorical" and row.statistic == pytest.approx(0.0)
    assert row.unseen == 0


# ---- bad input: findings, never a crash -------------------------------------------------------

def test_a_feature_missing_from_current_data_is_a_finding() -> None:
    ref, cur = _frames(100)
    report = my.drift(ref, cur.drop("income"))
    assert report["income"].drifted is None and report["income"].finding
    assert any(f.kind == "missing_feature" and f.feature == "income" for f in report.findings)


def test_an_all_nan_column_is_a_finding() -> None:
    ref, cur = _frames(100)
    cur = cur.with_columns(pl.lit(float("nan")).alias("age"))
    report = my.drift(ref, cur)
    assert report["age"].drifted is None
    assert report["age"].missing_current == 100
    assert any(f.kind == "no_values" and f.feature == "age" for f in report.findings)
    report = my.drift(cur, ref)
    assert any(f.kind == "no_values" and f.feature == "age" for f in report.findings)


def test_constant_columns_are_findings_and_compare_without_dividing_by_zero() -> None:
    ref = pl.DataFrame({"k": [1.5] * 2000, "v": np.linspace(0, 1, 2000)})
    cur = pl.DataFrame({"k": [1.5] * 2000, "v": [0.5] * 2000})
    report = my.drift(ref, cur)
    assert report["k"].drifted is False  # a single value: compared as categorical
    assert any(f.kind == "constant" and f.feature == "v" for f in report.findings)
    assert report["v"].drifted is True


def test_a_single_row_is_compared_and_flagged() -> None:
    ref, cur = _frames(500)
    report = my.drift(ref, cur.head(1))
    assert report.n_current == 1
    assert report["age"].test == "ks" and report["age"].p_value is not None
    assert any(f.kind == "single_row" for f in report.findings)


def test_mismatched_types_are_read_as_the_reference_type_and_reported() -> None:
    ref = pl.DataFrame({"x": np.arange(2000, dtype=float), "c": ["a", "b"] * 1000})
    cur = pl.DataFrame({"x": [str(v) for v in range(1999)] + ["oops"], "c": [1, 2] * 1000})
    report = my.drift(ref, cur)
    assert report["x"].n_current == 1999
    kinds = {(f.kind, f.feature) for f in report.findings}
    assert ("type_mismatch", "x") in kinds and ("type_mismatch", "c") in kinds
    assert report["c"].unseen == 2000


def test_no_rows_says_no_data() -> None:
    ref, cur = _frames(100)
    report = my.drift(ref, cur.head(0))
    assert report.status == "no data" and report.drifted is False
    assert report.findings[0].kind == "no_data"


def test_an_unsupported_column_type_is_skipped_with_a_finding() -> None:
    ref = pl.DataFrame({"tags": [["a"], ["b"]], "x": [1.0, 2.0]})
    report = my.drift(ref, ref)
    assert [f.feature for f in report.features] == ["x"]
    assert any(f.kind == "unsupported_type" for f in report.findings)


def test_a_column_asked_for_but_absent_from_the_reference_is_a_finding() -> None:
    ref, cur = _frames(100)
    report = my.drift(ref, cur, columns=["age", "nope"])
    assert [f.feature for f in report.features] == ["age"]
    assert any(f.kind == "missing_feature" and f.feature == "nope" for f in report.findings)


def test_missing_values_rising_is_a_quality_finding() -> None:
    ref, cur = _frames(1000)
    cur = cur.with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col("age")).alias("age"))
    report = my.drift(ref, cur)
    assert report["age"].quality["missing_rate"] == pytest.approx(0.2)
    assert any(f.kind == "missing_rate" for f in report.findings)


def test_values_out_of_the_reference_range_are_a_quality_finding() -> None:
    ref = pl.DataFrame({"x": np.linspace(0, 1, 1000)})
    cur = pl.DataFrame({"x": np.linspace(0.5, 1.5, 1000)})
    report = my.drift(ref, cur)
    assert report["x"].quality["out_of_range_share"] == pytest.approx(0.5, abs=0.01)
    assert any(f.kind == "out_of_range" for f in report.findings)


# ---- detector: fit/score, streaming, profiles -------------------------------------------------

def test_the_detector_must_be_fitted_first() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        DriftDetector().score({"x": [1.0]})


def test_a_streamed_window_agrees_with_the_exact_computation() -> None:
    ref, cur = _frames(20_000, shift=0.3, seed=5)
    exact = my.drift(ref, cur)
    det = DriftDetector().fit(ref)
    stream = det.stream()
    for i in range(0, cur.height, 3000):
        stream.update(cur.slice(i, 3000))
    approx = stream.report()
    assert approx.approximate and approx.n_current == cur.height
    for name in ("age", "income"):
        assert approx[name].stats["wasserstein"] == pytest.approx(exact[name].stats["wasserstein"], rel=0.05, abs=0.005)
        assert approx[name].stats["ks"] == pytest.approx(exact[name].stats["ks"], abs=0.003)
        assert approx[name].stats["psi"] == pytest.approx(exact[name].stats["psi"], rel=1e-6, abs=1e-9)
    assert approx["city"].stats == exact["city"].stats
    assert approx.drifted_features == exact.drifted_features


def test_drift_against_a_stored_profile() -> None:
    ref, cur = _frames(20_000, shift=0.5, seed=2)
    age = ref["age"].to_numpy()
    counts, edges = np.histogram(age, bins=50)
    profile = {"columns": {
        "age": {"count": 20_000, "nulls": 0, "min": float(age.min()), "max": float(age.max()),
                "mean": float(age.mean()), "std": float(age.std()),
                "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}},
        "city": {"count": 20_000, "nulls": 0,
                 "top": {k: v for k, v in zip(*ref["city"].value_counts().to_dict(as_series=False).values())}},
    }}
    report = my.drift(profile, cur)
    exact = my.drift(ref, cur)
    assert report["age"].approximate and report["age"].drifted is True
    assert report["age"].statistic == pytest.approx(exact["age"].statistic, rel=0.05)
    assert report["city"].statistic == pytest.approx(exact["city"].statistic, abs=1e-9)


def test_pandas_nullable_and_object_columns_work() -> None:
    ref = pd.DataFrame({"x": pd.array([1.0, None, 3.0] * 400, dtype="Float64"),
                        "s": pd.Series(["a", None, "b"] * 400, dtype=object)})
    report = my.drift(ref, ref)
    assert report["x"].missing_current == 400 and report["x"].drifted is False
    assert report["s"].missing_current == 400 and report["s"].drifted is False


def test_arrow_dictionary_columns_are_categorical() -> None:
    table = pa.table({"c": pa.array(["a", "b", "a"] * 500).dictionary_encode()})
    report = my.drift(table, table)
    assert report["c"].kind == "categorical" and report["c"].statistic == pytest.approx(0)


def test_drift_against_a_real_dataset_profile(local_yard: my.Yard) -> None:
    ref, cur = _frames(20_000, shift=0.5, seed=4)
    ref = ref.with_columns(pl.when(pl.int_range(pl.len()) % 50 == 0).then(None)
                           .otherwise(pl.col("income")).alias("income"))
    local_yard.datasets.add("ref", ref)
    profile = local_yard.datasets.profile("ref")
    report = my.drift(profile, cur)
    exact = my.drift(ref, cur)
    assert report.drifted_features == exact.drifted_features == ["age"]
    assert report["income"].missing_reference == 400 and report["income"].n_reference == 19_600
    assert report["age"].approximate and not report["city"].approximate
    assert report["age"].stats["wasserstein"] == pytest.approx(exact["age"].stats["wasserstein"], rel=0.1)
    assert report["city"].stats["jensenshannon"] == pytest.approx(exact["city"].stats["jensenshannon"], abs=1e-9)


# ---- one battery run on every drift test (STYLE: a conformance suite per plugin interface) -----

_BATTERY = [(name, kind) for name, spec in TESTS.items() for kind in spec.kinds]


def _pair(kind: str, n: int, shift: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    if kind == "numerical":
        return (pl.DataFrame({"f": rng.normal(0, 1, n)}), pl.DataFrame({"f": rng.normal(shift, 1, n)}))
    p0 = np.array([0.4, 0.3, 0.2, 0.1])
    p1 = (1 - shift) * p0 + shift * np.array([0.1, 0.2, 0.3, 0.4])
    cats = np.array(["a", "b", "c", "d"])
    return (pl.DataFrame({"f": cats[rng.choice(4, n, p=p0)]}),
            pl.DataFrame({"f": cats[rng.choice(4, n, p=p1)]}))


@pytest.mark.parametrize(("test", "kind"), _BATTERY)
def test_battery_same_distribution_does_not_drift(test: str, kind: str) -> None:
    ref, cur = _pair(kind, 5000, 0.0, seed=21)
    row = my.drift(ref, cur, tests=test)["f"]
    assert (row.test, row.kind) == (test, kind)
    assert row.drifted is False and np.isfinite(row.statistic)


@pytest.mark.parametrize(("test", "kind"), _BATTERY)
def test_battery_a_large_change_drifts(test: str, kind: str) -> None:
    ref, cur = _pair(kind, 5000, 1.0, seed=22)
    row = my.drift(ref, cur, tests=test)["f"]
    assert row.drifted is True
    assert (row.p_value is not None) == (test in ("ks", "chisquare"))


@pytest.mark.parametrize(("test", "kind"), _BATTERY)
def test_battery_identical_samples_score_zero(test: str, kind: str) -> None:
    ref, _ = _pair(kind, 3000, 0.0, seed=23)
    row = my.drift(ref, ref, tests=test)["f"]
    expected = 1.0 if test in ("ks", "chisquare") else 0.0
    assert (row.p_value if row.p_value is not None else row.statistic) == pytest.approx(expected, abs=1e-9)
