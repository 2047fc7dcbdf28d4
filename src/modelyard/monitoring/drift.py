"""Data and prediction drift: ``my.drift(reference, current)`` and the detector behind it.

Tests (names for ``tests=``):

=================  ==============  ======================================  =========  ========
name               kinds           statistic                               verdict    default
=================  ==============  ======================================  =========  ========
``ks``             numerical       two-sample Kolmogorov-Smirnov D         p < t      t = 0.05
``wasserstein``    numerical       Wasserstein-1 / reference std           stat >= t  t = 0.1
``psi``            both            population stability index              stat >= t  t = 0.1
``jensenshannon``  both            Jensen-Shannon distance (natural log)   stat >= t  t = 0.1
``chisquare``      categorical     chi-square, 2 x k homogeneity           p < t      t = 0.05
=================  ==============  ======================================  =========  ========

Defaults follow Evidently's documented ones: with at most 1,000 reference values a
column gets ``ks`` (numerical) or ``chisquare`` (categorical); above that, where p-values flag
differences too small to matter, ``wasserstein`` or ``jensenshannon`` at 0.1. A numerical
column with at most five distinct reference values is compared as categorical. PSI and
numerical Jensen-Shannon use ``n_bins`` (10) quantile bins of the reference. Every
statistic is computed for every column (``FeatureDrift.stats``); the chosen one decides.

Overrides: ``tests`` and ``thresholds`` take one value for all columns or a mapping whose
keys are column names, kinds (``numerical``/``categorical``) or, for thresholds, test names;
a column name wins over a test name, which wins over a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ..errors import InvalidParameter
from . import stats
from .columns import (
    CATEGORICAL,
    DISCRETE_MAX_UNIQUE,
    NUMERICAL,
    CategoricalAccumulator,
    CategoricalSummary,
    ColumnSummary,
    NumericAccumulator,
    NumericSummary,
    discrete_as_categorical,
    from_profile,
    kind_of_dtype,
    summarize,
)
from .entities import DriftReport, FeatureDrift, Finding
from .quality import column_quality, extra_feature, missing_feature
from .tables import Table, as_table

__all__ = [
    "DEFAULT_SHARE",
    "SMALL_SAMPLE",
    "TESTS",
    "DriftDetector",
    "DriftStream",
    "DriftTest",
    "compare_columns",
    "default_test",
    "drift",
]

SMALL_SAMPLE = 1000
"""Up to this many reference values a column gets a hypothesis test (KS / chi-square)."""
DEFAULT_SHARE = 0.5
"""The dataset drifts when at least this share of its input columns drift."""
PLOT_BINS = 30
PLOT_CATEGORIES = 20


@dataclass(frozen=True)
class DriftTest:
    name: str
    label: str
    kinds: tuple[str, ...]
    uses_p_value: bool
    default_threshold: float


TESTS: dict[str, DriftTest] = {
    t.name: t
    for t in (
        DriftTest("ks", "Kolmogorov-Smirnov", (NUMERICAL,), True, 0.05),
        DriftTest("wasserstein", "Wasserstein distance (normed by reference std)", (NUMERICAL,),
                  False, 0.1),
        DriftTest("psi", "Population stability index", (NUMERICAL, CATEGORICAL), False, 0.1),
        DriftTest("jensenshannon", "Jensen-Shannon distance", (NUMERICAL, CATEGORICAL), False, 0.1),
        DriftTest("chisquare", "Chi-square (homogeneity)", (CATEGORICAL,), True, 0.05),
    )
}
_ALIASES = {
    "kolmogorov-smirnov": "ks", "ks_2samp": "ks", "wasserstein_distance": "wasserstein",
    "wasserstein_norm": "wasserstein", "js": "jensenshannon", "jensen-shannon": "jensenshannon",
    "chi2": "chisquare", "chi-square": "chisquare", "chisq": "chisquare",
}


def _test_name(name: str, *, field: str) -> str:
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in TESTS:
        raise InvalidParameter(
            f"{field} must name one of the drift tests {sorted(TESTS)}. Got {name!r} instead.",
            field=field,
        )
    return key


def default_test(kind: str, n_reference: int) -> str:
    """Evidently's size-aware default for a column of ``kind`` with ``n_reference`` values."""
    if kind == CATEGORICAL:
        return "chisquare" if n_reference <= SMALL_SAMPLE else "jensenshannon"
    return "ks" if n_reference <= SMALL_SAMPLE else "wasserstein"


