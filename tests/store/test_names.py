"""One name rule for every store: ``re.fullmatch`` (no trailing newline), no path tricks, one
length limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import modelyard as my
from modelyard.automation.entities import check_policy_name
from modelyard.errors import InvalidParameter
from modelyard.serving.endpoints import parse_endpoints
from modelyard.store.names import NAME_MAX, check_name

BAD = ["name\n", "../x", "x" * (NAME_MAX + 1), "a/b", "", " x", "x\x00"]
GOOD = ["x" * NAME_MAX, "loans", "loans.v2-final_3"]

# store -> a call that creates a named thing
STORES: dict[str, Callable[[my.Yard, str], Any]] = {
    "model": lambda y, n: y.backend.registry.create_registered_model(name=n),
    "dataset": lambda y, n: y.datasets.add(n, pd.DataFrame({"x": [1]})),
    "token": lambda y, n: y.backend.auth.create(n, "reader"),
    "monitor": lambda y, n: y.backend.monitoring.set_monitor(endpoint=n),
    "endpoint": lambda y, n: parse_endpoints([{"name": n, "routes": [{"model": "m/1"}]}]),
    "policy": lambda y, n: check_policy_name(n),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("store", sorted(STORES))
def test_every_store_refuses_the_same_bad_names(local_yard: my.Yard, store: str,
                                                bad: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        STORES[store](local_yard, bad)
    assert f"1-{NAME_MAX} letters" in info.value.message


@pytest.mark.parametrize("store", sorted(STORES))
def test_every_store_takes_the_same_good_names(local_yard: my.Yard, store: str) -> None:
    for good in GOOD:
        STORES[store](local_yard, good)


def test_references_and_aliases_follow_the_rule(local_yard: my.Yard) -> None:
    registry = local_yard.backend.registry
    for ref in ("loans\n", "loans/1\n", "loans@prod\n", "../x/1", "x" * (NAME_MAX + 1)):
        with pytest.raises(InvalidParameter):
            registry.resolve(ref=ref)
    registry.create_registered_model(name="loans")
    with pytest.raises(InvalidParameter, match="alias must be"):
        registry.set_alias(name="loans", alias="prod\n", version=1)


def test_labels_refuse_control_characters(local_yard: my.Yard) -> None:
    with pytest.raises(InvalidParameter, match="experiment name") as info:
        local_yard.backend.tracking.create_experiment(name="exp\n")
    assert info.value.field == "experiment"
    with pytest.raises(InvalidParameter, match="run name"):
        local_yard.backend.tracking.create_run(experiment="e", name="run\r\n")
    with pytest.raises(InvalidParameter, match="alert rule name"):
        local_yard.backend.monitoring.set_alert_rule(name="drift\n", metric="drift_share",
                                                     threshold=0.5)
    assert local_yard.backend.tracking.create_experiment(name="my experiment / 2").name


def test_the_error_names_the_field() -> None:
    with pytest.raises(InvalidParameter) as info:
        check_name("x\n", field="endpoint")
    assert info.value.field == "endpoint" and "'x\\n'" in info.value.message


def test_digests_and_relative_paths_refuse_a_trailing_newline() -> None:
    from modelyard.artifacts.store import check_digest, check_relative_path

    with pytest.raises(InvalidParameter):
        check_digest("a" * 64 + "\n")
    with pytest.raises(InvalidParameter):
        check_relative_path("model/state.json\n")
    assert check_digest("a" * 64) and check_relative_path("model/state.json")
