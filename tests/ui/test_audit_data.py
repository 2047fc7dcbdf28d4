"""The data behind the audit and validation pages, on SQLite and PostgreSQL: audit records paged
newest first (``before_seq``) with filters, verifications reused while the head of the chain
and the checkpoints are unchanged (and always recomputed when asked), validation reports of
every model paged, and the page a record's target links to."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

import modelyard as my
from modelyard.errors import InvalidParameter
from modelyard.ui.pages.audit import Verifier
from modelyard.ui.render import url_target
from modelyard.validation.entities import CheckResult, ValidationReport


def _changes(yard: my.Yard, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        yard.datasets.add(f"d{i % 3}", pd.DataFrame({"x": [i, i + 1]}))


def test_records_page_back_newest_first_with_filters(yard: my.Yard) -> None:
    _changes(yard, 7)
    audit = yard.backend.audit
    head = audit.head().seq
    first = audit.records(newest_first=True, limit=3)
    assert [r.seq for r in first] == [head, head - 1, head - 2]
    second = audit.records(newest_first=True, limit=3, before_seq=first[-1].seq)
    assert [r.seq for r in second] == [head - 3, head - 4, head - 5]
    d0 = audit.records(target="dataset:d0*", newest_first=True, limit=2)
    older = audit.records(target="dataset:d0*", newest_first=True, limit=2,
                          before_seq=d0[-1].seq)
    assert [r.target for r in d0 + older] == ["dataset:d0/3", "dataset:d0/2", "dataset:d0/1"]
    assert audit.records(action="dataset.add", before_seq=1) == []


def test_a_verification_is_reused_until_the_log_changes(yard: my.Yard, fixed_clock: object) -> None:
    _changes(yard, 3)
    verifier = Verifier(yard.backend.audit, fixed_clock, max_age=timedelta(minutes=10))  # type: ignore[arg-type]
    assert verifier.cached() is None
    first = verifier.current()
    assert first.result.ok and first.result.records == yard.backend.audit.head().seq
    assert verifier.current() is first and verifier.cached() is first
    _changes(yard, 1, first=3)  # the head moved: verified again
    second = verifier.current()
    assert second is not first and second.result.records == first.result.records + 1
    yard.backend.audit.checkpoint()  # a new checkpoint: verified again
    third = verifier.current()
    assert third is not second and third.result.checkpoints == 1
    # an edit that leaves the head as it was is found when asked to verify again
    with yard.backend.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    assert verifier.current() is third
    fresh = verifier.current(fresh=True)
    assert not fresh.result.ok and fresh.result.first_broken == 2
    fixed_clock.advance(11 * 60)  # type: ignore[attr-defined]
    assert verifier.cached() is None  # too old to be shown as the status now


def test_reports_of_every_model_page_newest_first(yard: my.Yard) -> None:
    from sklearn.dummy import DummyClassifier

    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    for name in ("a", "b"):
        yard.models.register(DummyClassifier().fit(X, [0, 1, 0, 1]), name, example=X)
    made = []
    for i in range(5):
        made.append(yard.backend.validation.add_report(report=ValidationReport(
            model="ab"[i % 2], version=1, status="passed",
            checks=[CheckResult(name="c", type="custom", status="passed")])).id)
    newest_first = made[::-1]
    assert [r.id for r in yard.validation.reports(limit=3)] == newest_first[:3]
    assert [r.id for r in yard.validation.reports(limit=3, offset=3)] == newest_first[3:]
    assert [r.model for r in yard.validation.reports("a")] == ["a", "a", "a"]
    with pytest.raises(InvalidParameter, match="offset must be 0 or more"):
        yard.validation.reports(offset=-2)


@pytest.mark.parametrize(("target", "page"), [
    ("model:loans/3", "/ui/models/loans/3"),
    ("model:loans", "/ui/models/loans"),
    ("alias:loans@production", "/ui/models/loans"),
    ("suite:loans/2", "/ui/models/loans"),
    ("run:01abc", "/ui/runs/01abc"),
    ("experiment:a b", "/ui/runs?experiment=a+b"),
    ("dataset:loans/2", "/ui/datasets/loans?version=2"),
    ("dataset:loans#<col>", "/ui/datasets/loans"),
    ("endpoint:scoring", "/ui/endpoints/scoring"),
    ("monitor:scoring", "/ui/endpoints/scoring"),
    ("policy:nightly", "/ui/automation/policies/nightly"),
    ("token:ci", None),
    ("feedback:*", None),
    ("nonsense", None),
])
def test_a_records_target_links_to_its_page(target: str, page: str | None) -> None:
    assert url_target(target) == page