class _Plan:
    """Which test and threshold decide each column."""

    def __init__(self, tests: str | Mapping[str, str] | None,
                 thresholds: float | Mapping[str, float] | None) -> None:
        self.all_test: str | None = None
        self.tests: dict[str, str] = {}
        if isinstance(tests, str):
            self.all_test = _test_name(tests, field="tests")
        elif tests is not None:
            if not isinstance(tests, Mapping):
                raise InvalidParameter(
                    "tests must be a test name or a mapping of column/kind to test name. "
                    f"Got {type(tests).__name__} instead.", field="tests")
            self.tests = {str(k): _test_name(v, field=f"tests[{k!r}]") for k, v in tests.items()}
        self.all_threshold: float | None = None
        self.thresholds: dict[str, float] = {}
        if isinstance(thresholds, (int, float)) and not isinstance(thresholds, bool):
            self.all_threshold = float(thresholds)
        elif thresholds is not None:
            if not isinstance(thresholds, Mapping):
                raise InvalidParameter(
                    "thresholds must be a number or a mapping of column/test/kind to a number. "
                    f"Got {type(thresholds).__name__} instead.", field="thresholds")
            for k, v in thresholds.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise InvalidParameter(
                        f"thresholds[{k!r}] must be a number. Got {v!r} instead.",
                        field="thresholds")
                self.thresholds[_ALIASES.get(str(k).lower(), str(k))] = float(v)

    def choose(self, feature: str, kind: str, n_reference: int) -> tuple[str, float, Finding | None]:
        finding = None
        test = self.tests.get(feature)
        if test is not None and kind not in TESTS[test].kinds:
            raise InvalidParameter(
                f"tests[{feature!r}] must be a test for {kind} columns "
                f"({[t for t, s in TESTS.items() if kind in s.kinds]}). Got {test!r} instead.",
                field="tests")
        if test is None:
            test = self.tests.get(kind) or self.all_test
            if test is not None and kind not in TESTS[test].kinds:
                finding = Finding(kind="test_not_applicable", feature=feature, severity="info",
                                  message=f"{test!r} does not apply to {kind} column {feature!r}; "
                                          "the default test was used.")
                test = None
        if test is None:
            test = default_test(kind, n_reference)
        threshold = self.thresholds.get(feature)
        for key in (test, kind):
            if threshold is None:
                threshold = self.thresholds.get(key)
        if threshold is None:
            threshold = self.all_threshold
        if threshold is None:
            threshold = TESTS[test].default_threshold
        return test, threshold, finding


# ---- comparing two summaries of one column ---------------------------------------------------


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def _numeric_stats(ref: NumericSummary, cur: NumericSummary, test: str, n_bins: int
                   ) -> tuple[dict[str, float], float | None, bool]:
    """Every numerical statistic, the p-value of the deciding test, and whether approximate."""
    norm = max(ref.std, 0.001)
    out: dict[str, float] = {}
    p_value = None
    exact = ref.values is not None and cur.values is not None
    if exact:
        assert ref.values is not None and cur.values is not None
        cmp = stats.compare_sorted(ref.values, cur.values)
        out["ks"] = cmp.ks_statistic
        out["wasserstein"] = cmp.wasserstein / norm
        if test == "ks":
            out["ks"], p_value = stats.ks_2samp(ref.values, cur.values)
    else:
        edges, ref_cdf = ref.sketch()
        if cur.values is None and cur.edges.shape == edges.shape and np.array_equal(cur.edges, edges):
            cur_cdf, (cb, ca) = cur.cdf, (cur.below, cur.above)
        else:
            cur_cdf, (cb, ca) = cur.cdf_at(edges), cur.tails(float(edges[0]), float(edges[-1]))
        rb, ra = ref.tails(float(edges[0]), float(edges[-1]))
        out["ks"] = stats.binned_ks(ref_cdf, cur_cdf)
        w1 = stats.binned_wasserstein(edges, ref_cdf, cur_cdf, below_ref=rb, above_ref=ra,
                                      below_cur=cb, above_cur=ca)
        out["wasserstein"] = w1 / norm
        if test == "ks":
            p_value = stats.ks_pvalue(out["ks"], ref.n, cur.n)
    inner = ref.inner_edges(n_bins)
    ref_p = np.diff(np.concatenate(([0.0], ref.cdf_at(inner), [1.0])))
    cur_p = np.diff(np.concatenate(([0.0], cur.cdf_at(inner), [1.0])))
    out["psi"] = stats.psi(ref_p, cur_p)
    out["jensenshannon"] = stats.js_distance(ref_p, cur_p)
    return out, p_value, not exact


