"""Quantiles after appends: the merged profile keeps the promised rank error (< 1%) on
discrete, tied and continuous columns (a property test over appends)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelyard as my
from modelyard.datasets.profile import (
    QUANTILE_LEVELS,
    FragmentProfiler,
    build_profile,
    merge_sketches,
)

RANK_ERROR = 0.01


def rank_error(values: np.ndarray, level: float, answer: float) -> float:
    """How far ``level`` is from the ranks ``answer`` holds in ``values``: 0 when some row
    with that value (or an interpolated value between two rows) sits at that rank."""
    below = np.count_nonzero(values < answer) / values.size
    upto = np.count_nonzero(values <= answer) / values.size
    return max(0.0, below - level, level - upto)


def worst_rank_error(values: np.ndarray, quantiles: dict[float, float]) -> float:
    return max(rank_error(values, q, quantiles[q]) for q in QUANTILE_LEVELS)


def merged_quantiles(parts: list[np.ndarray]) -> dict[float, float]:
    """The profile of a version made of ``parts`` (one fragment each), as the store builds it."""
    sketches = []
    for seed, part in enumerate(parts):
        profiler = FragmentProfiler(pa.schema([("x", pa.float64())]), seed)
        profiler.update(pa.record_batch([pa.array(part)], names=["x"]))
        sketches.append(profiler.sketch())
    return build_profile("d", 1, merge_sketches(sketches))["x"].quantiles


def _discrete(draw: st.DrawFn, n: int) -> np.ndarray:
    p = draw(st.floats(0.0, 1.0))
    return (np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random(n) < p).astype(float)


def _tied(draw: st.DrawFn, n: int) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = np.asarray(draw(st.lists(st.integers(-5, 5), min_size=1, max_size=6)), dtype=float)
    column = rng.choice(values, n)
    spike = draw(st.floats(0.0, 0.9))  # zero-inflated: a share of exact zeros, the rest spread
    return np.where(rng.random(n) < spike, 0.0, column + rng.normal(0, draw(st.sampled_from(
        [0.0, 0.0, 1e-3, 1.0])), n))


def _continuous(draw: st.DrawFn, n: int) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shift = draw(st.floats(-100, 100))
    kind = draw(st.sampled_from(["normal", "lognormal", "bimodal"]))
    if kind == "normal":
        return rng.normal(shift, draw(st.floats(0.1, 10)), n)
    if kind == "lognormal":
        return rng.lognormal(0, 2, n) + shift
    return np.where(rng.random(n) < 0.5, rng.normal(shift, 1, n), rng.normal(shift + 50, 1, n))


@st.composite
def appended_parts(draw: st.DrawFn) -> list[np.ndarray]:
    """A first version then 1-5 appends of one kind of column, each 500-3,000 rows (the sketch
    of each is exact: far below its sample size)."""
    kind = draw(st.sampled_from([_discrete, _tied, _continuous]))
    sizes = draw(st.lists(st.integers(500, 3_000), min_size=2, max_size=6))
    return [kind(draw, n) for n in sizes]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(appended_parts())
def test_merged_quantiles_keep_the_rank_error_bound(parts: list[np.ndarray]) -> None:
    quantiles = merged_quantiles(parts)
    assert worst_rank_error(np.concatenate(parts), quantiles) < RANK_ERROR


def test_a_discrete_flag_keeps_its_median_after_an_append(yard: my.Yard) -> None:
    """The case reported: a 0/1 column with mean 0.602 had p50 = 0.1706 after one append."""
    rng = np.random.default_rng(7)
    first = pd.DataFrame({"flag": (rng.random(3_000) < 0.6).astype(int)})
    more = pd.DataFrame({"flag": (rng.random(2_000) < 0.605).astype(int)})
    v1 = yard.datasets.add("flags", first)
    v2 = yard.datasets.append("flags", more)
    assert v1.profile["flag"].quantile(0.5) == 1.0
    flag = v2.profile["flag"]
    assert flag.mean > 0.5 and flag.quantile(0.5) == 1.0
    assert flag.quantile(0.3) == 0.0 and flag.quantile(0.9) == 1.0
    values = pd.concat([first, more]).flag.to_numpy(dtype=float)
    assert worst_rank_error(values, flag.quantiles) < RANK_ERROR


def _sketch(part: np.ndarray, seed: int) -> dict:
    profiler = FragmentProfiler(pa.schema([("x", pa.float64())]), seed)
    profiler.update(pa.record_batch([pa.array(part)], names=["x"]))
    return profiler.sketch()


@settings(max_examples=40, deadline=None)
@given(appended_parts(), st.integers(1, 5))
def test_merging_from_the_previous_version_gives_the_same_sketch(
    parts: list[np.ndarray], split: int
) -> None:
    """An append folds its fragments into the merge kept for the version before: the same
    result as merging every fragment again."""
    sketches = [_sketch(part, seed) for seed, part in enumerate(parts)]
    split = min(split, len(sketches))
    again = merge_sketches(sketches)
    folded = merge_sketches(sketches, start=merge_sketches(sketches[:split]))
    assert folded == again


def test_profiles_do_not_depend_on_what_the_process_remembers(tmp_path, make_loans) -> None:
    """Version profiles are the same whether each append starts from the merge this process
    kept for the version before or from every fragment (a new process)."""
    parts = [make_loans(300, seed=i, start=f"2026-01-{i + 1:02d}") for i in range(4)]

    def versions(fresh_each_time: bool, where: str) -> list:
        home = tmp_path / where
        yard = my.connect(settings=my.Settings.load({}, home=home))
        yard.datasets.add("loans", parts[0], time_column="ts")
        for part in parts[1:]:
            if fresh_each_time:
                yard.close()
                yard = my.connect(settings=my.Settings.load({}, home=home))
            yard.datasets.append("loans", part)
        profiles = [yard.datasets.profile("loans", v) for v in range(1, 5)]
        yard.close()
        return profiles

    assert versions(False, "kept") == versions(True, "fresh")
