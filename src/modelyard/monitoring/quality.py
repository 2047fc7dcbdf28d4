"""Data quality of a current sample against its reference, from the same column summaries
drift uses: missing rate, values out of the reference range, values that are not of the
reference's type, new categories, constant columns, columns missing or added.

Each check gives a figure (kept in ``FeatureDrift.quality`` and stored with the monitor
results, so alerts can watch it) and, past a threshold, a :class:`Finding`.
"""

from __future__ import annotations

from .columns import CategoricalSummary, ColumnSummary, NumericSummary
from .entities import Finding

__all__ = [
    "MISSING_RATE_RISE",
    "OUT_OF_RANGE_SHARE",
    "column_quality",
    "extra_feature",
    "missing_feature",
]

MISSING_RATE_RISE = 0.05
"""A finding when the missing rate rises by more than this (absolute) over the reference."""
OUT_OF_RANGE_SHARE = 0.01
"""A finding when more than this share of current values lies outside the reference range."""


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def column_quality(
    feature: str, ref: ColumnSummary, cur: ColumnSummary
) -> tuple[dict[str, float], list[Finding]]:
    """Quality figures and findings for one column present on both sides."""
    q: dict[str, float] = {
        "missing_rate_reference": _rate(ref.missing, ref.total),
        "missing_rate": _rate(cur.missing, cur.total),
    }
    out: list[Finding] = []
    if cur.total == 0:
        return q, out
    if cur.n == 0:
        out.append(Finding(kind="no_values", feature=feature, severity="error", value=1.0,
                           message=f"{feature!r} has no values in the current data (all "
                                   f"{cur.total} missing)."))
    elif q["missing_rate"] > q["missing_rate_reference"] + MISSING_RATE_RISE:
        out.append(Finding(
            kind="missing_rate", feature=feature, value=q["missing_rate"],
            message=f"{feature!r} is missing in {q['missing_rate']:.1%} of current rows "
                    f"against {q['missing_rate_reference']:.1%} in the reference.",
        ))
    if ref.n == 0:
        out.append(Finding(kind="no_values", feature=feature, severity="error", value=1.0,
                           message=f"{feature!r} has no values in the reference: no drift "
                                   "test is possible."))
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        if cur.unreadable:
            q["unreadable"] = float(cur.unreadable)
            out.append(Finding(
                kind="type_mismatch", feature=feature, severity="error",
                value=float(cur.unreadable),
                message=f"{feature!r} is numerical in the reference but {cur.unreadable} "
                        "current values are not numbers.",
            ))
        if ref.n and cur.n:
            outside = cur.outside(ref.min, ref.max)
            q["out_of_range_share"] = _rate(outside, cur.n)
            if q["out_of_range_share"] > OUT_OF_RANGE_SHARE:
                out.append(Finding(
                    kind="out_of_range", feature=feature, value=q["out_of_range_share"],
                    message=f"{q['out_of_range_share']:.1%} of current {feature!r} values lie "
                            f"outside the reference range [{ref.min:.6g}, {ref.max:.6g}].",
                ))
            if cur.n > 1 and cur.min == cur.max and ref.min != ref.max:
                out.append(Finding(kind="constant", feature=feature, severity="warning",
                                   message=f"{feature!r} is constant ({cur.min:.6g}) in the "
                                           "current data."))
        if ref.n > 1 and ref.min == ref.max:
            out.append(Finding(kind="constant", feature=feature, severity="info",
                               message=f"{feature!r} is constant ({ref.min:.6g}) in the "
                                       "reference; distances are normalised by 0.001."))
    elif isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
        unseen = {k: v for k, v in cur.counts.items() if k not in ref.counts}
        n_unseen = sum(unseen.values())
        q["unseen_share"] = _rate(n_unseen, cur.n)
        if unseen:
            top = sorted(unseen, key=lambda k: -unseen[k])[:5]
            out.append(Finding(
                kind="new_categories", feature=feature, value=float(len(unseen)),
                message=f"{feature!r} has {len(unseen)} categories not seen in the reference "
                        f"({n_unseen} rows), e.g. {', '.join(repr(k) for k in top)}.",
            ))
        if cur.n > 1 and cur.n_unique == 1 and ref.n_unique > 1:
            out.append(Finding(kind="constant", feature=feature,
                               message=f"{feature!r} has a single category in the current "
                                       "data."))
        if ref.n > 1 and ref.n_unique == 1:
            out.append(Finding(kind="constant", feature=feature, severity="info",
                               message=f"{feature!r} has a single category in the reference."))
    return q, out


def missing_feature(feature: str, *, side: str = "current") -> Finding:
    return Finding(kind="missing_feature", feature=feature, severity="error",
                   message=f"{feature!r} is in the reference but missing from the {side} data."
                   if side == "current" else
                   f"{feature!r} was asked for but is not in the reference data.")


def extra_feature(feature: str) -> Finding:
    return Finding(kind="extra_feature", feature=feature, severity="info",
                   message=f"{feature!r} is in the current data but not in the reference; "
                           "it is not compared.")