def _numeric_histogram(ref: NumericSummary, cur: NumericSummary) -> dict[str, Any]:
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    if not np.isfinite(lo) or not np.isfinite(hi):
        return {"type": NUMERICAL, "edges": [], "reference": [], "current": []}
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, PLOT_BINS + 1)

    def props(s: NumericSummary) -> list[float]:
        f = s.cdf_at(edges[1:])
        f[-1] = 1.0
        return [_r(v) for v in np.diff(np.concatenate(([0.0], f)))]

    return {"type": NUMERICAL, "edges": [_r(e) for e in edges], "reference": props(ref),
            "current": props(cur)}


def _categorical_histogram(keys: list[str], r: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    rp = r / max(r.sum(), 1)
    cp = c / max(c.sum(), 1)
    order = np.argsort(-(rp + cp), kind="stable")[:PLOT_CATEGORIES]
    return {"type": CATEGORICAL, "categories": [keys[i] for i in order],
            "reference": [_r(rp[i]) for i in order], "current": [_r(cp[i]) for i in order]}


def compare_columns(
    feature: str,
    ref: ColumnSummary,
    cur: ColumnSummary,
    *,
    test: str,
    threshold: float,
    n_bins: int = 10,
    role: str = "input",
) -> FeatureDrift:
    """The verdict for one column from its two summaries (which must be of the same kind)."""
    row = FeatureDrift(
        feature=feature, kind=ref.kind if isinstance(ref, NumericSummary) else CATEGORICAL,
        role="output" if role == "output" else "input", test=test, threshold=threshold,
        n_reference=ref.n, n_current=cur.n, missing_reference=ref.missing,
        missing_current=cur.missing,
    )
    if ref.n == 0 or cur.n == 0:
        side = "reference" if ref.n == 0 else "current"
        row.finding = f"no values in the {side} data"
        return row
    p_value: float | None = None
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        all_stats, p_value, approximate = _numeric_stats(ref, cur, test, n_bins)
        row.approximate = approximate
        row.histogram = _numeric_histogram(ref, cur)
    elif isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
        keys = list(ref.counts)
        unseen = [k for k in cur.counts if k not in ref.counts]
        keys += unseen
        r = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.float64)
        c = np.array([cur.counts.get(k, 0) for k in keys], dtype=np.float64)
        chi, chi_p = stats.chi2_homogeneity(r, c)
        all_stats = {"chisquare": chi, "psi": stats.psi(r, c), "jensenshannon": stats.js_distance(r, c)}
        if test == "chisquare":
            p_value = chi_p
        row.unseen = int(sum(cur.counts[k] for k in unseen))
        row.unseen_categories = sorted(unseen, key=lambda k: -cur.counts[k])[:10]
        row.histogram = _categorical_histogram(keys, r, c)
    else:
        row.finding = "reference and current columns are of different kinds"
        return row
    row.stats = {k: _r(v) for k, v in all_stats.items()}
    row.statistic = float(all_stats[test])
    row.p_value = p_value
    spec = TESTS[test]
    row.drifted = bool(p_value < threshold) if spec.uses_p_value and p_value is not None else (
        bool(row.statistic >= threshold))
    return row


# ---- the detector ------------------------------------------------------------------------------


def _is_output(name: str, prediction: set[str]) -> bool:
    return name in prediction or name.startswith("output.")


def _reference_summary(series: pl.Series, keep_values: bool, n_bins: int
                       ) -> tuple[ColumnSummary | None, Finding | None]:
    kind = kind_of_dtype(series.dtype)
    if kind is None:
        return None, Finding(kind="unsupported_type", feature=series.name, severity="warning",
                             message=f"{series.name!r} has type {series.dtype}, which drift "
                                     "cannot compare; it is skipped.")
    summary = summarize(series, kind)
    if isinstance(summary, NumericSummary) and summary.n_unique is not None and (
            0 < summary.n_unique <= DISCRETE_MAX_UNIQUE):
        summary = discrete_as_categorical(summary)
    if isinstance(summary, NumericSummary) and not keep_values:
        summary.drop_values(n_bins)
    return summary, None


