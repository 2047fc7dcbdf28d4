"""Model references: ``"loans"`` (the latest version), ``"loans/3"`` (version 3),
``"loans@production"`` (whatever the alias points at), and the names inside them."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidParameter
from ..store.names import NAME_RULE, check_alias_name, check_name, is_alias_name, is_name

__all__ = ["LATEST", "ModelRef", "check_alias", "check_model_name", "check_version", "parse_ref"]

LATEST = "latest"  # "loans@latest" means the newest version; no alias may take this name
_FORMS = "'name' (the latest version), 'name/3' (version 3) or 'name@alias'"


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: exactly one of ``version`` and ``alias`` is set, or neither
    (the latest version)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_model_name(name: object, *, field: str = "name") -> str:
    """A model name: the shared name rule (``store.names``); no '/' or '@', which separate
    versions and aliases."""
    return check_name(name, field=field, what="A model name")


def check_alias(alias: object, *, field: str = "alias") -> str:
    return check_alias_name(alias, field=field)


def check_version(version: object, *, field: str = "version") -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidParameter(
            f"A version must be a whole number >= 1. Got {version!r} instead.", field=field
        )
    return version


def parse_ref(ref: object) -> ModelRef:
    """Parse ``"name"``, ``"name/3"`` or ``"name@alias"``; anything else is an
    :class:`InvalidParameter` that lists the forms."""
    if not isinstance(ref, str) or not ref:
        raise InvalidParameter(f"A model reference must be {_FORMS}. Got {ref!r} instead.",
                               field="ref")
    if "@" in ref:
        name, _, alias = ref.partition("@")
        if not is_alias_name(alias) or not is_name(name):
            raise InvalidParameter(
                f"A model reference must be {_FORMS}; an alias starts with a letter or '_'. "
                f"Got {ref!r} instead.",
                field="ref",
            )
        if alias == LATEST:
            return ModelRef(name)
        return ModelRef(name, alias=alias)
    if "/" in ref:
        name, _, version = ref.partition("/")
        if (not version.isascii() or not version.isdigit() or int(version) < 1
                or not is_name(name)):
            raise InvalidParameter(
                f"A model reference must be {_FORMS}; a version is a whole number >= 1. "
                f"Got {ref!r} instead.",
                field="ref",
            )
        return ModelRef(name, version=int(version))
    if not is_name(ref):
        raise InvalidParameter(f"A model reference must be {_FORMS}, a name being {NAME_RULE}. "
                               f"Got {ref!r} instead.", field="ref")
    return ModelRef(ref)
