"""Content digests of values: typed, order-free for mappings and sets, schema-aware for
frames, fields never run into each other, and no placeholder for what cannot be digested."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from modelyard.pipelines.fingerprint import Unfingerprintable, digest_value


@dataclass
class Settings:
    depth: int
    name: str


def test_values_of_equal_text_but_other_types_differ() -> None:
    digests = {digest_value(v) for v in (1, 1.0, "1", True, b"1", (1,), [1])}
    assert len(digests) == 7


def test_mappings_and_sets_ignore_order_sequences_do_not() -> None:
    assert digest_value({"a": 1, "b": 2}) == digest_value({"b": 2, "a": 1})
    assert digest_value({3, 1, 2}) == digest_value({1, 2, 3})
    assert digest_value([1, 2]) != digest_value([2, 1])


def test_fields_never_run_into_each_other() -> None:
    assert digest_value(("ab", "c")) != digest_value(("a", "bc"))
    assert digest_value({"ab": "c"}) != digest_value({"a": "bc"})


def test_frames_and_arrays_include_their_schema_and_shape() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]})
    assert digest_value(frame) == digest_value(frame.copy())
    assert digest_value(frame) != digest_value(frame.rename(columns={"a": "c"}))
    assert digest_value(frame) != digest_value(frame.astype({"a": "int32"}))
    array = np.arange(6)
    assert digest_value(array) != digest_value(array.reshape(2, 3))
    assert digest_value(array) != digest_value(array.astype(np.int32))


def test_dataclasses_are_digested_by_their_fields() -> None:
    assert digest_value(Settings(3, "a")) == digest_value(Settings(3, "a"))
    assert digest_value(Settings(3, "a")) != digest_value(Settings(4, "a"))


def test_what_has_no_digest_raises_instead_of_a_placeholder() -> None:
    class Opaque:
        __slots__ = ()

    with pytest.raises(Unfingerprintable, match="Opaque value has no content digest"):
        digest_value(Opaque())
    with pytest.raises(Unfingerprintable):
        digest_value({"model": Opaque()})  # never folded into its parent
    with pytest.raises(Unfingerprintable, match="Python objects"):
        digest_value(np.array([object()]))


def _make(k: int):  # type: ignore[no-untyped-def]
    def helper(x: int) -> int:
        return x * k

    def step_fn(x: int) -> int:
        return helper(x)

    return step_fn


def test_code_reached_through_a_closure_is_part_of_the_fingerprint() -> None:
    from modelyard.pipelines.fingerprint import fingerprint_code

    two, three = fingerprint_code(_make(2)), fingerprint_code(_make(3))
    assert any(key.endswith("_make.<locals>.helper") for key in two.functions)
    assert two.functions != three.functions  # the closed-over k differs
    assert two.functions == fingerprint_code(_make(2)).functions
    assert two.libraries["python"] and not two.problems
