"""The endpoint pages' data from the real serving tables: routes with their weights and the
share a running canary takes, shadows, what each route serves, canary decisions, endpoints
seen only in the log, and where a model version is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard as my
from modelyard.config import Settings
from modelyard.errors import NotFound
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.repository import ServingRepository
from modelyard.ui.data import endpoint_state, endpoint_states, serving


@pytest.fixture
def repo(db_url: str, tmp_path: Path) -> Iterator[ServingRepository]:
    yard = my.connect(db_url, settings=Settings.load({}, home=tmp_path / "home"))
    yield ServingRepository(yard.backend.db, yard.clock)
    yard.close()


def _save(repo: ServingRepository, spec: dict[str, object], served: dict[str, str]) -> None:
    (cfg,) = parse_endpoints([spec])
    repo.save_endpoint(cfg.name, cfg.model_dump(mode="json"), "config")
    repo.set_served(cfg.name, served)


def test_routes_shares_shadows_and_a_running_canary(repo: ServingRepository) -> None:
    _save(repo, {"name": "loans",
                 "routes": [{"name": "a", "model": "loans@production", "weight": 3},
                            {"name": "b", "model": "loans/7", "weight": 1}],
                 "shadows": [{"name": "s", "model": "loans/8"}]},
          {"a": "loans/6", "b": "loans/7", "s": "loans/8", "canary": "loans/9"})
    _save(repo, {"name": "other", "routes": [{"model": "other/1"}]}, {})
    canary = repo.start_canary("loans", "canary", "loans/9", {"steps": [20, 50]}, 20.0)
    repo.advance(canary.id, 0, 1, 50.0, "step", "held 20% for 300 s", {"canary": {"requests": 9}})
    states = endpoint_states(repo, log_endpoints=["logged-only", "loans"])
    assert [s.name for s in states] == ["loans", "logged-only", "other"]
    assert states[1].source == "log" and states[1].routes == []
    loans = states[0]
    shares = {r.name: (r.kind, r.share, r.served) for r in loans.routes}
    assert shares == {"a": ("route", 37.5, "loans/6"), "b": ("route", 12.5, "loans/7"),
                      "canary": ("canary", 50.0, "loans/9"), "s": ("shadow", None, "loans/8")}
    detail = endpoint_state(repo, "loans")
    assert detail.canary is not None and [s.action for s in detail.canary.steps] == ["start", "step"]
    assert detail.canary.steps[1].reason == "held 20% for 300 s"
    assert [c.id for c in detail.canaries] == [canary.id]
    assert [(ep, r.name) for ep, r in serving(states, "loans", 7)] == [("loans", "b")]
    assert {r.name for _, r in serving(states, "loans")} == {"a", "b", "canary", "s"}
    with pytest.raises(NotFound):
        endpoint_state(repo, "nope")
    assert endpoint_state(repo, "logged-only", ["logged-only"]).source == "log"


def test_an_ended_canary_takes_no_traffic(repo: ServingRepository) -> None:
    _save(repo, {"name": "e", "routes": [{"model": "e/1"}]}, {"main": "e/1"})
    c = repo.start_canary("e", "canary", "e/2", {"steps": [10]}, 10.0)
    repo.advance(c.id, 0, 0, 0.0, "rollback", "error rate", {})
    (state,) = endpoint_states(repo)
    assert [(r.name, r.share) for r in state.routes] == [("main", 100.0)]
    assert state.canary is not None and state.canary.status == "rolled_back"
