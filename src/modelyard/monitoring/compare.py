"""How the model versions of one endpoint behave on the same traffic.

    c = yard.monitoring.compare("loans", window="7d")           # a Comparison
    c.champion                                                  # "main: loans/3"
    for v in c.versions:                                        # one per route and version
        v.role, v.agreement, v.predictions, v.latency, v.drift, v.performance
        v.versus_champion                                       # PairedDifference (with a CI)

Every route and shadow of an endpoint logs its own record of the requests it saw; all the
records of one request carry the id the caller got for it (``request_id``), and ground truth
given for that id counts for every one of them. The comparison reads the window once, in
Arrow batches (``yard.predictions.window``), and for each model version on each route:

* requests, share of the answered ones, latency percentiles (histograms of 2,000 log-spaced
  bins, as monitor runs keep them);
* the agreement of a shadow with the champion: the share of the requests the champion answered
  on which both predicted the same (and the mean absolute difference for numbers);
* the prediction distributions side by side: shared categories or shared bins (as the
  dashboard's traffic figures, :mod:`.traffic`), plus quantiles for numbers;
* drift of its inputs and outputs against the reference (the monitor's own
  :class:`~.evaluation.WindowEvaluation`: the same references, tests and thresholds);
* realised performance on its labelled requests and its difference from the champion with a
  confidence interval (:class:`PairedDifference`).

The champion is the route and version that answered the most requests in the window, unless
``champion=`` names a route. A shadow sees the very requests the champion answered, so its
difference is **paired** (each labelled request counts once for both models); a challenger or
a canary on a traffic split answers other requests, so its difference is **unpaired** (two
random samples of the same traffic).

Methods (``confidence`` 0.95 by default):

* classification, paired: the difference of accuracy ``(b - c) / n`` where ``b`` counts the
  labelled requests only the candidate got right and ``c`` those only the champion got right;
  the interval is Agresti and Min's (2005) Wald interval for matched proportions with 0.5
  added to each cell of the 2x2 table (good coverage down to small ``n``), the p-value
  McNemar's exact test (binomial on the ``b + c`` discordant requests).
* classification, unpaired: Agresti and Caffo's (2000) interval for a difference of two
  proportions (one success and one failure added to each sample); p-value from a two-sided
  z test.
* regression: the difference of mean absolute error (negative: the candidate errs less);
  paired, a t interval on the per-request differences ``|error_candidate| - |error_champion|``
  (a paired t test); unpaired, Welch's interval and test.

The difference is always the candidate's figure minus the champion's; ``verdict`` reads the
interval (it excludes 0 on one side, or it does not).

Memory: the inputs feed bounded drift accumulators and are not kept; per row only a hash of
the request id, a route code, the prediction and the label are kept for the pairing. Past
``max_rows`` rows the comparison keeps a fixed sample of whole requests (those whose id hashes
into a share that halves until the rows fit), so a shadow is still paired with the answer to
the same request; ``sampled`` then says how many rows were used. Counts, shares and latency
use every row.

Errors: the prediction log holds answered predictions only, so no error rate comes from it;
failed requests are counted by the model server (``modelyard_predict_errors`` on
``/metrics``) and by a canary's statistics (:data:`ERRORS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, Field
from scipy import stats as sps

from ..errors import InvalidParameter, did_you_mean
from .entities import DriftReport, Finding
from .evaluation import WindowEvaluation
from .performance import LatencyAccumulator, class_labels, is_regression
from .references import INPUT, OUTPUT, ReferenceResolver
from .traffic import (
    KEYS,
    PREDICTION,
    Distribution,
    LatencySummary,
    agreement_query,
    distribution_query,
    pairs_with_answers,
    shared_bins,
)

__all__ = [
    "ERRORS",
    "MAX_ROWS",
    "Comparison",
    "ComparisonBuilder",
    "PairedDifference",
    "VersionComparison",
    "compare_window",
    "paired_accuracy",
    "paired_error",
    "unpaired_accuracy",
    "unpaired_error",
]

MAX_ROWS = 2_000_000
"""Rows kept for the pairing before a sample of whole requests is taken (see the docstring)."""
ERRORS = ("The prediction log records answered predictions only: failed requests are counted "
          "by the model server (modelyard_predict_errors on /metrics) and by a canary's "
          "statistics.")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_LABEL, _LABEL_NUM = "__label", "__label_num"  # the columns of evaluation.labels_frame
_BUCKETS = 65_536
_K = "k"

Role = Literal["champion", "challenger", "canary", "shadow"]


class PairedDifference(BaseModel):
    """A candidate's realised performance against the champion's (see the module docstring):
    ``difference`` = candidate - champion, with its ``confidence`` interval [low, high]."""

    metric: str  # "accuracy" | "mae"
    champion: float | None = None
    candidate: float | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    confidence: float = 0.95
    n: int = 0  # labelled pairs (paired) or the candidate's labelled requests (unpaired)
    n_champion: int = 0  # unpaired: the champion's labelled requests
    paired: bool = True
    method: str = ""
    p_value: float | None = None
    verdict: str = "too few labels"  # "candidate better" | "champion better" | "no clear difference"


class VersionComparison(BaseModel):
    """One model version on one route (or shadow) of the endpoint, over the window."""

    route: str
    model_name: str
    model_version: int
    shadow: bool
    role: Role
    requests: int
    share: float  # of the answered requests (0 for a shadow)
    latency: LatencySummary
    latency_mean_ms: float | None = None
    error_rate: float | None = None  # not in the log: see Comparison.errors
    agreement: float | None = None  # with the champion, on the requests it answered
    compared: int = 0
    mean_abs_difference: float | None = None
    predictions: Distribution
    quantiles: dict[str, float] = Field(default_factory=dict)
    drift: DriftReport | None = None
    n_labeled: int = 0
    performance: dict[str, float] = Field(default_factory=dict)
    versus_champion: PairedDifference | None = None

    @property
    def ref(self) -> str:
        return f"{self.model_name}/{self.model_version}"


class Comparison(BaseModel):
    """The model versions of ``endpoint`` on the same traffic between ``start`` and ``end``."""

    endpoint: str
    start: datetime
    end: datetime
    champion: str | None = None  # "route: name/version"
    task: str | None = None  # "classification" | "regression" (None without predictions)
    requests: int = 0  # answered requests
    rows: int = 0  # records read (shadows included)
    versions: list[VersionComparison] = Field(default_factory=list)
    sampled: int | None = None  # rows the pairing and distributions used, when sampled
    errors: str = ERRORS
    findings: list[Finding] = Field(default_factory=list)

    def version(self, route: str | None = None,
                model_version: int | str | None = None) -> VersionComparison:
        """The first version on ``route`` (and/or with ``model_version``); KeyError if none."""
        for v in self.versions:
            if (route is None or v.route == route) and (
                    model_version is None or v.model_version == int(model_version)):
                return v
        raise KeyError((route, model_version))

    def to_dict(self, *, histograms: bool = False) -> dict[str, Any]:
        exclude = None if histograms else {
            "versions": {"__all__": {"drift": {"features": {"__all__": {"histogram"}}}}}}
        return self.model_dump(mode="json", exclude=exclude)


# ---- the intervals ---------------------------------------------------------------------------


def _z(confidence: float) -> float:
    return float(sps.norm.ppf(0.5 + confidence / 2))


def _verdict(low: float, high: float, higher_is_better: bool) -> str:
    if low > 0:
        return "candidate better" if higher_is_better else "champion better"
    if high < 0:
        return "champion better" if higher_is_better else "candidate better"
    return "no clear difference"


def paired_accuracy(candidate_right: np.ndarray, champion_right: np.ndarray, *,
                    confidence: float = 0.95) -> PairedDifference:
    """Accuracy difference on the same labelled requests: Agresti-Min interval, McNemar's
    exact p-value (see the module docstring)."""
    cand, champ = np.asarray(candidate_right, bool), np.asarray(champion_right, bool)
    n = int(cand.shape[0])
    out = PairedDifference(metric="accuracy", confidence=confidence, n=n, paired=True,
                           method="Agresti-Min interval for matched proportions; McNemar's "
                                  "exact test")
    if n == 0:
        return out
    b = int((cand & ~champ).sum())
    c = int((~cand & champ).sum())
    out.candidate, out.champion = float(cand.mean()), float(champ.mean())
    out.difference = (b - c) / n
    m = n + 2.0  # 0.5 added to each of the four cells
    p12, p21 = (b + 0.5) / m, (c + 0.5) / m
    d = p12 - p21
    half = _z(confidence) * math.sqrt(max(p12 + p21 - d * d, 0.0) / m)
    out.low, out.high = max(-1.0, d - half), min(1.0, d + half)
    out.p_value = float(sps.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    out.verdict = _verdict(out.low, out.high, True)
    return out


def unpaired_accuracy(candidate_right: np.ndarray, champion_right: np.ndarray, *,
                      confidence: float = 0.95) -> PairedDifference:
    """Accuracy difference of two samples of requests: Agresti-Caffo interval."""
    cand, champ = np.asarray(candidate_right, bool), np.asarray(champion_right, bool)
    n1, n2 = int(cand.shape[0]), int(champ.shape[0])
    out = PairedDifference(metric="accuracy", confidence=confidence, n=n1, n_champion=n2,
                           paired=False, method="Agresti-Caffo interval for two proportions "
                                                "(different requests); z test")
    if n1 == 0 or n2 == 0:
        return out
    x1, x2 = int(cand.sum()), int(champ.sum())
    out.candidate, out.champion = x1 / n1, x2 / n2
    out.difference = out.candidate - out.champion
    p1, p2 = (x1 + 1) / (n1 + 2), (x2 + 1) / (n2 + 2)
    se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2))
    d = p1 - p2
    half = _z(confidence) * se
    out.low, out.high = max(-1.0, d - half), min(1.0, d + half)
    out.p_value = float(2 * sps.norm.sf(abs(d) / se)) if se > 0 else 1.0
    out.verdict = _verdict(out.low, out.high, True)
    return out


def paired_error(candidate_abs: np.ndarray, champion_abs: np.ndarray, *,
                 confidence: float = 0.95) -> PairedDifference:
    """Mean absolute error difference on the same labelled requests: paired t interval."""
    a, b = np.asarray(candidate_abs, float), np.asarray(champion_abs, float)
    n = int(a.shape[0])
    out = PairedDifference(metric="mae", confidence=confidence, n=n, paired=True,
                           method="paired t interval of |error| differences; paired t test")
    if n == 0:
        return out
    out.candidate, out.champion = float(a.mean()), float(b.mean())
    d = a - b
    out.difference = float(d.mean())
    if n < 2:
        return out
    return _t_interval(out, float(d.std(ddof=1)) / math.sqrt(n), n - 1.0)


def _t_interval(out: PairedDifference, se: float, df: float) -> PairedDifference:
    """The t interval and two-sided test of ``out.difference`` (an error: lower is better)."""
    assert out.difference is not None
    if se == 0.0:
        out.low = out.high = out.difference
        out.p_value = 1.0 if out.difference == 0 else 0.0
    else:
        half = float(sps.t.ppf(0.5 + out.confidence / 2, df)) * se
        out.low, out.high = out.difference - half, out.difference + half
        out.p_value = float(2 * sps.t.sf(abs(out.difference) / se, df))
    out.verdict = _verdict(out.low, out.high, False)
    return out


def unpaired_error(candidate_abs: np.ndarray, champion_abs: np.ndarray, *,
                   confidence: float = 0.95) -> PairedDifference:
    """Mean absolute error difference of two samples of requests: Welch interval."""
    a, b = np.asarray(candidate_abs, float), np.asarray(champion_abs, float)
    n1, n2 = int(a.shape[0]), int(b.shape[0])
    out = PairedDifference(metric="mae", confidence=confidence, n=n1, n_champion=n2,
                           paired=False, method="Welch interval (different requests); "
                                                "Welch t test")
    if n1 == 0 or n2 == 0:
        return out
    out.candidate, out.champion = float(a.mean()), float(b.mean())
    out.difference = out.candidate - out.champion
    if n1 < 2 or n2 < 2:
        return out
    v1, v2 = float(a.var(ddof=1)) / n1, float(b.var(ddof=1)) / n2
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)) if se else 1.0
    return _t_interval(out, se, df)  # Welch-Satterthwaite degrees of freedom


# ---- reading the window ----------------------------------------------------------------------


class ComparisonBuilder:
    """Feed the window's batches with :meth:`update`, then call :meth:`result`.

    ``labels``: :func:`~.evaluation.labels_frame` of the window's ground truth;
    ``evaluation``: a :class:`~.evaluation.WindowEvaluation` fed the same batches, for drift
    and the monitor's performance figures (None: neither)."""

    def __init__(self, *, labels: pl.DataFrame | None = None,
                 evaluation: WindowEvaluation | None = None, champion: str | None = None,
                 confidence: float = 0.95, max_rows: int = MAX_ROWS) -> None:
        if not 0 < confidence < 1:
            raise InvalidParameter(
                f"confidence must be between 0 and 1. Got {confidence!r} instead.",
                field="confidence")
        if max_rows < 1:
            raise InvalidParameter(f"max_rows must be at least 1. Got {max_rows!r} instead.",
                                   field="max_rows")
        self.evaluation = evaluation
        self.champion = champion
        self.confidence = confidence
        self.max_rows = max_rows
        self.labels: pl.DataFrame | None = None
        if labels is not None and labels.height:
            self.labels = labels.select(pl.col("id").hash(seed=11).alias("h"), _LABEL,
                                        _LABEL_NUM).unique("h", keep="last")
        self.codes: dict[tuple[Any, ...], int] = {}
        self.counts: dict[int, int] = {}
        self.latency: dict[int, LatencyAccumulator] = {}
        self.parts: list[pl.DataFrame] = []
        self.kept = 0
        self.share = _BUCKETS  # of the request-id hash buckets kept
        self.rows = 0

    def _code(self, key: tuple[Any, ...]) -> int:
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = len(self.codes)
        return code

    def update(self, batch: Any) -> None:
        df = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        if df.height == 0:
            return
        self.rows += df.height
        for col, dtype in (("model_name", pl.String), ("model_version", pl.Int64),
                           ("route", pl.String), ("shadow", pl.Boolean),
                           ("latency_ms", pl.Float64)):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=dtype).alias(col))
        df = df.with_columns(pl.col("shadow").fill_null(False))
        if self.evaluation is not None:
            self.evaluation.update(df)
        keys = df.select(KEYS).unique(maintain_order=True)
        codes = keys.with_columns(pl.Series(_K, [self._code(tuple(r)) for r in keys.iter_rows()],
                                            dtype=pl.Int32))
        request = pl.coalesce("request_id", "id") if "request_id" in df.columns else pl.col("id")
        pred = pl.col(PREDICTION) if PREDICTION in df.columns else pl.lit(None, pl.Int64)
        narrow = df.select(*KEYS, pl.col("latency_ms").cast(pl.Float64),
                           pl.col("id").hash(seed=11).alias("h"),
                           request.hash(seed=11).alias("request_id"), pred.alias("pred")) \
            .join(codes, on=KEYS, how="left").drop(["route", "model_name", "model_version"])
        for (code,), part in narrow.partition_by(_K, as_dict=True).items():
            self.counts[code] = self.counts.get(code, 0) + part.height
            acc = self.latency.setdefault(code, LatencyAccumulator())
            acc.update(part.get_column("latency_ms").fill_null(float("nan")).to_numpy())
        narrow = narrow.drop("latency_ms")
        if self.labels is not None:  # by the record's own id, else by its request's
            narrow = narrow.join(self.labels, on="h", how="left").join(
                self.labels.rename({"h": "request_id", _LABEL: "_rl", _LABEL_NUM: "_rn"}),
                on="request_id", how="left").with_columns(
                pl.coalesce(_LABEL, "_rl").alias(_LABEL),
                pl.coalesce(_LABEL_NUM, "_rn").alias(_LABEL_NUM)).drop("_rl", "_rn")
        else:
            narrow = narrow.with_columns(pl.lit(None, pl.String).alias(_LABEL),
                                         pl.lit(None, pl.Float64).alias(_LABEL_NUM))
        narrow = narrow.drop("h")
        if self.share < _BUCKETS:
            narrow = narrow.filter(self._kept())
        self.parts.append(narrow)
        self.kept += narrow.height
        while self.kept > self.max_rows and self.share > 1:
            self.share //= 2
            self.parts = [p.filter(self._kept()) for p in self.parts]
            self.kept = sum(p.height for p in self.parts)

    def _kept(self) -> pl.Expr:
        return pl.col("request_id") % _BUCKETS < self.share

    # ---- results ---------------------------------------------------------------------------
    def _champion_code(self) -> int | None:
        answered = [(n, code) for key, code in self.codes.items()
                    if not key[3] and (n := self.counts.get(code, 0))]
        if self.champion is not None:
            routes = sorted({str(k[0]) for k in self.codes if not k[3]})
            answered = [(n, c) for n, c in answered
                        if next(k for k, v in self.codes.items() if v == c)[0] == self.champion]
            if not answered:
                raise InvalidParameter(
                    f"champion must name a route that answered requests in the window "
                    f"({', '.join(routes) or 'none did'}). Got {self.champion!r} instead."
                    f"{did_you_mean(self.champion, routes)}", field="champion")
        if not answered:
            return None
        return max(answered, key=lambda t: (t[0], -t[1]))[1]

    def result(self, endpoint: str, start: datetime, end: datetime) -> Comparison:
        out = Comparison(endpoint=endpoint, start=start, end=end, rows=self.rows)
        if not self.codes:
            out.findings.append(Finding(kind="no_data", severity="warning", message=(
                f"No predictions of {endpoint!r} between {start.isoformat()} and "
                f"{end.isoformat()}.")))
            return out
        frame = pl.concat(self.parts, how="diagonal_relaxed") if self.parts else pl.DataFrame()
        champ = self._champion_code()
        by_code = {code: key for key, code in self.codes.items()}
        answered = sum(n for code, n in self.counts.items() if not by_code[code][3])
        out.requests = answered
        out.sampled = frame.height if self.share < _BUCKETS else None
        lazy = frame.lazy()
        kind, bins = shared_bins(lazy, frame.schema["pred"]) if frame.height else ("none", [])
        slots: dict[int, dict[Any, int]] = {}
        if kind != "none":
            for row in distribution_query(lazy, kind, bins, keys=[_K]).collect().iter_rows(
                    named=True):
                slots.setdefault(row[_K], {})[row["slot"]] = row["len"]
        numerical = kind == "numerical"
        quantiles: dict[int, dict[str, float]] = {}
        if numerical:
            q = frame.group_by(_K).agg(
                pl.col("pred").cast(pl.Float64).mean().alias("mean"),
                *[pl.col("pred").cast(pl.Float64).quantile(p).alias(f"p{round(p * 100)}")
                  for p in QUANTILES])
            quantiles = {r[_K]: {k: float(v) for k, v in r.items() if k != _K and v is not None}
                         for r in q.iter_rows(named=True)}
        task = self._task(frame, champ)
        out.task = task
        pairs = pl.DataFrame()
        agree: dict[int, dict[str, Any]] = {}
        if champ is not None and frame.height:
            pairs = pairs_with_answers(lazy, keys=[_K], answers=pl.col(_K) == champ,
                                       carry=(_LABEL, _LABEL_NUM)).collect()
            if kind != "none":
                agree = {r[_K]: r for r in agreement_query(pairs.lazy(), numerical,
                                                           keys=[_K]).collect().iter_rows(
                    named=True)}
        results, findings = self.evaluation.results() if self.evaluation is not None \
            else ([], [])
        groups = {(self._model_name(g), g.model_version, g.route, g.shadow): g for g in results}
        for code, key in by_code.items():
            route, model_name, model_version, shadow = key
            n = self.counts.get(code, 0)
            lat = self.latency.get(code)
            role: Role = ("champion" if code == champ else "shadow" if shadow
                          else "canary" if route == "canary" else "challenger")
            a = agree.get(code, {})
            g = groups.get((model_name, None if model_version is None else str(model_version),
                            route, bool(shadow)))
            labeled = frame.filter((pl.col(_K) == code) & pl.col(_LABEL).is_not_null()) \
                if frame.height else frame
            v = VersionComparison(
                route=str(route), model_name=str(model_name), model_version=int(model_version),
                shadow=bool(shadow), role=role, requests=n,
                share=0.0 if shadow or not answered else n / answered,
                latency=LatencySummary(**{f"p{p}_ms": lat.quantile(p / 100) for p in (50, 95, 99)})
                if lat is not None and lat.n else LatencySummary(),
                latency_mean_ms=lat.total / lat.n if lat is not None and lat.n else None,
                agreement=a.get("same"), compared=int(a.get("compared", 0)),
                mean_abs_difference=a.get("diff") if numerical else None,
                predictions=_distribution(kind, bins, slots.get(code, {})),
                quantiles=quantiles.get(code, {}),
                drift=g.drift if g is not None else None,
                n_labeled=labeled.height,
                performance=dict(g.performance) if g is not None and g.performance
                else _performance(labeled, task))
            if code != champ and champ is not None and task is not None:
                v.versus_champion = self._versus(code, champ, bool(shadow), frame, pairs, task)
            out.versions.append(v)
        order = {"champion": 0, "challenger": 1, "canary": 2, "shadow": 3}
        out.versions.sort(key=lambda v: (order[v.role], -v.requests, v.route, v.model_version))
        out.champion = next((f"{v.route}: {v.ref}" for v in out.versions
                             if v.role == "champion"), None)
        out.findings += findings
        if task is not None and not any(v.n_labeled for v in out.versions):
            out.findings.append(Finding(kind="no_labels", severity="info", message=(
                "No labelled requests in the window: send ground truth with "
                "yard.feedback(prediction_id, label) (or POST /feedback on the model server) "
                "to compare realised performance.")))
        return out

    def _model_name(self, g: Any) -> Any:
        for key in self.codes:  # GroupResult has no model name: the route and version say it
            if key[0] == g.route and str(key[2]) == g.model_version and bool(key[3]) == g.shadow:
                return key[1]
        return None

    def _task(self, frame: pl.DataFrame, champ: int | None) -> str | None:
        if not frame.height:
            return None
        preds = frame.filter(pl.col(_K) == champ)["pred"] if champ is not None else frame["pred"]
        preds = preds.drop_nulls()
        if preds.len() == 0:
            return None
        return "regression" if is_regression(preds) else "classification"

    def _versus(self, code: int, champ: int, shadow: bool, frame: pl.DataFrame,
                pairs: pl.DataFrame, task: str) -> PairedDifference:
        c = self.confidence
        if shadow:
            lab = pairs.filter((pl.col(_K) == code) & pl.col(_LABEL).is_not_null()) \
                if pairs.height else pairs
            if task == "regression":
                lab = lab.filter(pl.col(_LABEL_NUM).is_not_null()) if lab.height else lab
                return paired_error(*_abs_errors(lab, "pred"), confidence=c) if lab.height \
                    else paired_error(np.zeros(0), np.zeros(0), confidence=c)
            if not lab.height:
                return paired_accuracy(np.zeros(0, bool), np.zeros(0, bool), confidence=c)
            return paired_accuracy(_right(lab, "pred"), _right(lab, "theirs"), confidence=c)
        mine = frame.filter((pl.col(_K) == code) & pl.col(_LABEL).is_not_null())
        theirs = frame.filter((pl.col(_K) == champ) & pl.col(_LABEL).is_not_null())
        if task == "regression":
            mine = mine.filter(pl.col(_LABEL_NUM).is_not_null())
            theirs = theirs.filter(pl.col(_LABEL_NUM).is_not_null())
            return unpaired_error(_abs_errors(mine, "pred")[0], _abs_errors(theirs, "pred")[0],
                                  confidence=c)
        return unpaired_accuracy(_right(mine, "pred"), _right(theirs, "pred"), confidence=c)


