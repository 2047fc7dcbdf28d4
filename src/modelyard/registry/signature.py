"""Signatures: infer the columns a model takes from an example, and enforce them on input.

``infer_signature(example, predictions)`` reads column names and types from a pandas or polars
DataFrame, a 2-D numpy array (columns ``f0`` … ``fN``), a dict of columns or a list of records.
``enforce(signature, df)`` returns a frame with exactly the signature's columns, in its order,
with safe casts applied (int -> float, strings -> category …), or raises
:class:`~modelyard.errors.SchemaMismatch` naming the column, the expected type and a bad value.

``enforce`` runs on every request of the model server, so it works column by column with
vectorised pandas operations (no loop over cells) and leaves columns that already have the
right dtype untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, SchemaMismatch
from .entities import ColumnSpec, ColumnType, Signature

__all__ = ["as_frame", "enforce", "infer_columns", "infer_signature"]

_FORMS = ("a pandas or polars DataFrame, a 2-D numpy array, a dict of columns or a list of "
          "records")


def as_frame(data: Any, signature: Signature | None = None) -> pd.DataFrame:
    """``data`` as a pandas DataFrame. A numpy array gets the signature's column names when
    its width matches, else ``f0`` … ``fN``."""
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__
    if module.startswith("polars"):
        return data.to_pandas()  # type: ignore[no-any-return]
    if module.startswith("pyarrow"):
        return data.to_pandas()  # type: ignore[no-any-return]
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise InvalidParameter(
                f"A numpy array must be 2-D (rows x columns). Got shape {data.shape} instead; "
                "use x.reshape(1, -1) for one row or x.reshape(-1, 1) for one column.",
                field="data",
            )
        names = [f"f{i}" for i in range(data.shape[1])]
        if signature is not None and len(signature.inputs) == data.shape[1]:
            names = signature.input_names
        return pd.DataFrame(data, columns=names)
    if isinstance(data, Mapping):
        if data and all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame([dict(data)])
        return pd.DataFrame(dict(data))
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and data \
            and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame.from_records(list(data))
    raise InvalidParameter(f"Model input must be {_FORMS}. Got {type(data).__name__} instead.",
                           field="data")


def _column_spec(name: str, series: pd.Series) -> ColumnSpec:
    dtype = series.dtype
    has_nulls = bool(series.isna().any())
    kind: ColumnType
    categories: list[Any] | None = None
    if isinstance(dtype, pd.CategoricalDtype):
        kind = "category"
        categories = [c.item() if isinstance(c, np.generic) else c for c in dtype.categories]
    elif pd.api.types.is_bool_dtype(dtype):
        kind = "bool"
    elif pd.api.types.is_integer_dtype(dtype):
        kind = "int"
    elif pd.api.types.is_float_dtype(dtype):
        kind = "float"
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        kind = "datetime"
    elif pd.api.types.is_object_dtype(dtype):
        kind = _object_kind(name, series)
    elif pd.api.types.is_string_dtype(dtype):
        kind = "string"
    else:
        raise InvalidParameter(
            f"Cannot infer a column type for {name!r} ({dtype}). Use int, float, bool, string, "
            "datetime or category values.", field=name)
    return ColumnSpec(name=name, type=kind, nullable=has_nulls, categories=categories)


def _object_kind(name: str, series: pd.Series) -> ColumnType:
    """The type of an object column from its values (None mixed with bools, numbers …)."""
    values = series.dropna()
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    kinds: dict[str, ColumnType] = {
        "boolean": "bool", "integer": "int", "floating": "float", "mixed-integer-float": "float",
        "decimal": "float", "string": "string", "datetime": "datetime", "datetime64": "datetime",
        "date": "datetime", "empty": "string",
    }
    if inferred not in kinds:
        raise InvalidParameter(
            f"Cannot infer a column type for {name!r}: its values are {inferred} (for example "
            f"{values.iloc[0]!r}). Use int, float, bool, string, datetime or category values.",
            field=name,
        )
    return kinds[inferred]


def infer_columns(data: Any, *, prefix: str = "prediction") -> list[ColumnSpec]:
    """Columns of ``data``: a frame's columns, or for an array of predictions ``prediction``
    (one column) / ``prediction_0`` … (several)."""
    if isinstance(data, pd.Series):
        data = data.to_frame(name=str(data.name) if data.name is not None else prefix)
    if isinstance(data, (list, tuple)):
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = pd.DataFrame({prefix: data})
        elif data.ndim == 2:
            data = pd.DataFrame(data, columns=[f"{prefix}_{i}" for i in range(data.shape[1])])
        else:
            return []
    frame = as_frame(data)
    return [_column_spec(str(name), frame[name]) for name in frame.columns]


def infer_signature(example: Any, predictions: Any | None = None) -> Signature:
    """The signature of a model from an input ``example`` and, when given, what the model
    predicted for it."""
    frame = as_frame(example)
    inputs = [_column_spec(str(name), frame[name]) for name in frame.columns]
    outputs = infer_columns(predictions) if predictions is not None else []
    return Signature(inputs=inputs, outputs=outputs)


# ---- enforce -------------------------------------------------------------------------------
# The converters work on a column's numpy/extension array, not on a Series: on one-row frames
# pandas' per-Series overhead would dominate.

def _mismatch(col: ColumnSpec, got: Any, row: int) -> SchemaMismatch:
    if isinstance(got, np.generic):
        got = got.item()
    kind = col.type if col.type != "category" else f"category (one of {col.categories})"
    return SchemaMismatch(
        f"Column {col.name!r} must be {kind}. Got {got!r} ({type(got).__name__}) in row {row}.",
        field=col.name,
    )


def _first_bad(col: ColumnSpec, values: Any, bad: np.ndarray) -> SchemaMismatch:
    row = int(np.flatnonzero(bad)[0])
    return _mismatch(col, values[row], row)


def _check_nulls(col: ColumnSpec, values: Any, converted: Any) -> None:
    if col.nullable:
        return
    nulls = np.asarray(pd.isna(converted))
    if nulls.any():
        row = int(np.flatnonzero(nulls)[0])
        got = values[row]
        raise SchemaMismatch(
            f"Column {col.name!r} ({col.type}) must not be missing. Got {got!r} in row {row}.",
            field=col.name,
        )


def _is_text(values: Any) -> bool:
    return values.dtype.kind in "OUS" or isinstance(values.dtype, pd.StringDtype)


def _numeric(col: ColumnSpec, values: Any) -> Any:
    if values.dtype.kind in "biuf":
        return values
    if _is_text(values):
        raw = np.asarray(values, dtype=object)
        converted = pd.to_numeric(raw, errors="coerce")
        bad = pd.isna(converted) & ~pd.isna(raw)
        if bad.any():
            raise _first_bad(col, raw, bad)
        return converted
    if len(values) and isinstance(values.dtype, pd.api.extensions.ExtensionDtype) \
            and values.dtype.kind in "biuf":
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    raise _mismatch(col, values[0] if len(values) else None, 0)


def _to_float(col: ColumnSpec, values: Any, target: Any) -> Any:
    return np.asarray(_numeric(col, values), dtype=np.float64)


def _to_int(col: ColumnSpec, values: Any, target: Any) -> Any:
    numeric = _numeric(col, values)
    if numeric.dtype.kind in "biu":
        return numeric.astype(np.int64)
    floats = np.asarray(numeric, dtype=np.float64)
    missing = np.isnan(floats)
    bad = ~missing & (floats != np.floor(floats))
    if bad.any():
        raise _first_bad(col, values, bad)
    if missing.any():
        _check_nulls(col, values, floats)
        return floats  # a nullable int column with missing values stays float (NaN)
    return floats.astype(np.int64)


def _to_bool(col: ColumnSpec, values: Any, target: Any) -> Any:
    raw = np.asarray(values, dtype=object)
    present = ~pd.isna(raw)
    ok = ~present | np.isin(raw, [True, False])
    if values.dtype.kind != "b" and not ok.all():
        raise _first_bad(col, raw, ~ok)
    if present.all():
        return raw.astype(bool)
    _check_nulls(col, raw, ~present)
    return pd.array(raw, dtype="boolean")


def _to_string(col: ColumnSpec, values: Any, target: Any) -> Any:
    if values.dtype.kind == "M":
        raise _mismatch(col, values[0], 0)
    return pd.array(np.asarray(values, dtype=object), dtype="str")  # numbers become text


def _to_category(col: ColumnSpec, values: Any, target: Any) -> Any:
    raw = np.asarray(values, dtype=object)
    if target is None:
        return pd.Categorical(raw)
    codes = target.categories.get_indexer(raw)
    bad = (codes < 0) & ~pd.isna(raw)
    if bad.any():
        raise _first_bad(col, raw, bad)
    return pd.Categorical.from_codes(codes, dtype=target)


def _to_datetime(col: ColumnSpec, values: Any, target: Any) -> Any:
    if not _is_text(values):
        raise _mismatch(col, values[0] if len(values) else None, 0)
    raw = np.asarray(values, dtype=object)
    converted = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    bad = np.asarray(pd.isna(converted)) & ~pd.isna(raw)
    if bad.any():
        raise _first_bad(col, raw, bad)
    return converted.array


_CONVERTERS = {
    "float": _to_float,
    "int": _to_int,
    "bool": _to_bool,
    "string": _to_string,
    "category": _to_category,
    "datetime": _to_datetime,
}


class _Plan:
    """What enforce derives from a signature once: names and, per column, a cheap test of
    whether a dtype already fits."""

    def __init__(self, signature: Signature) -> None:
        self.names = signature.input_names
        self.specs = list(signature.inputs)
        self.all_float = all(c.type == "float" for c in self.specs)
        self.targets = [
            pd.CategoricalDtype(c.categories) if c.categories is not None else None
            for c in self.specs
        ]
        self.accepts = [_accepts(c, t) for c, t in zip(self.specs, self.targets)]
        # columns whose fitting dtype may still hold missing values the signature forbids
        self.null_checked = [
            j for j, c in enumerate(self.specs)
            if not c.nullable and c.type in ("float", "string", "category", "datetime")
        ]
        self.required_floats = [j for j, c in enumerate(self.specs)
                                if c.type == "float" and not c.nullable]


def _accepts(col: ColumnSpec, target: Any) -> Any:
    if col.type == "float":
        return lambda d: d == np.float64
    if col.type == "int":
        return lambda d: d == np.int64
    if col.type == "bool":
        return lambda d: d == np.bool_
    if col.type == "string":
        return lambda d: isinstance(d, pd.StringDtype)
    if col.type == "category":
        if target is None:
            return lambda d: isinstance(d, pd.CategoricalDtype)
        return lambda d: isinstance(d, pd.CategoricalDtype) and d == target
    return lambda d: getattr(d, "kind", None) == "M" or isinstance(d, pd.DatetimeTZDtype)


def _plan(signature: Signature) -> _Plan:
    plan = signature._plan
    if plan is None:
        plan = signature._plan = _Plan(signature)
    return plan  # type: ignore[no-any-return]


def enforce(signature: Signature, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` reduced to the signature's input columns, in its order, with safe casts.

    Raises :class:`SchemaMismatch` naming the first missing column, or the column, the
    expected type and an example bad value (with its row) when a value does not fit.
    Extra columns are dropped.
    """
    plan = _plan(signature)
    names = plan.names
    columns = df.columns.tolist()
    if columns == names:
        sub = df
    else:
        position = {c: i for i, c in enumerate(columns)}
        if len(position) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise SchemaMismatch(f"Column {dup!r} appears more than once in the input.",
                                 field=str(dup))
        missing = [n for n in names if n not in position]
        if missing:
            raise SchemaMismatch(
                f"Column {missing[0]!r} is missing"
                + (f" (and {len(missing) - 1} more: {missing[1:6]})" if len(missing) > 1
                   else "")
                + f". The model expects columns {names}.",
                field=missing[0],
            )
        sub = df.take([position[n] for n in names], axis=1)
    dtypes = sub.dtypes.tolist()
    misfits = [j for j, accepts in enumerate(plan.accepts) if not accepts(dtypes[j])]
    if misfits and plan.all_float and all(
        pd.api.types.is_numeric_dtype(dtypes[j]) for j in misfits
    ):
        # the common all-numeric model: one conversion of the whole block
        block = sub.to_numpy(np.float64)
        if plan.required_floats:
            nulls = np.isnan(block[:, plan.required_floats])
            if nulls.any():
                k = int(np.argwhere(nulls)[0][1])
                col = plan.specs[plan.required_floats[k]]
                _check_nulls(col, sub[col.name].array, sub[col.name].array)
        return pd.DataFrame(block, columns=names, index=df.index)
    for j in plan.null_checked:
        if j not in misfits:
            values = sub[names[j]].array
            _check_nulls(plan.specs[j], values, values)
    if not misfits:
        return sub
    if sub is df:
        sub = df.copy(deep=False)
    for j in misfits:
        col = plan.specs[j]
        values = sub[col.name].array
        if isinstance(values, pd.arrays.NumpyExtensionArray):
            values = values.to_numpy()
        converted = _CONVERTERS[col.type](col, values, plan.targets[j])
        _check_nulls(col, values, converted)
        sub.isetitem(j, converted)
    return sub
