"""The built-in checks. Each is a function ``(spec, ctx) -> list[CheckResult]`` (a metric
check per slice gives one result per slice); :func:`run_check` runs any check, custom ones
included, and turns an exception into an ``error`` result with the traceback."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidParameter
from .context import ValidationContext
from .entities import CheckResult
from .stats import HIGHER_IS_BETTER, compute_metric, mcnemar, needs_proba, paired_bootstrap
from .suite import (
    ChampionCheck,
    CheckOutcome,
    DataCheck,
    DirectionalCheck,
    InvarianceCheck,
    LatencyCheck,
    MetricCheck,
    SignatureCheck,
    check_name,
)

__all__ = ["run_check"]

_BASELINE_EPS = 1e-12


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# ---- metric thresholds -----------------------------------------------------------------------
def _metric_value(ctx: ValidationContext, metric: str, rows: np.ndarray | None,
                  which: str = "challenger") -> float:
    y = ctx.y
    pred = ctx.predict(which)
    proba = ctx.proba(which) if needs_proba(metric) else None
    if needs_proba(metric) and proba is None:
        raise InvalidParameter(f"{metric} needs class probabilities; the model has no "
                               "predict_proba.", field="metric")
    if rows is not None:
        y, pred = y[rows], pred[rows]
        proba = None if proba is None else proba[rows]
    return compute_metric(metric, y, pred, proba, ctx.classes(which))


def _bounds(spec: MetricCheck, value: float) -> tuple[bool, list[str]]:
    ok, parts = True, []
    if spec.min is not None:
        parts.append(f">= {spec.min:g}")
        ok = ok and value >= spec.min
    if spec.max is not None:
        parts.append(f"<= {spec.max:g}")
        ok = ok and value <= spec.max
    return ok, parts


def _versus_champion(spec: MetricCheck, ctx: ValidationContext, value: float,
                     rows: np.ndarray | None) -> tuple[bool | None, list[str], str, dict[str, Any]]:
    """The drop against the champion's value on the same rows (direction-aware; a relative
    drop divides by the champion's absolute value, and is undefined near 0)."""
    if spec.max_drop is None and spec.max_relative_drop is None:
        return True, [], "", {}
    if ctx.champion is None:
        return None, [], "no champion to compare with", {}
    base = _metric_value(ctx, spec.metric, rows, "champion")
    better = HIGHER_IS_BETTER[spec.metric]
    drop = (base - value) if better else (value - base)  # > 0: worse than the champion
    details: dict[str, Any] = {"champion": _finite(base), "drop": _finite(drop)}
    ok, parts, notes = True, [], []
    if spec.max_drop is not None:
        parts.append(f"drop <= {spec.max_drop:g}")
        ok = ok and drop <= spec.max_drop
    if spec.max_relative_drop is not None:
        parts.append(f"relative drop <= {spec.max_relative_drop:g}")
        if abs(base) < _BASELINE_EPS:
            ok = False
            notes.append(f"the champion's {spec.metric} is {_fmt(base)}, so a relative change "
                         "is undefined")
        else:
            relative = drop / abs(base)
            details["relative_drop"] = _finite(relative)
            ok = ok and relative <= spec.max_relative_drop
    notes.insert(0, f"champion {_fmt(base)}, drop {_fmt(drop)}")
    return ok, parts, "; ".join(notes), details


def _metric_one(spec: MetricCheck, ctx: ValidationContext, name: str, rows: np.ndarray | None,
                slice_label: str | None, n: int) -> CheckResult:
    base = {"name": name, "type": "metric", "slice": slice_label, "n_rows": n}
    if n < spec.min_rows:
        status = "insufficient_data" if slice_label is not None else "failed"
        return CheckResult(status=status, message=(
            f"{n} rows; at least {spec.min_rows} are needed to judge {spec.metric}"), **base)
    value = _metric_value(ctx, spec.metric, rows)
    if not math.isfinite(value):
        return CheckResult(status="failed", value=None, message=(
            f"{spec.metric} is undefined on these rows (e.g. one class only)"), **base)
    ok, parts = _bounds(spec, value)
    vs_ok, vs_parts, note, details = _versus_champion(spec, ctx, value, rows)
    threshold = " and ".join(parts + vs_parts) or None
    message = f"{spec.metric} = {_fmt(value)}" + (f" ({note})" if note else "")
    if vs_ok is None:  # nothing to compare with: judged on the bounds alone
        vs_ok = True
        details["champion"] = None
    status = "passed" if ok and vs_ok else "failed"
    return CheckResult(status=status, value=value, threshold=threshold, message=message,
                       details=details, **base)