def _right(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Whether each row's prediction in ``column`` is its label (compared as class text)."""
    if not frame.height:
        return np.zeros(0, bool)
    return (class_labels(frame.get_column(column)) == frame.get_column(_LABEL)) \
        .fill_null(False).to_numpy()


def _abs_errors(frame: pl.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """|prediction - label| of ``column`` and (when paired) of the champion's ``theirs``."""
    label = frame.get_column(_LABEL_NUM).to_numpy()
    mine = np.abs(frame.get_column(column).cast(pl.Float64).to_numpy() - label)
    theirs = np.abs(frame.get_column("theirs").cast(pl.Float64).to_numpy() - label) \
        if "theirs" in frame.columns else np.zeros(0)
    return mine, theirs


def _performance(labeled: pl.DataFrame, task: str | None) -> dict[str, float]:
    """Accuracy (or MAE and RMSE) on labelled rows, when no monitor figures were computed."""
    if task is None or not labeled.height:
        return {}
    if task == "regression":
        labeled = labeled.filter(pl.col(_LABEL_NUM).is_not_null())
        if not labeled.height:
            return {}
        err, _ = _abs_errors(labeled, "pred")
        return {"mae": float(err.mean()), "rmse": float(np.sqrt((err ** 2).mean()))}
    return {"accuracy": float(_right(labeled, "pred").mean())}


def _distribution(kind: str, bins: list[Any], counted: dict[Any, int]) -> Distribution:
    if kind == "categorical":
        return Distribution(kind=kind, labels=bins, counts=[counted.get(b, 0) for b in bins])
    if kind == "numerical":
        return Distribution(kind=kind, edges=bins,
                            counts=[counted.get(i, 0) for i in range(len(bins) - 1)])
    return Distribution(kind="none")


def compare_window(window: Any, endpoint: str, start: datetime, end: datetime, *,
                   labels: pl.DataFrame | None = None,
                   resolver: Callable[[list[str], list[str]], ReferenceResolver] | None = None,
                   features: Iterable[str] | None = None, champion: str | None = None,
                   confidence: float = 0.95, max_rows: int = MAX_ROWS,
                   batch_size: int = 65_536) -> Comparison:
    """Compare the model versions in ``window`` (a
    :class:`~modelyard.predictions.window.Window`: its ``columns`` and ``batches``), read once.
    ``resolver(inputs, outputs)`` builds the drift references (None: no drift, and only the
    columns the pairing needs are read); ``labels``: the window's ground truth
    (:func:`~.evaluation.labels_frame`)."""
    columns = window.columns
    inputs = list(features) if features is not None else [
        c[len(INPUT):] for c in columns if c.startswith(INPUT)]
    outputs = [c for c in columns if c.startswith(OUTPUT)]
    evaluation = None
    read = ["time", "id", "request_id", *KEYS, "latency_ms", PREDICTION]
    if resolver is not None:
        evaluation = WindowEvaluation(resolver(inputs, outputs), inputs=inputs, outputs=outputs,
                                      labels=labels, segment_by=None)
        read += [f"{INPUT}{f}" for f in inputs] + outputs
    builder = ComparisonBuilder(labels=labels, evaluation=evaluation, champion=champion,
                                confidence=confidence, max_rows=max_rows)
    for batch in window.batches(columns=[c for c in dict.fromkeys(read) if c in columns],
                                batch_size=batch_size):
        builder.update(batch)
    return builder.result(endpoint, start, end)
