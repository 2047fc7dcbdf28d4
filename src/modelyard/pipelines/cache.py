"""A step's cache key, and why a step missed the cache.

The key is the sha256 of the canonical JSON (sorted keys, fixed separators) of its
*components*:

- ``function``: the step's ``module:qualname``;
- ``inputs``: per argument fed by another step or by data (a DataFrame, an array, a dataset
  version), the content digest of that value;
- ``params``: per argument given a plain value, its digest (and, for the explanation only, a
  short text of the value);
- ``code``: the digests of the step's function and of the project's functions, classes and
  constants it reaches (:func:`~.fingerprint.fingerprint_code`);
- ``libraries``: the versions of the libraries that code reaches, and Python's;
- ``spec``: what the step declares about its outputs (names, type, publishing).

The components are stored with every step run; a miss is explained by comparing them with those
of the last completed run of the same step: which input, parameter, function or library changed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["cache_key", "miss_reasons"]


def _keyed(components: dict[str, Any]) -> dict[str, Any]:
    """The components without their display texts (only digests make the key)."""
    out = dict(components)
    out["params"] = {k: v["digest"] for k, v in components.get("params", {}).items()}
    out["inputs"] = {k: v["digest"] for k, v in components.get("inputs", {}).items()}
    return out


def cache_key(components: dict[str, Any]) -> str:
    data = orjson.dumps(_keyed(components), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


def _short(digest: str | None) -> str:
    return (digest or "none")[:12]


def _diff_digests(kind: str, before: dict[str, Any], after: dict[str, Any],
                  describe: Any) -> list[str]:
    out = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            out.append(describe(key, None, after[key], "new"))
        elif key not in after:
            out.append(describe(key, before[key], None, "gone"))
        elif before[key] != after[key]:
            out.append(describe(key, before[key], after[key], "changed"))
    return [line for line in out if line]


def _input_line(key: str, old: Any, new: Any, how: str) -> str:
    if how == "new":
        return f"input {key!r} is new"
    if how == "gone":
        return f"input {key!r} is no longer given"
    source = new.get("from") or old.get("from") or "a value"
    return (f"input {key!r} changed (from {source}: {_short(old.get('digest'))} -> "
            f"{_short(new.get('digest'))})")


def _param_line(key: str, old: Any, new: Any, how: str) -> str:
    if how == "new":
        return f"parameter {key!r} is new ({new.get('value')})"
    if how == "gone":
        return f"parameter {key!r} is no longer given (was {old.get('value')})"
    return f"parameter {key!r} changed: {old.get('value')} -> {new.get('value')}"


def _code_line(key: str, old: Any, new: Any, how: str) -> str:
    what = "function" if ":" in key else "constant"
    if how == "new":
        return f"{what} {key} is now reached by the step"
    if how == "gone":
        return f"{what} {key} is no longer reached by the step"
    return f"{what} {key} changed"


def _library_line(key: str, old: Any, new: Any, how: str) -> str:
    name = "Python" if key == "python" else f"library {key}"
    if how == "new":
        return f"{name} {new} is now used"
    if how == "gone":
        return f"{name} is no longer used"
    return f"{name} {old} -> {new}"


def miss_reasons(components: dict[str, Any], previous: dict[str, Any] | None, *,
                 step: str, disabled: str | None, problems: list[str],
                 outputs_missing: bool = False) -> list[str]:
    """Why a step with ``components`` did not reuse an earlier output: the cache was
    ``disabled`` (its text), something had no digest (``problems``), there is no earlier
    completed run (``previous`` None), or what differs from ``previous``'s components."""
    if disabled:
        return [disabled]
    if problems:
        return [f"not cacheable: {p}" for p in problems]
    if previous is None:
        return [f"no earlier completed run of step {step!r}"]
    reasons: list[str] = []
    if previous.get("function") != components.get("function"):
        reasons.append(f"the step's function is now {components.get('function')} (was "
                       f"{previous.get('function')})")
    reasons += _diff_digests("inputs", previous.get("inputs", {}), components.get("inputs", {}),
                             _input_line)
    reasons += _diff_digests("params", previous.get("params", {}), components.get("params", {}),
                             _param_line)
    reasons += _diff_digests("code", previous.get("code", {}), components.get("code", {}),
                             _code_line)
    reasons += _diff_digests("libraries", previous.get("libraries", {}),
                             components.get("libraries", {}), _library_line)
    if previous.get("spec") != components.get("spec"):
        reasons.append("the step's declared outputs changed")
    if not reasons:
        reasons.append("its stored outputs are gone" if outputs_missing else
                       "no completed run with this key (an equal earlier run did not finish)")
    return reasons
