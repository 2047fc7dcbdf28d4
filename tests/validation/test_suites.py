"""Suites: every built-in check, per-slice metrics, the stored immutable report."""

from __future__ import annotations

import textwrap

import modelyard as my

SUITE = textwrap.dedent('''
    holdout: {dataset: cancer, start: "2025-08-01", end: "2026-01-01"}
    label: target
    against: production
    checks:
      - {type: metric, metric: accuracy, min: 0.9}
      - {type: metric, metric: accuracy, name: by-band, min: 0.9, segment_by: size_band,
         min_rows: 20}
      - {type: champion, metric: accuracy, max_regression: 0.05, test: mcnemar}
      - {type: champion, name: auc-vs-champion, metric: roc_auc, max_regression: 0.05, n_boot: 200}
      - {type: invariance, feature: size_band, set: "xl"}
      - {type: directional, feature: worst_concave_points, delta: 0.5, direction: down,
         max_violation_share: 0.2}
      - {type: latency, p95_ms: 10000, repeats: 10}
      - {type: signature}
      - {type: data, columns: [mean_radius, target], max_null_rate: 0.0,
         ranges: {mean_radius: [0, 20]}}
''')


def test_a_suite_runs_every_check_and_stores_the_report(cancer: my.Yard) -> None:
    yard = cancer
    stored = yard.validation.set_suite("cancer", yaml=SUITE)
    assert (stored.version, stored.format) == (1, "yaml")
    report = yard.validation.run("cancer/2")
    by_name = {c.name: c for c in report.checks}
    assert report.against == "cancer/1" and report.id and report.created_at is not None
    assert by_name["metric:accuracy"].status == "passed"
    assert by_name["metric:accuracy"].value > 0.9 and by_name["metric:accuracy"].n_rows == 145
    # per slice: the small band is reported as insufficient, never passed
    slices = {c.slice: c for c in report.checks if c.slice is not None}
    assert set(slices) == {"size_band=s", "size_band=m", "size_band=l", "size_band=xl"}
    assert slices["size_band=xl"].status == "insufficient_data"
    assert slices["size_band=xl"].name == "by-band[size_band=xl]"
    assert slices["size_band=m"].status == "passed" and slices["size_band=m"].n_rows >= 20
    champion = by_name["champion:accuracy"]
    assert champion.details["test"] == "mcnemar" and champion.ci and len(champion.ci) == 2
    assert champion.ci[0] <= champion.value <= champion.ci[1]
    assert by_name["auc-vs-champion"].details["method"] == "recompute"
    assert by_name["invariance:size_band"].status == "passed"
    assert by_name["invariance:size_band"].value == 0.0
    assert by_name["directional:worst_concave_points"].value < 0
    assert by_name["latency"].status == "passed" and by_name["latency"].value > 0
    assert by_name["signature"].status == "passed"
    data = by_name["data"]
    assert data.status == "failed" and "mean_radius' goes up to" in data.message  # max 28.1
    assert report.status == "failed" and [c.name for c in report.failures] == ["data"]
    assert report.data["holdout"]["dataset"] == "cancer"
    assert report.data["holdout"]["digest"] == yard.datasets.get("cancer").digest
    assert report.data["holdout"]["window_start"].startswith("2025-08-01")
    assert report.data["train"]["train"]["window_end"].startswith("2025-08-01")
    assert report.suite_version == 1 and report.suite_digest == stored.digest
    again = yard.validation.report(report.id)
    assert again == report
    assert [r.id for r in yard.validation.reports("cancer", 2)] == [report.id]
    assert yard.validation.latest_report("cancer/2").id == report.id
