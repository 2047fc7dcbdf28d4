"""A guessed token: refused the same way wherever it differs, and compared in constant time
on its hash (the server looks a token up by its sha256 and compares the hashes with
``hmac.compare_digest``, so neither timing nor the answer tells how much of a guess was
right)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import pytest

import modelyard as my
from modelyard.governance.tokens import hash_token

from .conftest import HTTP, assert_refused


def _flip(c: str) -> str:
    return "A" if c != "A" else "B"


def test_tokens_wrong_in_the_first_or_the_last_character_are_both_401_alike(
        hostile_yard: my.Yard, server_factory: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    api = server_factory(hostile_yard, auth=True)
    token = api.token
    prefix = token[:3]
    first = prefix + _flip(token[3]) + token[4:]
    last = token[:-1] + _flip(token[-1])
    answers = []
    for guess in (first, last, token[:-1], token + "x"):
        r = HTTP.get(f"{api.url}/api/v1/datasets",
                      headers={"Authorization": f"Bearer {guess}"})
        answers.append(assert_refused(r, 401))
        assert guess[4:] not in r.text
    assert answers[0] == answers[1] == answers[2] == answers[3]

    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    ok = HTTP.get(f"{api.url}/api/v1/datasets", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    assert (hash_token(token), hash_token(token)) in compared  # hashes, never the token
    assert all(token not in (a, b) for a, b in compared)