def _current_summary(series: pl.Series, ref: ColumnSummary) -> tuple[ColumnSummary, Finding | None]:
    finding = None
    cur_kind = kind_of_dtype(series.dtype)
    ref_src = ref.kind if isinstance(ref, NumericSummary) else ref.source_kind
    if cur_kind is not None and cur_kind != ref_src and series.dtype != pl.Null:
        finding = Finding(
            kind="type_mismatch", feature=series.name, severity="warning",
            message=f"{series.name!r} is {ref_src} in the reference but has type "
                    f"{series.dtype} in the current data; it was read as {ref_src}.",
        )
    if isinstance(ref, NumericSummary):
        return summarize(series, NUMERICAL), finding
    return summarize(series, CATEGORICAL, source_kind=ref.source_kind), finding


class DriftDetector:
    """Drift of current data against a fitted reference: ``fit(reference)`` once, then
    ``score(current)`` per window, or ``stream()`` to feed a large window batch by batch.

    Parameters
    ----------
    columns: the columns to compare (default: every column of the reference).
    tests, thresholds: overrides, see the module docstring.
    prediction: columns holding the model's outputs (also any column named ``output.*``);
        compared the same way but kept out of the drift share.
    drift_share: the share of drifted input columns at which the dataset counts as drifted.
    n_bins: quantile bins of the reference for PSI and Jensen-Shannon.
    keep_values: keep the sorted reference values for exact tests (memory: 8 bytes per
        numerical value); False keeps a 1,000-bin sketch per column instead.
    """

    def __init__(
        self,
        *,
        columns: Sequence[str] | None = None,
        tests: str | Mapping[str, str] | None = None,
        thresholds: float | Mapping[str, float] | None = None,
        prediction: str | Sequence[str] | None = None,
        drift_share: float = DEFAULT_SHARE,
        n_bins: int = 10,
        keep_values: bool = True,
    ) -> None:
        self.columns = columns
        self.tests = tests
        self.thresholds = thresholds
        self.prediction = prediction
        self.drift_share = drift_share
        self.n_bins = n_bins
        self.keep_values = keep_values

    # ---- validation ----
    def _validate(self) -> None:
        if not isinstance(self.n_bins, int) or isinstance(self.n_bins, bool) or self.n_bins < 2:
            raise InvalidParameter(f"n_bins must be an integer >= 2. Got {self.n_bins!r} instead.",
                                   field="n_bins")
        if not (isinstance(self.drift_share, (int, float)) and 0 < self.drift_share <= 1):
            raise InvalidParameter(
                f"drift_share must be a number in (0, 1]. Got {self.drift_share!r} instead.",
                field="drift_share")
        if self.columns is not None and (isinstance(self.columns, str) or not all(
                isinstance(c, str) for c in self.columns)):
            raise InvalidParameter(
                f"columns must be a list of column names. Got {self.columns!r} instead.",
                field="columns")
        self.plan_ = _Plan(self.tests, self.thresholds)
        pred = self.prediction
        self.prediction_ = {pred} if isinstance(pred, str) else set(pred or ())

    # ---- fit ----
    def fit(self, reference: Any) -> DriftDetector:
        """Summarise the reference: a table (pandas, polars, Arrow, LazyFrame, Parquet path)
        or a stored dataset profile (an object or dict with a ``columns`` mapping of per-column
        statistics: histogram edges and counts for numbers, top categories for the rest)."""
        self._validate()
        self.reference_: dict[str, ColumnSummary] = {}
        self.findings_: list[Finding] = []
        profile_columns = _profile_columns(reference)
        if profile_columns is not None:
            names = list(self.columns or profile_columns)
            for name in names:
                entry = profile_columns.get(name)
                summary = from_profile(entry) if entry is not None else None
                if summary is None:
                    self.findings_.append(missing_feature(name, side="reference") if entry is None
                                          else Finding(kind="unsupported_type", feature=name,
                                                       message=f"The profile of {name!r} has "
                                                               "neither a histogram nor categories."))
                    continue
                self.reference_[name] = summary
            self.n_reference_ = max((s.total for s in self.reference_.values()), default=0)
            self.from_profile_ = True
            return self
        table = as_table(reference, field="reference")
        present = table.columns
        names = list(self.columns) if self.columns is not None else present
        for name in names:
            if name not in present:
                self.findings_.append(missing_feature(name, side="reference"))
                continue
            summary, finding = _reference_summary(table.column(name), self.keep_values, self.n_bins)
            if finding is not None:
                self.findings_.append(finding)
            if summary is not None:
                self.reference_[name] = summary
        self.n_reference_ = table.height
        self.from_profile_ = False
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "reference_"):
            from ..errors import NotFittedError

            raise NotFittedError("This DriftDetector is not fitted yet: call fit(reference) first.")

    def _row(self, name: str, ref: ColumnSummary, cur: ColumnSummary) -> tuple[FeatureDrift, list[Finding]]:
        kind = ref.kind if isinstance(ref, NumericSummary) else CATEGORICAL
        test, threshold, finding = self.plan_.choose(name, kind, ref.n)
        role = "output" if _is_output(name, self.prediction_) else "input"
        row = compare_columns(name, ref, cur, test=test, threshold=threshold,
                              n_bins=self.n_bins, role=role)
        quality, findings = column_quality(name, ref, cur)
        row.quality = {k: _r(v) for k, v in quality.items()}
        if finding is not None:
            findings.insert(0, finding)
        return row, findings

    def score(self, current: Any) -> DriftReport:
        """Compare a current table with the reference; exact unless fitted on a profile."""
        self._check_fitted()
        return self._compare(list(self.reference_), self.reference_.get, current,
                             list(self.findings_), extra_columns=self.columns is None)

    def _compare(self, names: list[str], reference: Callable[[str], ColumnSummary | None],
                 current: Any, findings: list[Finding], *, extra_columns: bool) -> DriftReport:
        """Compare column by column; ``reference(name)`` gives the reference summary (or None,
        having added a finding), so a one-shot call never holds more than one column."""
        table = as_table(current, field="current")
        present = set(table.columns)
        rows: list[FeatureDrift] = []
        for name in names:
            ref = reference(name)
            if ref is None:
                continue
            if name not in present:
                findings.append(missing_feature(name))
                rows.append(_missing_row(name, ref))
                continue
            cur, mismatch = _current_summary(table.column(name), ref)
            row, extra = self._row(name, ref, cur)
            del cur
            rows.append(row)
            findings += ([mismatch] if mismatch else []) + extra
        if extra_columns:
            known = set(names) | {f.feature for f in findings if f.kind == "unsupported_type"}
            findings += [extra_feature(c) for c in table.columns if c not in known]
        return _report(rows, findings, self, table.height)

    def stream(self) -> DriftStream:
        """An accumulator for a current window read in batches (bounded memory)."""
        self._check_fitted()
        return DriftStream(self)


