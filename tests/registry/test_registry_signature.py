"""Signatures: inferred from examples, enforced on input with messages that name the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from modelyard.errors import InvalidParameter, SchemaMismatch
from modelyard.registry.entities import ColumnSpec, Signature
from modelyard.registry.signature import as_frame, enforce, infer_columns, infer_signature


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [31, 45],
        "income": [52_000.0, np.nan],
        "owner": [True, False],
        "city": ["Lyon", "Oslo"],
        "grade": pd.Categorical(["A", "B"], categories=["A", "B", "C"]),
        "opened": pd.to_datetime(["2024-01-02", "2025-06-30"]),
    })


def _types(sig: Signature) -> dict[str, str]:
    return {c.name: c.type for c in sig.inputs}


def test_infer_from_pandas_covers_every_type() -> None:
    sig = infer_signature(_frame())
    assert _types(sig) == {"age": "int", "income": "float", "owner": "bool", "city": "string",
                           "grade": "category", "opened": "datetime"}
    grade = sig.inputs[4]
    assert grade.categories == ["A", "B", "C"]
    assert sig.inputs[1].nullable and not sig.inputs[0].nullable


def test_infer_from_polars_matches_pandas() -> None:
    frame = pl.DataFrame({"age": [31, 45], "income": [1.5, None], "city": ["Lyon", None],
                          "owner": [True, False]})
    sig = infer_signature(frame)
    assert _types(sig) == {"age": "int", "income": "float", "city": "string", "owner": "bool"}
    assert sig.inputs[2].nullable


def test_infer_from_numpy_names_columns_f0_to_fn() -> None:
    sig = infer_signature(np.zeros((3, 4)))
    assert sig.input_names == ["f0", "f1", "f2", "f3"]
    assert set(_types(sig).values()) == {"float"}


def test_infer_from_dict_of_lists_and_records() -> None:
    assert _types(infer_signature({"a": [1, 2], "b": ["x", "y"]})) == {"a": "int",
                                                                      "b": "string"}
    assert _types(infer_signature([{"a": 1.5, "b": True}])) == {"a": "float", "b": "bool"}
    assert _types(infer_signature({"a": 1, "b": "x"})) == {"a": "int", "b": "string"}


def test_object_columns_are_typed_by_their_values() -> None:
    frame = pd.DataFrame({"flag": pd.Series([True, None], dtype=object),
                          "n": pd.Series([1, None], dtype=object)})
    sig = infer_signature(frame)
    assert _types(sig) == {"flag": "bool", "n": "int"}
    assert all(c.nullable for c in sig.inputs)


def test_unsupported_column_values_are_named() -> None:
    with pytest.raises(InvalidParameter, match="column type for 'blob'"):
        infer_signature(pd.DataFrame({"blob": [b"\x00", b"\x01"]}))


def test_one_dimensional_arrays_are_refused_with_the_fix() -> None:
    with pytest.raises(InvalidParameter, match=r"must be 2-D.*reshape\(1, -1\)"):
        as_frame(np.zeros(3))


def test_unknown_input_kinds_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="DataFrame.*Got str"):
        as_frame("a,b\n1,2")


def test_outputs_inferred_from_predictions() -> None:
    assert [(c.name, c.type) for c in infer_columns(np.array([0, 1]))] == [("prediction", "int")]
    assert [c.name for c in infer_columns(np.zeros((2, 3)))] == [
        "prediction_0", "prediction_1", "prediction_2"]
    assert [c.name for c in infer_columns(pd.DataFrame({"p": [0.1], "q": [0.9]}))] == ["p", "q"]
    sig = infer_signature(_frame(), np.array([0.5, 0.7]))
    assert [(c.name, c.type) for c in sig.outputs] == [("prediction", "float")]


def test_enforce_returns_the_frame_itself_when_it_already_fits() -> None:
    frame = _frame()
    assert enforce(infer_signature(frame), frame) is frame


def test_enforce_drops_extra_columns_and_fixes_the_order() -> None:
    frame = _frame()
    sig = infer_signature(frame)
    shuffled = frame[list(frame.columns[::-1])].assign(extra=[1, 2])
    out = enforce(sig, shuffled)
    assert list(out.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(out, frame)


def test_enforce_applies_safe_casts_from_json_like_records() -> None:
    sig = infer_signature(_frame())
    records = pd.DataFrame.from_records([{"age": 50.0, "income": 3, "owner": 1, "city": 75001,
                                          "grade": "C", "opened": "2026-01-31T10:00:00"}])
    out = enforce(sig, records)
    assert out.dtypes["age"] == np.int64 and out["age"].iloc[0] == 50
    assert out.dtypes["income"] == np.float64
    assert out.dtypes["owner"] == np.bool_
    assert out["city"].iloc[0] == "75001"
    assert list(out["grade"].cat.categories) == ["A", "B", "C"] and out["grade"].iloc[0] == "C"
    assert out["opened"].iloc[0] == pd.Timestamp("2026-01-31T10:00:00")


def test_enforce_all_float_signature_converts_ints_in_one_block() -> None:
    sig = infer_signature(np.zeros((1, 3)))
    out = enforce(sig, pd.DataFrame({"f2": [1], "f0": [2], "f1": [3.5]}))
    assert list(out.columns) == ["f0", "f1", "f2"]
    assert out.to_numpy().tolist() == [[2.0, 3.5, 1.0]]
    assert (out.dtypes == np.float64).all()


def test_missing_column_is_named() -> None:
    sig = infer_signature(_frame())
    with pytest.raises(SchemaMismatch, match=r"Column 'income' is missing\. The model expects "
                                             r"columns \['age', 'income'") as info:
        enforce(sig, _frame().drop(columns=["income"]))
    assert info.value.field == "income"


def test_several_missing_columns_are_counted() -> None:
    sig = infer_signature(_frame())
    with pytest.raises(SchemaMismatch, match=r"Column 'age' is missing \(and 2 more"):
        enforce(sig, _frame().drop(columns=["age", "city", "grade"]))


@pytest.mark.parametrize(("column", "value", "message"), [
    ("income", "abc", r"Column 'income' must be float\. Got 'abc' \(str\) in row 1"),
    ("age", 1.5, r"Column 'age' must be int\. Got 1\.5 \(float\) in row 1"),
    ("age", "ten", r"Column 'age' must be int\. Got 'ten' \(str\) in row 1"),
    ("owner", "yes", r"Column 'owner' must be bool\. Got 'yes' \(str\) in row 1"),
    ("grade", "Z", r"Column 'grade' must be category \(one of \['A', 'B', 'C'\]\)\. Got 'Z'"),
    ("opened", "someday", r"Column 'opened' must be datetime\. Got 'someday' \(str\) in row 1"),
])
def test_wrong_types_name_column_type_and_value(column: str, value: object,
                                                message: str) -> None:
    frame = _frame().astype({column: object})
    frame.loc[1, column] = value
    with pytest.raises(SchemaMismatch, match=message) as info:
        enforce(infer_signature(_frame()), frame)
    assert info.value.field == column


@pytest.mark.parametrize("column", ["age", "owner", "city", "grade", "opened"])
def test_missing_values_refused_where_not_nullable(column: str) -> None:
    frame = _frame().astype({column: object})
    frame.loc[0, column] = None
    with pytest.raises(SchemaMismatch, match=f"Column '{column}' .* must not be missing"):
        enforce(infer_signature(_frame()), frame)


def test_missing_values_allowed_where_nullable() -> None:
    sig = Signature(inputs=[ColumnSpec(name="n", type="int", nullable=True),
                            ColumnSpec(name="s", type="string", nullable=True),
                            ColumnSpec(name="x", type="float", nullable=True)])
    out = enforce(sig, pd.DataFrame({"n": [1, None], "s": ["a", None], "x": [None, 1.0]}))
    assert out["n"].isna().tolist() == [False, True]
    assert out["s"].isna().tolist() == [False, True]


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"amount": [None, 2.0], "rate": [0.1, None]}, dtype=object),
    pd.DataFrame({"amount": [np.nan, 2.0], "rate": [0.1, np.nan]}),
    pd.DataFrame({"amount": pd.array([None, 2], dtype="Int64"), "rate": [0.1, np.nan]}),
])
def test_float_nullability_is_observed_in_the_example(frame: pd.DataFrame) -> None:
    """A float column without a missing value in the example refuses one by name (it used to
    reach the model, whose own error was a 500)."""
    sig = infer_signature(pd.DataFrame({"amount": [1.0, 2.0], "rate": [0.1, np.nan]}))
    assert [c.nullable for c in sig.inputs] == [False, True]
    with pytest.raises(SchemaMismatch, match=r"Column 'amount' \(float\) must not be missing. "
                       r"Got .* in row 0") as info:
        enforce(sig, frame)
    assert info.value.field == "amount"
    assert enforce(sig, frame.iloc[1:])["rate"].isna().tolist() == [True]


def test_duplicate_input_columns_are_refused() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    sig = Signature(inputs=[ColumnSpec(name="a", type="int")])
    with pytest.raises(SchemaMismatch, match="'a' appears more than once"):
        enforce(sig, frame.assign(b=1)[["a", "b"]])


def test_signature_column_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Signature(inputs=[ColumnSpec(name="a", type="int"), ColumnSpec(name="a", type="float")])


def test_categories_only_on_category_columns() -> None:
    with pytest.raises(ValueError, match="only allowed on 'category'"):
        ColumnSpec(name="a", type="string", categories=["x"])
