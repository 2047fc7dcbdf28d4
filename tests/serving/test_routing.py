from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter
from modelyard.serving.endpoints import (
    bucket,
    effective_weights,
    endpoint_from_ref,
    load_endpoints,
    parse_endpoints,
    pick,
)

from .conftest import ServerFactory, iris_rows


def test_yaml_endpoints_parse(tmp_path: Any) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text(
        "endpoints:\n"
        "  - name: loans\n"
        "    sticky: true\n"
        "    routes:\n"
        "      - {name: main, model: loans@production, weight: 90}\n"
        "      - {name: challenger, model: loans/7, weight: 10}\n"
        "    shadows:\n"
        "      - {name: next, model: loans/8}\n"
        "    canary: {model: loans/9, steps: [5, 50], interval_s: 60}\n"
    )
    (ep,) = load_endpoints(path)
    assert ep.sticky and [r.weight for r in ep.routes] == [90, 10]
    assert ep.shadows[0].model == "loans/8" and ep.canary is not None
    assert ep.canary.steps == [5, 50]


def test_bad_configurations_name_the_problem() -> None:
    with pytest.raises(InvalidParameter, match="at least one route"):
        parse_endpoints([{"name": "a", "routes": []}])
    with pytest.raises(InvalidParameter, match="unique"):
        parse_endpoints([{"name": "a", "routes": [{"name": "x", "model": "m/1"},
                                                  {"name": "x", "model": "m/2"}]}])
    with pytest.raises(InvalidParameter, match="increasing percentages"):
        parse_endpoints([{"name": "a", "routes": [{"model": "m/1"}],
                          "canary": {"model": "m/2", "steps": [50, 10]}}])
    with pytest.raises(InvalidParameter, match="endpoint name"):
        endpoint_from_ref("../x=m/1")


def test_model_ref_gives_an_endpoint_named_after_the_model() -> None:
    assert endpoint_from_ref("loans@production").name == "loans"
    ep = endpoint_from_ref("scoring=loans/3")
    assert ep.name == "scoring" and ep.routes[0].model == "loans/3"


def test_sticky_buckets_are_stable_and_weighted_picks_follow_weights() -> None:
    assert bucket("customer-1") == bucket("customer-1")
    assert bucket("customer-1") != bucket("customer-2")
    rng = random.Random(1)
    counts = Counter(pick([70.0, 100.0], None, rng) for _ in range(10_000))
    assert 6700 < counts[0] < 7300
    assert {pick([50.0, 100.0], "k", rng) for _ in range(20)} == {pick([50.0, 100.0], "k", rng)}


def test_canary_weight_scales_the_other_routes() -> None:
    assert effective_weights([90.0, 10.0, 0.0], 2, 20.0) == pytest.approx([72.0, 8.0, 20.0])
    assert effective_weights([1.0], None, 0.0) == [1.0]


def test_weighted_routes_split_traffic(model_server: ServerFactory, iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"name": "a", "model": "iris/1", "weight": 70},
                                     {"name": "b", "model": "iris/2", "weight": 30}]}
    row = iris_rows(iris, 1)
    with model_server(ep) as url, httpx.Client() as client:
        models = Counter(client.post(f"{url}/predict/iris", json={"records": row}).json()["model"]
                         for _ in range(300))
    assert set(models) == {"iris/1", "iris/2"}
    assert 50 < models["iris/2"] < 130


def test_sticky_routing_sends_a_key_to_one_route(model_server: ServerFactory, iris: Any) -> None:
    ep = {"name": "iris", "sticky": True,
          "routes": [{"name": "a", "model": "iris/1"}, {"name": "b", "model": "iris/2"}]}
    row = iris_rows(iris, 1)
    seen: dict[str, set[str]] = {}
    with model_server(ep) as url, httpx.Client() as client:
        for i in range(40):
            for _ in range(3):
                key = f"customer-{i}"
                r = client.post(f"{url}/predict/iris", json={"records": row},
                                headers={"x-request-key": key})
                seen.setdefault(key, set()).add(r.json()["route"])
    assert all(len(v) == 1 for v in seen.values())
    assert {next(iter(v)) for v in seen.values()} == {"a", "b"}


def test_shadow_predictions_are_logged_not_returned(model_server: ServerFactory, iris: Any,
                                                    serving_yard: my.Yard) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}],
          "shadows": [{"name": "tree", "model": "iris/2"}]}
    rows = iris_rows(iris, 2, start=70)
    with model_server(ep) as url:
        body = httpx.post(f"{url}/predict/iris", json={"records": rows}).json()
    assert body["model"] == "iris/1" and len(body["predictions"]) == 2
    now = serving_yard.clock.now()
    df = serving_yard.predictions.query("iris", now - timedelta(minutes=5), now)
    shadow = df.filter(df["shadow"])
    assert shadow.height == 2 and set(shadow["model_version"].to_list()) == {2}
    assert shadow["route"].to_list() == ["tree", "tree"]
    assert set(df.filter(~df["shadow"])["id"].to_list()) == set(body["ids"])
    assert shadow["input.petal length (cm)"].to_list() == [r["petal length (cm)"] for r in rows]


@pytest.mark.parametrize(("yaml_text", "field", "hint"), [
    (("endpoints:\n  - name: loans\n    routes: [{model: loans/1}]\n"
     "    shadow: [{name: next, model: loans/2}]\n"), "shadow", "Did you mean 'shadows'?"),
    ("endpoints:\n  - name: loans\n    routes: [{model: loans/1, wieght: 90}]\n",
     "routes.0.wieght", "Did you mean 'weight'?"),
    (("endpoints:\n  - name: loans\n    routes: [{model: loans/1}]\n"
     "    canary: {model: loans/2, step: [5]}\n"), "canary.step", "Did you mean 'steps'?"),
    ("endpoint:\n  - name: loans\n", "endpoint", "Did you mean 'endpoints'?"),
])
def test_unknown_keys_in_the_yaml_are_errors(tmp_path: Any, yaml_text: str, field: str,
                                             hint: str) -> None:
    """They used to be dropped: a misspelt shadow never ran."""
    path = tmp_path / "endpoints.yaml"
    path.write_text(yaml_text)
    with pytest.raises(InvalidParameter) as info:
        load_endpoints(path)
    assert info.value.field == field and info.value.message.endswith(hint)
    if field != "endpoint":
        assert f"(endpoint 'loans') at {field}: unknown key" in info.value.message