class DriftStream:
    """Summaries of a current window built batch by batch: numerical columns on the
    reference's 1,000-quantile sketch (approximate KS and Wasserstein; exact PSI/JS bins and
    counts), categorical ones exactly. Memory stays O(columns x bins)."""

    def __init__(self, detector: DriftDetector) -> None:
        self.detector = detector
        self.n_rows = 0
        self.seen: set[str] = set()
        self.mismatch: dict[str, Finding] = {}
        self.acc: dict[str, NumericAccumulator | CategoricalAccumulator] = {}
        for name, ref in detector.reference_.items():
            if isinstance(ref, NumericSummary):
                ref.sketch()
                self.acc[name] = NumericAccumulator(ref.edges)
            else:
                self.acc[name] = CategoricalAccumulator(ref.source_kind)

    def update(self, batch: Any) -> None:
        table = batch if isinstance(batch, pl.DataFrame) else _eager(as_table(batch, field="batch"))
        self.n_rows += table.height
        for name in table.columns:
            acc = self.acc.get(name)
            if acc is None:
                continue
            self.seen.add(name)
            series = table.get_column(name)
            if name not in self.mismatch:
                ref = self.detector.reference_[name]
                ref_src = ref.kind if isinstance(ref, NumericSummary) else ref.source_kind
                kind = kind_of_dtype(series.dtype)
                if kind is not None and kind != ref_src and series.dtype != pl.Null:
                    _, finding = _current_summary(series.head(0), ref)
                    if finding is not None:
                        self.mismatch[name] = finding
            acc.update(series)

    def report(self) -> DriftReport:
        d = self.detector
        rows: list[FeatureDrift] = []
        findings = list(d.findings_)
        for name, ref in d.reference_.items():
            if name not in self.seen:
                findings.append(missing_feature(name))
                rows.append(_missing_row(name, ref))
                continue
            cur = self.acc[name].summary()
            row, extra = d._row(name, ref, cur)
            rows.append(row)
            if name in self.mismatch:
                findings.append(self.mismatch[name])
            findings += extra
        return _report(rows, findings, d, self.n_rows)


