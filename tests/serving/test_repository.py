from __future__ import annotations

import pytest

import modelyard as my
from modelyard.errors import NotFound
from modelyard.serving.repository import ServingRepository


def test_endpoints_are_saved_with_revisions(yard: my.Yard) -> None:
    repo = ServingRepository(yard.backend.db, yard.clock)
    first = repo.save_endpoint("loans", {"name": "loans", "routes": [{"model": "loans/1"}]}, "api")
    second = repo.save_endpoint("loans", {"name": "loans", "routes": [{"model": "loans/2"}]}, "api")
    assert (first.revision, second.revision) == (1, 2)
    repo.set_served("loans", {"main": "loans/2"})
    (stored,) = repo.list_endpoints("api")
    assert stored.spec["routes"][0]["model"] == "loans/2" and stored.served == {"main": "loans/2"}
    assert repo.list_endpoints("config") == []
    repo.delete_endpoint("loans")
    with pytest.raises(NotFound, match="No endpoint named 'loans'"):
        repo.get_endpoint("loans")


def test_each_canary_step_is_recorded_once(yard: my.Yard) -> None:
    repo = ServingRepository(yard.backend.db, yard.clock)
    c = repo.start_canary("loans", "canary", "loans/9", {"model": "loans/9", "steps": [10, 50]},
                          10.0, canary_id="c1")
    assert repo.start_canary("loans", "canary", "loans/9", {}, 10.0, canary_id="c1").id == c.id
    # two workers decide the same step: exactly one wins the compare-and-set
    assert repo.advance("c1", 0, 1, 50.0, "step", "held", {"canary": {"requests": 30}})
    assert not repo.advance("c1", 0, 1, 50.0, "step", "held", {})
    assert repo.advance("c1", 1, 1, 0.0, "rollback", "errors", {})
    assert not repo.advance("c1", 1, 1, 100.0, "promote", "late", {})
    got = repo.get_canary("c1")
    assert got.status == "rolled_back" and got.weight == 0.0
    assert [(s.action, s.step, s.weight) for s in got.steps] == [
        ("start", 0, 10.0), ("step", 1, 50.0), ("rollback", 1, 0.0)]
    assert got.steps[1].stats == {"canary": {"requests": 30}}
    assert repo.latest_canaries(["loans", "other"])["loans"].id == "c1"
