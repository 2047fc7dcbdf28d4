"""The one rule for names, shared by every store.

A *name* identifies something and may end up in a path, a URL, a reference (``loans/3``,
``loans@production``) or a log line: models, dataset names, endpoints and their routes,
policies, tokens. It is 1-128 letters, digits and ``_ . -``, starting with a letter or digit
(so never ``..``, ``/``, whitespace or a control character). An alias follows the same rule but
starts with a letter or ``_``, so it is never mistaken for a version number.

A *label* (an experiment, run or alert rule name) is free text shown to people: 1-256
characters, no control characters.

Patterns are matched with ``re.fullmatch``: ``^…$`` with ``re.match`` accepts a trailing newline.
"""

from __future__ import annotations

import re

from ..errors import InvalidParameter

__all__ = [
    "LABEL_MAX",
    "NAME_MAX",
    "NAME_RULE",
    "check_alias_name",
    "check_label",
    "check_name",
    "is_alias_name",
    "is_name",
]

NAME_MAX = 128
LABEL_MAX = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_RULE = f"1-{NAME_MAX} letters, digits and '_.-', starting with a letter or digit"


def is_name(value: object) -> bool:
    """True when ``value`` is a valid name."""
    return isinstance(value, str) and len(value) <= NAME_MAX and _NAME.fullmatch(value) is not None


def check_name(value: object, *, field: str = "name", what: str | None = None) -> str:
    """``value`` if it is a valid name; else :class:`InvalidParameter` naming ``field``."""
    if not is_name(value):
        raise InvalidParameter(
            f"{what or field} must be {NAME_RULE}. Got {_shown(value)} instead.", field=field
        )
    return value  # type: ignore[return-value]


def is_alias_name(value: object) -> bool:
    """True when ``value`` is a valid alias."""
    return (isinstance(value, str) and len(value) <= NAME_MAX
            and _ALIAS.fullmatch(value) is not None)


def check_alias_name(value: object, *, field: str = "alias") -> str:
    """``value`` if it is a valid alias (a name that starts with a letter or ``_``)."""
    if not is_alias_name(value):
        raise InvalidParameter(
            f"An alias must be 1-{NAME_MAX} letters, digits and '._-', starting with a letter "
            f"or '_' (so it is never mistaken for a version number). Got {_shown(value)} "
            "instead.",
            field=field,
        )
    return value


def check_label(value: object, *, field: str = "name", what: str | None = None) -> str:
    """``value`` if it is a valid label: non-blank text of at most 256 characters without
    control characters."""
    if (not isinstance(value, str) or not value.strip() or len(value) > LABEL_MAX
            or _CONTROL.search(value)):
        raise InvalidParameter(
            f"{what or field} must be non-blank text of at most {LABEL_MAX} characters without "
            f"control characters. Got {_shown(value)} instead.",
            field=field,
        )
    return value


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) <= 80:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
    return f"{text[:60]}… ({size})"
