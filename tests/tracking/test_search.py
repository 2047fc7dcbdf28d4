"""The run filter language: parsing, error messages that point at the token, and the SQL it
builds on SQLite and PostgreSQL checked against a plain Python evaluation."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.errors import FilterSyntaxError, InvalidParameter, NotFound
from modelyard.tracking.entities import Metric, Run
from modelyard.tracking.search import And, Comparison, Not, Or, parse_filter, parse_order_by


# ---- parsing -------------------------------------------------------------------------------
def test_parse_builds_the_tree() -> None:
    node = parse_filter("metrics.auc > 0.9 and (params.max_depth = '6' or not tags.team IN ('a', \"b\"))")
    assert node == And((
        Comparison("metrics", "auc", ">", 0.9),
        Or((
            Comparison("params", "max_depth", "=", "6"),
            Not(Comparison("tags", "team", "IN", ("a", "b"))),
        )),
    ))


@pytest.mark.parametrize("text, expected", [
    ("metric.auc >= 1e-3", Comparison("metrics", "auc", ">=", 0.001)),
    ("params.depth = 6", Comparison("params", "depth", "=", "6")),  # a bare number, as text
    ("params.`my key` != 'x'", Comparison("params", "my key", "!=", "x")),
    ('tags."a b" LIKE \'x%\'', Comparison("tags", "a b", "LIKE", "x%")),
    ("tags.t NOT ILIKE '%X'", Comparison("tags", "t", "NOT ILIKE", "%X")),
    ("attributes.run_name = 'r'", Comparison("attributes", "name", "=", "r")),
    ("attr.status <> 'FAILED'", Comparison("attributes", "status", "!=", "FAILED")),
    ("metrics.train/loss < -2", Comparison("metrics", "train/loss", "<", -2.0)),
    ("tags.note IS NULL", Comparison("tags", "note", "IS NULL", None)),
    ("params.p IS NOT NULL", Comparison("params", "p", "IS NOT NULL", None)),
    ("params.p = 'it''s'", Comparison("params", "p", "=", "it's")),
    ("attributes.start_time > '2026-03-01'",
     Comparison("attributes", "start_time", ">", 1772323200000.0)),
    ("  ", None),
])
def test_parse_accepts(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (Comparison("metrics", k, ">", 1.0) for k in "abc")
    assert parse_filter("metrics.a > 1 or metrics.b > 1 and metrics.c > 1") == Or((a, And((b, c))))


@pytest.mark.parametrize("text, message", [
    ("metrics.auc > 0.9 and params.max_depth = = '6'",
     r"Unexpected token '=' at position 41 in filter .*; expected a value"),
    ("metrics.auc > 0.9 xx params.a = '1'",
     r"Unexpected token 'xx' at position 18 in filter .*; expected AND, OR or the end"),
    ("metrics.auc >", r"Unexpected end of filter at position 13 .*; expected a value"),
    ("auc > 0.9", r"Unexpected token 'auc' at position 0 .*; expected an identifier such as metrics"),
    ("foo.auc > 0.9", r"Unexpected token 'foo.auc' at position 0"),
    ("attributes.colour = 'red'", r"Unexpected token 'attributes.colour' .*expected one of attributes"),
    ("metrics.auc > 'high'", r"Unexpected token \"'high'\" at position 14 .*; expected a number"),
    ("metrics.auc LIKE 'a%'", r"Unexpected token 'LIKE' at position 12 .*an operator for a number"),
    ("params.p > 'a'", r"Unexpected token '>' at position 9 .*an operator for text"),
    ("params.p = 'open", r"Unterminated string starting at position 11"),
    ("(metrics.a > 1", r"Unexpected end of filter at position 14 .*expected '\)' or AND/OR"),
    ("metrics.a > 1 and", r"Unexpected end of filter at position 17 .*expected an identifier"),
    ("params.p IN 'a'", r"Unexpected token \"'a'\" at position 12 .*expected '\(' to start"),
    ("params.p IN ('a' 'b')", r"Unexpected token \"'b'\" at position 17 .*expected ',' or '\)'"),
    ("params.p ! 'a'", r"Unexpected character '!' at position 9"),
    ("params.p = 'a' ; drop table runs", r"Unexpected character ';' at position 15"),
    ("attributes.start_time > 'yesterday'", r"expected epoch milliseconds or an ISO-8601 time"),
    ("params.p IS 'x'", r"Unexpected token \"'x'\" at position 12 .*expected NULL"),
])
def test_bad_filters_point_at_the_token(text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message) as err:
        parse_filter(text)
    assert err.value.field == "filter"


def test_order_by_parses_and_points_at_bad_entries() -> None:
    keys = parse_order_by(["metrics.auc DESC", "attributes.start_time", "params.p asc"])
    assert [(k.entity, k.key, k.descending) for k in keys] == [
        ("metrics", "auc", True), ("attributes", "start_time", False), ("params", "p", False)]
    with pytest.raises(FilterSyntaxError, match=r"Unexpected token 'DOWN' at position 12 in "
                                                r"order_by 'metrics.auc DOWN'; expected ASC, DESC"):
        parse_order_by(["metrics.auc DOWN"])


# ---- searching -----------------------------------------------------------------------------
@pytest.fixture
def runs(tyard: my.Yard, clock: FixedClock) -> dict[str, Run]:
    """Four runs, one second apart: a..d."""
    store = tyard.backend.tracking
    specs = {
        "a": ({"auc": 0.95, "loss": 0.1}, {"max_depth": "6", "model": "xgb"}, {"team": "Risk"}),
        "b": ({"auc": 0.85}, {"max_depth": "3", "model": "lgbm"}, {"team": "risk-ops"}),
        "c": ({"auc": math.nan, "loss": 0.3}, {"max_depth": "6"}, {}),
        "d": ({}, {"model": "xgb_v2"}, {"team": "fraud"}),
    }
    out = {}
    for name, (metrics, params, tags) in specs.items():
        run = store.create_run("loans" if name != "d" else "fraud", name=name, params=params, tags=tags)
        store.log_metrics(run.id, [Metric(key=k, value=v) for k, v in metrics.items()])
        if name in "ab":
            store.end_run(run.id, status="FINISHED")
        out[name] = run
        clock.advance(1)
    return out


def _names(found: list[Run]) -> list[str | None]:
    return [r.name for r in found]


@pytest.mark.parametrize("text, expected", [
    ("", ["d", "c", "b", "a"]),
    ("metrics.auc > 0.9", ["a"]),
    ("metrics.auc > 0.9 and params.max_depth = '6'", ["a"]),
    ("metrics.auc < 0.9", ["b"]),  # c (NaN) and d (missing) fail every comparison …
    ("metrics.auc != 0.95", ["c", "b"]),  # … except != on NaN, as for floats
    ("not metrics.auc > 0.9", ["d", "c", "b"]),
    ("params.max_depth = 6", ["c", "a"]),
    ("params.model != 'xgb'", ["d", "b"]),  # c, without the param, is left out
    ("params.model LIKE 'xgb%'", ["d", "a"]),
    ("params.model LIKE 'xgb_'", []),
    ("params.model LIKE 'xgb\\_v_'", ["d"]),
    ("tags.team LIKE 'risk%'", ["b"]),  # LIKE is case-sensitive on both backends
    ("tags.team ILIKE 'risk%'", ["b", "a"]),
    ("tags.team NOT LIKE 'risk%'", ["d", "a"]),
    ("tags.team IN ('Risk', 'fraud')", ["d", "a"]),
    ("tags.team NOT IN ('Risk')", ["d", "b"]),
    ("tags.team IS NULL", ["c"]),
    ("metrics.loss IS NOT NULL", ["c", "a"]),
    ("attributes.status = 'FINISHED'", ["b", "a"]),
    ("attributes.status = 'finished'", ["b", "a"]),  # statuses compare case-insensitively
    ("attributes.status IN ('Running')", ["d", "c"]),
    ("attributes.status != 'running'", ["b", "a"]),
    ("attributes.status LIKE 'fin%'", ["b", "a"]),
    ("attributes.status IN ('RUNNING') and (metrics.loss >= 0.3 or params.model = 'xgb_v2')",
     ["d", "c"]),
    ("attributes.name LIKE '_'", ["d", "c", "b", "a"]),
    ("attributes.start_time >= '2026-03-01T00:00:02Z'", ["d", "c"]),
    ("attributes.end_time > 0", ["b", "a"]),
    ("attributes.end_time IS NULL", ["d", "c"]),
])
def test_search_filters(tyard: my.Yard, runs: dict[str, Run], text: str, expected: list[str]) -> None:
    assert _names(tyard.runs.search(text)) == expected


def test_an_unknown_status_lists_the_valid_ones(tyard: my.Yard, runs: dict[str, Run]) -> None:
    with pytest.raises(FilterSyntaxError,
                       match=r"Unexpected token \"'finshed'\" at position 20 .*expected a run "
                             r"status: one of RUNNING, FINISHED, FAILED, KILLED \(any case\)"):
        tyard.runs.search("attributes.status = 'finshed'")


def test_order_by_as_one_string_is_one_key(tyard: my.Yard, runs: dict[str, Run]) -> None:
    assert _names(tyard.runs.search(order_by="metrics.auc DESC")) == ["a", "b", "d", "c"]
    assert parse_order_by("metrics.auc DESC") == parse_order_by(["metrics.auc DESC"])


def test_search_by_run_id(tyard: my.Yard, runs: dict[str, Run]) -> None:
    a, c = runs["a"].id, runs["c"].id
    assert _names(tyard.runs.search(f"attributes.run_id IN ('{a}', '{c}')")) == ["c", "a"]


@pytest.mark.parametrize("order_by, expected", [
    (["metrics.auc DESC"], ["a", "b", "d", "c"]),  # NaN and missing last, newest first among them
    (["metrics.auc"], ["b", "a", "d", "c"]),
    (["params.model DESC", "attributes.start_time"], ["d", "a", "b", "c"]),
    (["attributes.name DESC"], ["d", "c", "b", "a"]),
    (["tags.team"], ["a", "d", "b", "c"]),
])
def test_search_order_by(tyard: my.Yard, runs: dict[str, Run], order_by: list[str],
                         expected: list[str]) -> None:
    assert _names(tyard.runs.search(order_by=order_by)) == expected


def test_search_limits_and_filters_by_experiment(tyard: my.Yard, runs: dict[str, Run]) -> None:
    assert _names(tyard.runs.search(max_results=2)) == ["d", "c"]
    assert _names(tyard.runs.search(experiment="fraud")) == ["d"]
    assert _names(tyard.runs.search(experiment=["fraud", "loans"], max_results=1)) == ["d"]
    with pytest.raises(NotFound, match="No experiment named 'lons'"):
        tyard.runs.search(experiment="lons")
    with pytest.raises(InvalidParameter, match="max_results must be an integer from 1 to 50000"):
        tyard.runs.search(max_results=0)


def test_search_returns_full_runs(tyard: my.Yard, runs: dict[str, Run]) -> None:
    (a,) = tyard.runs.search("attributes.name = 'a'")
    assert a == tyard.runs.get(runs["a"].id)
    assert a.metrics == {"auc": 0.95, "loss": 0.1} and a.tags == {"team": "Risk"}


def test_filter_values_are_bound_not_spliced(tyard: my.Yard, runs: dict[str, Run]) -> None:
    assert tyard.runs.search("params.model = 'x'' OR ''1''=''1'") == []
    assert len(tyard.runs.search()) == 4  # nothing was dropped either


# ---- property: the SQL agrees with Python on random filters ---------------------------------
_METRIC_VALUES = [-3.0, 0.0, 0.25, 0.5, 1.0, math.nan]
_TEXTS = ["a", "ab", "Ab", "b_c", "b%c", "xyz", ""]


@dataclass
class _Data:
    yard: my.Yard
    runs: list[Run]


@pytest.fixture
def random_runs(tyard: my.Yard, clock: FixedClock) -> _Data:
    import random

    rng = random.Random(7)
    store = tyard.backend.tracking
    out = []
    for i in range(24):
        metrics = {k: rng.choice(_METRIC_VALUES) for k in ("m0", "m1") if rng.random() < 0.8}
        params = {k: rng.choice(_TEXTS) for k in ("p0", "p1") if rng.random() < 0.8}
        tags = {"t0": rng.choice(_TEXTS)} if rng.random() < 0.7 else {}
        run = store.create_run("e", name=f"r{i}", params=params, tags=tags)
        store.log_metrics(run.id, [Metric(key=k, value=v) for k, v in metrics.items()])
        if rng.random() < 0.5:
            store.end_run(run.id, status=rng.choice(["FINISHED", "FAILED"]))
        clock.advance(1)
        out.append(store.get_run(run.id))
    return _Data(tyard, out)


def _like(pattern: str, value: str, fold: bool) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    flags = re.DOTALL | (re.IGNORECASE if fold else 0)
    return re.fullmatch(regex, value, flags) is not None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


Predicate = Callable[[Run], bool]


@st.composite
def _comparison(draw: st.DrawFn) -> tuple[str, Predicate]:
    kind = draw(st.sampled_from(["metrics", "params", "tags", "status"]))
    if kind == "metrics":
        key = draw(st.sampled_from(["m0", "m1", "m9"]))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "IN"]))
        finite = [v for v in _METRIC_VALUES if not math.isnan(v)]
        number = st.one_of(st.sampled_from(finite), st.floats(-5, 5, allow_nan=False))
        if op == "IN":
            values = draw(st.lists(number, min_size=1, max_size=3))
            text = f"metrics.{key} IN ({', '.join(repr(v) for v in values)})"
            return text, lambda r: key in r.metrics and r.metrics[key] in values
        value = draw(number)
        import operator

        fn = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}[op]
        return f"metrics.{key} {op} {value!r}", lambda r: key in r.metrics and fn(r.metrics[key], value)
    if kind == "status":
        value = draw(st.sampled_from(["RUNNING", "FINISHED", "FAILED"]))
        op = draw(st.sampled_from(["=", "!="]))
        return (f"attributes.status {op} '{value}'",
                lambda r: (r.status == value) == (op == "="))
    key = draw(st.sampled_from(["p0", "p1", "p9"] if kind == "params" else ["t0", "t9"]))
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "NOT LIKE", "IN", "NOT IN"]))

    def get(r: Run) -> str | None:
        return (r.params if kind == "params" else r.tags).get(key)

    if op in ("IN", "NOT IN"):
        values = draw(st.lists(st.sampled_from(_TEXTS), min_size=1, max_size=3))
        text = f"{kind}.{key} {op} ({', '.join(_quote(v) for v in values)})"
        return text, lambda r: get(r) is not None and ((get(r) in values) == (op == "IN"))
    if "LIKE" in op:
        pattern = draw(st.sampled_from(["a%", "%b%", "_", "%", "A%", "b_c", "%c"]))
        fold, negate = op.endswith("ILIKE"), op.startswith("NOT")
        return (f"{kind}.{key} {op} {_quote(pattern)}",
                lambda r: get(r) is not None and (_like(pattern, get(r), fold) != negate))  # type: ignore[arg-type]
    value = draw(st.sampled_from(_TEXTS))
    return (f"{kind}.{key} {op} {_quote(value)}",
            lambda r: get(r) is not None and ((get(r) == value) == (op == "=")))


def _combine(children: st.SearchStrategy[tuple[str, Predicate]]) -> st.SearchStrategy[tuple[str, Predicate]]:
    def both(pair: tuple[tuple[str, Predicate], tuple[str, Predicate]], word: str) -> tuple[str, Predicate]:
        (ta, fa), (tb, fb) = pair
        if word == "and":
            return f"({ta}) and ({tb})", lambda r: fa(r) and fb(r)
        return f"({ta}) or ({tb})", lambda r: fa(r) or fb(r)

    def negate(item: tuple[str, Predicate]) -> tuple[str, Predicate]:
        return f"not ({item[0]})", lambda r: not item[1](r)

    return st.one_of(
        st.tuples(children, children).map(lambda p: both(p, "and")),
        st.tuples(children, children).map(lambda p: both(p, "or")),
        children.map(negate),
    )


_FILTERS = st.recursive(_comparison(), _combine, max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_FILTERS)
def test_sql_agrees_with_python(random_runs: _Data, case: tuple[str, Any]) -> None:
    text, predicate = case
    expected = sorted(r.name for r in random_runs.runs if predicate(r))
    got = sorted(r.name for r in random_runs.yard.runs.search(text))  # type: ignore[type-var]
    assert got == expected, text