def _eager(table: Table) -> pl.DataFrame:
    return pl.DataFrame([table.column(c) for c in table.columns])


def _missing_row(name: str, ref: ColumnSummary) -> FeatureDrift:
    kind = ref.kind if isinstance(ref, NumericSummary) else CATEGORICAL
    return FeatureDrift(feature=name, kind=kind, n_reference=ref.n, missing_reference=ref.missing,
                        finding="missing from the current data")


def _report(rows: list[FeatureDrift], findings: list[Finding], d: DriftDetector,
            n_current: int) -> DriftReport:
    if n_current == 0:
        return DriftReport(
            status="no data", features=rows, share_threshold=d.drift_share,
            n_reference=d.n_reference_, n_current=0,
            findings=[Finding(kind="no_data", severity="warning",
                              message="The current data has no rows: nothing to compare.")],
        )
    judged = [r for r in rows if r.role == "input" and r.drifted is not None]
    share = sum(1 for r in judged if r.drifted) / len(judged) if judged else 0.0
    if n_current == 1:
        findings.append(Finding(kind="single_row", severity="info", value=1.0,
                                message="The current data has one row: the tests have almost "
                                        "no power; read the verdicts with care."))
    return DriftReport(
        status="ok", features=rows, drift_share=share, share_threshold=d.drift_share,
        drifted=bool(judged) and share >= d.drift_share, n_reference=d.n_reference_,
        n_current=n_current, approximate=any(r.approximate for r in rows),
        findings=_dedupe(findings),
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.feature, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _profile_columns(obj: Any) -> Mapping[str, Any] | None:
    """The per-column mapping of a dataset profile, or None when ``obj`` is not a profile."""
    if isinstance(obj, (pl.DataFrame, pl.LazyFrame, str)) or type(obj).__module__.startswith(
            ("pandas", "pyarrow")):
        return None
    cols = obj.get("columns") if isinstance(obj, Mapping) else getattr(obj, "columns", None)
    if isinstance(cols, Mapping):
        return cols
    if isinstance(cols, list) and cols and all(hasattr(c, "name") or isinstance(c, Mapping) for c in cols):
        return {(c["name"] if isinstance(c, Mapping) else c.name): c for c in cols}
    return None


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    tests: str | Mapping[str, str] | None = None,
    thresholds: float | Mapping[str, float] | None = None,
    prediction: str | Sequence[str] | None = None,
    drift_share: float = DEFAULT_SHARE,
    n_bins: int = 10,
) -> DriftReport:
    """Compare ``current`` with ``reference``, column by column.

    Both may be pandas, polars (eager or lazy) or Arrow tables, Parquet/CSV paths or dicts of
    columns; ``reference`` may also be a stored dataset profile (then numerical tests are
    computed from its histogram, and say ``approximate``). Columns are summarised and compared
    one at a time, so memory beyond the inputs stays at about one column's worth.

    >>> import modelyard as my
    >>> report = my.drift({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, {"x": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]})
    >>> report["x"].test, report["x"].drifted
    ('ks', False)
    """
    det = DriftDetector(columns=columns, tests=tests, thresholds=thresholds, prediction=prediction,
                        drift_share=drift_share, n_bins=n_bins)
    if _profile_columns(reference) is not None:
        return det.fit(reference).score(current)
    det._validate()
    ref_t = as_table(reference, field="reference")
    det.reference_, det.findings_, det.from_profile_ = {}, [], False
    det.n_reference_ = ref_t.height
    ref_cols = set(ref_t.columns)
    findings: list[Finding] = []

    def summary(name: str) -> ColumnSummary | None:
        if name not in ref_cols:
            findings.append(missing_feature(name, side="reference"))
            return None
        ref, finding = _reference_summary(ref_t.column(name), True, n_bins)
        if finding is not None:
            findings.append(finding)
        return ref

    names = list(columns) if columns is not None else ref_t.columns
    return det._compare(names, summary, current, findings, extra_columns=columns is None)


def iter_frames(batches: Iterable[Any]) -> Iterable[pl.DataFrame]:
    for b in batches:
        yield b if isinstance(b, pl.DataFrame) else _eager(as_table(b, field="batch"))
