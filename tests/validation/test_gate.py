"""Protected aliases move only to a version whose latest report passed, or with a recorded
override; bad suites are refused when declared; a check that raises fails the report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import modelyard as my
from modelyard.errors import InvalidParameter, NotFound, ValidationRequired

PASSING = textwrap.dedent('''
    holdout: {dataset: cancer, start: "2025-08-01", end: "2026-01-01"}
    label: target
    against: production
    checks:
      - {type: metric, metric: accuracy, min: 0.9}
      - {type: champion, metric: accuracy, max_regression: 0.05}
''')


def test_a_protected_alias_needs_a_passing_report_or_a_recorded_override(
        cancer: my.Yard, trainer: str) -> None:
    from modelyard.automation.retrain import run_training

    yard = cancer
    yard.validation.set_suite("cancer", yaml=PASSING)
    yard.validation.protect("cancer", "production")
    with pytest.raises(ValidationRequired, match="cancer/2 has none"):
        yard.models.set_alias("cancer", "production", 2)
    assert yard.validation.run("cancer/2").status == "passed"
    yard.models.set_alias("cancer", "production", 2, reason="passed its suite")
    assert yard.models.get("cancer@production").version == 2

    train = yard.datasets.view("cancer", window_start="2025-01-01", window_end="2025-08-01")
    bad = run_training(yard, trainer, model_name="cancer", data={"train": train},
                       params={"kind": "constant"})
    report = yard.validation.run(bad.ref)
    assert report.status == "failed"
    assert {c.name for c in report.failures} == {"metric:accuracy", "champion:accuracy"}
    with pytest.raises(ValidationRequired, match=f"latest report of cancer/3 \\({report.id}\\) "
                       "failed: metric:accuracy, champion:accuracy"):
        yard.models.set_alias("cancer", "production", 3)
    with pytest.raises(InvalidParameter, match="must give a reason"):
        yard.models.set_alias("cancer", "production", 3, override=True)
    assert yard.models.get("cancer@production").version == 2  # nothing moved
    yard.models.set_alias("cancer", "production", 3, override=True, reason="incident 12")
    [override] = yard.validation.overrides("cancer")
    assert (override.alias, override.version, override.report_id, override.reason) == (
        "production", 3, report.id, "incident 12")
    with pytest.raises(ValidationRequired, match="deleting it"):
        yard.models.delete_alias("cancer", "production")
    # unprotected aliases move freely; lifting the protection needs a reason and is recorded
    yard.models.set_alias("cancer", "staging", 3)
    yard.validation.unprotect("cancer", "production", reason="retiring the model")
    assert yard.validation.protected("cancer") == []
    assert yard.validation.overrides("cancer")[0].reason == "protection lifted: retiring the model"
    yard.models.set_alias("cancer", "production", 1)


@pytest.mark.parametrize(("text", "message"), [
    ("checks: [{type: metric, metric: acuracy, min: 0.5}]", "metric must be one of"),
    ("checks: [{type: metric, metric: accuracy, minimum: 0.5}]", "unknown key 'minimum'"),
    ("checks: [{type: smoke}]", "checks.0"),
    ("checks: [{type: champion, metric: f1, test: mcnemar}]", "compares accuracy only"),
    ("holdout: {dataset: cancer, last: 3 fortnights}\nlabel: y\nchecks: [{type: signature}]",
     "holdout.last must be a duration"),
    ("checks: [{type: metric, metric: accuracy, min: 0.5}]", "needs a holdout"),
    ("checks: [{type: custom, function: no_such_module_q:check}]",
     "function module 'no_such_module_q' cannot be imported"),
    ("checks: [{type: latency, p95_ms: 1}, {type: latency, p95_ms: 2}]", "must be unique"),
    ("- just\n- a list", "must be a mapping"),
    ("checks: [", "not valid YAML"),
])
def test_a_bad_suite_is_refused_when_declared(local_yard: my.Yard, text: str,
                                              message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        local_yard.validation.set_suite("cancer", yaml=text)
    with pytest.raises(NotFound, match="has no a validation suite|has no validation suite"):
        local_yard.validation.suite("cancer")


CHECKS_MODULE = textwrap.dedent('''
    from modelyard.validation import Suite, check

    suite = Suite(holdout={"dataset": "cancer", "start": "2025-08-01", "end": "2026-01-01"},
                  label="target")
    suite.metric("accuracy", min=0.5)

    @suite.check
    def positive_rate(ctx):
        rate = float((ctx.predict() == 1).mean())
        return ctx.result(0.2 < rate < 0.9, value=rate, message=f"{rate:.0%} positive")

    @check
    def explodes(ctx):
        raise RuntimeError("the check itself is broken")
''')


def test_a_python_suite_runs_its_decorated_checks_and_a_raising_one_fails_the_report(
        cancer: my.Yard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    folder = tmp_path / "checks"
    folder.mkdir()
    name = f"cancer_checks_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(CHECKS_MODULE)
    monkeypatch.syspath_prepend(str(folder))  # taken off sys.path again after the test
    yard = cancer
    stored = yard.validation.set_suite("cancer", module=name, code_path=folder)
    assert stored.format == "python" and "def positive_rate" in stored.source
    report = yard.validation.run("cancer/2")
    by_name = {c.name: c for c in report.checks}
    assert by_name["metric:accuracy"].status == "passed"
    assert by_name["positive_rate"].status == "passed"
    assert by_name["positive_rate"].message.endswith("positive")
    broken = by_name["explodes"]
    assert broken.status == "error" and "RuntimeError: the check itself is broken" in \
        broken.message and "Traceback" in broken.details["traceback"]
    assert report.status == "failed" and [c.name for c in report.failures] == ["explodes"]
    assert yard.validation.suite("cancer").version == 1
    # the module changes: the next run imports it again, stores and names the new text
    (folder / f"{name}.py").write_text(CHECKS_MODULE.replace(
        "    raise RuntimeError(\"the check itself is broken\")", "    return True"))
    again = yard.validation.run("cancer/2")
    assert again.status == "passed" and again.suite_version == 2
    assert [s.version for s in yard.validation.suite_versions("cancer")] == [1, 2]