def metric_check(spec: MetricCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    stem = name.removesuffix(f"[{spec.segment_by}]")
    n = len(ctx.y)
    out = [_metric_one(spec, ctx, name, None, None, n)]
    if spec.segment_by is not None:
        if spec.segment_by not in ctx.holdout.columns:
            raise InvalidParameter(f"segment_by names {spec.segment_by!r}, which is not a "
                                   "holdout column.", field="segment_by")
        column = ctx.holdout[spec.segment_by]
        for value in sorted(column.dropna().unique().tolist(), key=str):
            rows = np.flatnonzero((column == value).to_numpy())
            label = f"{spec.segment_by}={value}"
            out.append(_metric_one(spec, ctx, f"{stem}[{label}]", rows, label, len(rows)))
        missing = np.flatnonzero(column.isna().to_numpy())
        if len(missing):
            label = f"{spec.segment_by}=null"
            out.append(_metric_one(spec, ctx, f"{stem}[{label}]", missing, label, len(missing)))
    return out


# ---- champion vs challenger ------------------------------------------------------------------
def champion_check(spec: ChampionCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    if ctx.champion is None:
        return [CheckResult(name=name, type="champion", status="skipped",
                            message="no champion to compare with (the first version)")]
    y = ctx.y
    if spec.test == "mcnemar":
        res = mcnemar(y, ctx.predict("champion"), ctx.predict("challenger"),
                      max_regression=spec.max_regression, confidence=spec.confidence)
    else:
        proba = needs_proba(spec.metric)
        res = paired_bootstrap(
            spec.metric, y,
            (ctx.predict("champion"), ctx.proba("champion") if proba else None),
            (ctx.predict("challenger"), ctx.proba("challenger") if proba else None),
            max_regression=spec.max_regression, confidence=spec.confidence,
            n_boot=spec.n_boot, seed=spec.seed, classes=ctx.classes("challenger"))
    lo, hi = res.ci
    champion_ref = getattr(ctx.champion_version, "ref", None)
    message = (f"{spec.metric}: challenger {_fmt(res.challenger)} vs champion "
               f"{champion_ref} {_fmt(res.champion)}; improvement {_fmt(res.difference)}, "
               f"{spec.confidence:.0%} lower bound {_fmt(lo)} "
               f"{'>=' if res.passed else '<'} -{spec.max_regression:g}")
    return [CheckResult(
        name=name, type="champion", status="passed" if res.passed else "failed",
        value=_finite(res.difference), threshold=f"lower bound >= -{spec.max_regression:g}",
        ci=[v for v in (_finite(lo), _finite(hi)) if v is not None] or None,
        message=message, n_rows=res.n,
        details={"test": res.test, "confidence": spec.confidence, "champion": champion_ref,
                 "champion_value": _finite(res.champion),
                 "challenger_value": _finite(res.challenger), **res.details},
    )]


# ---- behaviour -------------------------------------------------------------------------------
def _changed(ctx: ValidationContext, feature: str, apply: Callable[[Any], Any]) -> Any:
    if feature not in ctx.holdout.columns:
        raise InvalidParameter(f"the holdout has no column {feature!r}.", field="feature")
    frame = ctx.holdout.copy()
    frame[feature] = apply(frame[feature])
    return frame


def invariance_check(spec: InvarianceCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    if spec.set is not None:
        change = f"set to {spec.set!r}"
        frame = _changed(ctx, spec.feature, lambda col: spec.set)
    elif spec.delta is not None:
        change = f"+ {spec.delta:g}"
        frame = _changed(ctx, spec.feature, lambda col: col + spec.delta)
    else:
        change = "shuffled"
        rng = np.random.default_rng(spec.seed)
        frame = _changed(ctx, spec.feature, lambda col: rng.permutation(col.to_numpy()))
    if spec.output == "proba" and ctx.has_proba():
        before, after = ctx.proba(), ctx.proba("challenger", frame)
        assert before is not None and after is not None
        moved = np.abs(after - before).reshape(len(before), -1).max(axis=1) > spec.atol
    else:
        before, after = ctx.predict(), ctx.predict("challenger", frame)
        if np.issubdtype(before.dtype, np.number) and np.issubdtype(after.dtype, np.number):
            moved = np.abs(after.astype(float) - before.astype(float)) > spec.atol
        else:
            moved = after != before
    share = float(moved.mean()) if len(moved) else 0.0
    ok = share <= spec.max_changed_share
    return [CheckResult(
        name=name, type="invariance", status="passed" if ok else "failed", value=share,
        threshold=f"changed share <= {spec.max_changed_share:g}", n_rows=len(moved),
        message=f"{spec.feature} {change}: the output changed for {share:.2%} of rows",
    )]


def _output(ctx: ValidationContext, spec: DirectionalCheck, X: Any = None) -> np.ndarray:
    use_proba = spec.output == "proba" or (spec.output == "auto" and ctx.has_proba())
    if use_proba:
        p = ctx.proba("challenger", X)
        if p is None:
            raise InvalidParameter("output 'proba' needs a model with predict_proba.",
                                   field="output")
        return p[:, -1] if p.ndim == 2 else p
    return ctx.predict("challenger", X).astype(float)


def directional_check(spec: DirectionalCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    frame = _changed(ctx, spec.feature, lambda col: col + spec.delta)
    change = _output(ctx, spec, frame) - _output(ctx, spec)
    sign = 1.0 if spec.direction == "up" else -1.0
    wrong = float((sign * change < -spec.atol).mean()) if len(change) else 0.0
    mean = float(change.mean()) if len(change) else 0.0
    ok = wrong <= spec.max_violation_share and sign * mean > 0
    return [CheckResult(
        name=name, type="directional", status="passed" if ok else "failed", value=mean,
        threshold=(f"mean change {'>' if sign > 0 else '<'} 0 and wrong-way share <= "
                   f"{spec.max_violation_share:g}"),
        n_rows=len(change),
        message=(f"{spec.feature} + {spec.delta:g}: mean output change {_fmt(mean)}, "
                 f"{wrong:.2%} of rows moved the wrong way"),
        details={"wrong_way_share": wrong},
    )]


# ---- latency ---------------------------------------------------------------------------------
def latency_check(spec: LatencyCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    if ctx.holdout_view is not None:
        rows = ctx.holdout
    else:
        rows = getattr(ctx.model, "input_example", None)
        if rows is None:
            raise InvalidParameter("the latency check needs rows: a holdout, or an input "
                                   "example registered with the version.", field="holdout")
    batch = rows.iloc[np.arange(spec.batch) % len(rows)]
    prepared = ctx.model.prepare(batch)
    predictor = ctx.model.predictor
    for _ in range(spec.warmup):
        predictor.predict(prepared)
    per_row = np.empty(spec.repeats)
    for i in range(spec.repeats):
        start = time.perf_counter()
        predictor.predict(prepared)
        per_row[i] = (time.perf_counter() - start) * 1000.0 / spec.batch
    p95 = float(np.quantile(per_row, 0.95))
    ok = p95 <= spec.p95_ms
    return [CheckResult(
        name=name, type="latency", status="passed" if ok else "failed", value=p95,
        threshold=f"p95 <= {spec.p95_ms:g} ms per row",
        message=(f"p95 {p95:.3f} ms per row over {spec.repeats} calls of {spec.batch} "
                 f"row{'s' if spec.batch > 1 else ''} (p50 {np.median(per_row):.3f} ms)"),
        details={"p50_ms": float(np.median(per_row)), "max_ms": float(per_row.max()),
                 "batch": spec.batch, "repeats": spec.repeats},
    )]


# ---- signature -------------------------------------------------------------------------------
_WIDER = {("int", "float"), ("bool", "int"), ("bool", "float"), ("category", "string")}


def _accepts(new: Any, old: Any) -> str | None:
    """Why a column of type ``new`` does not take what the incumbent's ``old`` took."""
    if new.type != old.type and (old.type, new.type) not in _WIDER:
        return f"{old.name!r} was {old.type}, now {new.type}"
    if old.nullable and not new.nullable:
        return f"{old.name!r} took nulls, now does not"
    if new.type == "category" and old.type == "category" and new.categories is not None:
        lost = [c for c in (old.categories or []) if c not in new.categories]
        if lost:
            return f"{old.name!r} no longer takes the categories {lost}"
    return None


def signature_check(spec: SignatureCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    if ctx.champion_version is None:
        return [CheckResult(name=name, type="signature", status="skipped",
                            message="no incumbent to compare with")]
    new, old = ctx.version.signature, ctx.champion_version.signature
    if new is None or old is None:
        return [CheckResult(name=name, type="signature", status="failed", message=(
            f"{'the challenger' if new is None else 'the incumbent'} has no signature, so "
            "compatibility cannot be shown"))]
    problems = []
    old_inputs = {c.name: c for c in old.inputs}
    for col in new.inputs:
        if col.name not in old_inputs:
            problems.append(f"needs {col.name!r}, which the incumbent's callers do not send")
        else:
            why = _accepts(col, old_inputs[col.name])
            if why:
                problems.append(why)
    old_outputs = {c.name: c for c in old.outputs}
    for col in new.outputs:
        was = old_outputs.get(col.name)
        if was is not None and was.type != col.type and {was.type, col.type} != {"int", "float"}:
            problems.append(f"output {col.name!r} was {was.type}, now {col.type}")
    ok = not problems
    return [CheckResult(
        name=name, type="signature", status="passed" if ok else "failed",
        message=("accepts every input of " + ctx.champion_version.ref) if ok
        else "; ".join(problems),
        details={"problems": problems, "incumbent": ctx.champion_version.ref},
    )]


# ---- training data ---------------------------------------------------------------------------
def data_check(spec: DataCheck, ctx: ValidationContext) -> list[CheckResult]:
    name = check_name(spec)
    views = ctx.training_views(spec.role)
    if not views:
        return [CheckResult(name=name, type="data", status="failed", message=(
            "the version records no training data (it was not trained in a run with dataset "
            "inputs)"))]
    problems: list[str] = []
    details: dict[str, Any] = {}
    for role, view in views.items():
        table: pa.Table = view.to_arrow()
        info: dict[str, Any] = {"dataset": view.name, "version": view.version,
                                "rows": table.num_rows}
        details[role] = info
        where = f"{role} ({view.name}/{view.version})"
        if spec.min_rows is not None and table.num_rows < spec.min_rows:
            problems.append(f"{where} has {table.num_rows} rows, fewer than {spec.min_rows}")
        missing = [c for c in (spec.columns or []) if c not in table.column_names]
        if missing:
            problems.append(f"{where} lacks the columns {missing}")
        null_limits, ranges = _expectations(spec, ctx, view.name, table.column_names)
        if null_limits or ranges:
            info["expected_by_dictionary"] = sorted(
                {c for c, (_, src) in null_limits.items() if src == "dictionary"}
                | {c for c, (_, _, src) in ranges.items() if src == "dictionary"})
        if null_limits and table.num_rows:
            limits = {c: limit for c, (limit, _) in null_limits.items()}
            rates = {}
            for column, limit in limits.items():
                if column not in table.column_names:
                    problems.append(f"{where} has no column {column!r} to check nulls of")
                    continue
                col = table[column]
                nulls = col.null_count
                if pa.types.is_floating(col.type):
                    nulls += int(pc.sum(pc.is_nan(col)).as_py() or 0)
                rate = nulls / table.num_rows
                rates[column] = rate
                if rate > limit:
                    problems.append(f"{where}: {column!r} is {rate:.2%} null, over {limit:.2%}")
            info["null_rates"] = rates
        for column, (low, high, _) in ranges.items():
            if column not in table.column_names:
                problems.append(f"{where} has no column {column!r} to check the range of")
                continue
            if not (pa.types.is_integer(table[column].type)
                    or pa.types.is_floating(table[column].type)
                    or pa.types.is_decimal(table[column].type)):
                problems.append(f"{where}: {column!r} has a range to check but holds "
                                f"{table[column].type}, not numbers")
                continue
            found = pc.min_max(table[column]).as_py()
            info.setdefault("ranges", {})[column] = [found["min"], found["max"]]
            if found["min"] is not None and low is not None and found["min"] < low:
                problems.append(f"{where}: {column!r} goes down to {found['min']}, below {low}")
            if found["max"] is not None and high is not None and found["max"] > high:
                problems.append(f"{where}: {column!r} goes up to {found['max']}, above {high}")
    ok = not problems
    return [CheckResult(
        name=name, type="data", status="passed" if ok else "failed",
        message="the training data meets every expectation" if ok else "; ".join(problems),
        details=details,
    )]


def _expectations(spec: DataCheck, ctx: ValidationContext, dataset: str, columns: list[str],
                  ) -> tuple[dict[str, tuple[float, str]],
                             dict[str, tuple[float | None, float | None, str]]]:
    """Null-rate limits and value ranges per column, with where each came from: the suite's
    own, else the data dictionary's (when ``spec.dictionary``)."""
    nulls: dict[str, tuple[float, str]] = {}
    ranges: dict[str, tuple[float | None, float | None, str]] = {}
    if spec.dictionary:
        for entry in ctx.dictionary(dataset):
            if entry.column not in columns:
                continue  # a dictionary entry of a column this version does not have
            if entry.max_null_rate is not None:
                nulls[entry.column] = (entry.max_null_rate, "dictionary")
            if entry.valid_min is not None or entry.valid_max is not None:
                ranges[entry.column] = (entry.valid_min, entry.valid_max, "dictionary")
    if spec.max_null_rate is not None:
        suite = (spec.max_null_rate if isinstance(spec.max_null_rate, dict)
                 else dict.fromkeys(columns, spec.max_null_rate))
        nulls.update({c: (limit, "suite") for c, limit in suite.items()})
    ranges.update({c: (low, high, "suite") for c, (low, high) in (spec.ranges or {}).items()})
    return nulls, ranges


# ---- custom ----------------------------------------------------------------------------------
def _outcome(value: Any, name: str) -> CheckOutcome:
    if isinstance(value, CheckOutcome):
        return value
    if isinstance(value, bool | np.bool_):
        return CheckOutcome(bool(value))
    if isinstance(value, tuple) and 1 <= len(value) <= 3 \
            and isinstance(value[0], bool | np.bool_):
        return CheckOutcome(bool(value[0]), *value[1:])
    if isinstance(value, dict) and "passed" in value:
        return CheckOutcome(bool(value["passed"]), value.get("value"),
                            str(value.get("message", "")), value.get("threshold"),
                            dict(value.get("details") or {}))
    raise InvalidParameter(
        f"the custom check {name!r} must return a CheckOutcome (ctx.result(…)), a bool, "
        f"(passed, value, message) or a dict with 'passed'. Got {type(value).__name__} "
        "instead.", field="function")


def custom_check(fn: Callable[..., Any], name: str, ctx: ValidationContext) -> list[CheckResult]:
    out = _outcome(fn(ctx), name)
    value = None if out.value is None else float(out.value)
    threshold = None if out.threshold is None else str(out.threshold)
    return [CheckResult(name=name, type="custom", status="passed" if out.passed else "failed",
                        value=_finite(value), threshold=threshold, message=out.message,
                        details=dict(out.details))]


_BUILT_IN: dict[str, Callable[[Any, ValidationContext], list[CheckResult]]] = {
    "metric": metric_check,
    "champion": champion_check,
    "invariance": invariance_check,
    "directional": directional_check,
    "latency": latency_check,
    "signature": signature_check,
    "data": data_check,
}


def run_check(spec: Any, ctx: ValidationContext,
              functions: dict[str, Callable[..., Any]]) -> list[CheckResult]:
    """Run one check; an exception becomes an ``error`` result carrying the traceback (the
    other checks still run, so a report lists every failure)."""
    name = check_name(spec)
    start = time.perf_counter()
    try:
        if spec.type == "custom":
            results = custom_check(functions[name], name, ctx)
        else:
            results = _BUILT_IN[spec.type](spec, ctx)
    except Exception as exc:  # noqa: BLE001 - a raising check is a result, not a crash
        results = [CheckResult(
            name=name, type=spec.type, status="error",
            message=f"the check raised {type(exc).__name__}: {exc}",
            details={"traceback": traceback.format_exc(limit=20)},
        )]
    elapsed = (time.perf_counter() - start) * 1000.0
    for r in results:
        r.duration_ms = round(elapsed / len(results), 3)
    return results
