"""Type annotations of steps and pipelines: checking values against them, turning command-line
text into them, and telling from a return annotation whether an output can be stored."""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from typing import Any

from ..errors import InvalidParameter

__all__ = ["annotation_name", "coerce_text", "matches", "storable_annotation", "type_hints"]

_EMPTY = inspect.Parameter.empty
# what a step may return (and be stored), by the class's module and name
_DATA = {("pandas", "DataFrame"), ("pandas", "Series"), ("numpy", "ndarray"),
         ("polars", "DataFrame"), ("pyarrow", "Table"),
         ("modelyard", "DatasetVersion"), ("modelyard", "DatasetView")}
_JSON = (type(None), bool, int, float, str, list, dict, tuple)
_UNSTORABLE_ORIGINS = (collections.abc.Iterator, collections.abc.Generator,
                       collections.abc.AsyncIterator, collections.abc.Callable,
                       collections.abc.Awaitable, collections.abc.Coroutine)


def type_hints(fn: Any) -> dict[str, Any]:
    """The resolved annotations of ``fn`` (the raw ones when a forward reference does not
    resolve)."""
    try:
        return typing.get_type_hints(fn, include_extras=False)
    except Exception:  # noqa: BLE001 - a forward reference to a name that does not exist
        return dict(getattr(fn, "__annotations__", {}) or {})


def annotation_name(annotation: Any) -> str:
    if annotation is _EMPTY or annotation is None:
        return "None" if annotation is None else "any"
    if isinstance(annotation, type):
        module = annotation.__module__
        return annotation.__qualname__ if module == "builtins" else \
            f"{module.partition('.')[0]}.{annotation.__qualname__}"
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` fits ``annotation`` (classes, unions, Optional, Literal, list/dict/tuple
    with their items checked one level deep; anything else is accepted)."""
    if annotation is _EMPTY or annotation is Any or isinstance(annotation, (str, typing.TypeVar)):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is typing.Annotated:
        return matches(value, args[0])
    if origin is not None:
        if isinstance(origin, type) and not isinstance(value, origin):
            return False
        if origin in (list, set, frozenset) and args:
            return all(matches(v, args[0]) for v in value)
        if origin is dict and len(args) == 2:
            return all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return True
    if not isinstance(annotation, type):
        return True
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    if annotation is int and isinstance(value, bool):
        return False
    return isinstance(value, annotation)


def coerce_text(text: str, annotation: Any, *, field: str, where: str) -> Any:
    """A command-line value (``--param k=v``) as the annotated type: numbers, ``true``/
    ``false``, JSON for lists and dicts, ``null`` for None; text stays text."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce_text(text, arg, field=field, where=where)
            except InvalidParameter:
                continue
        raise _bad(text, annotation, field, where)
    try:
        if annotation is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(text)
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is str:
            return text
        if origin is typing.Literal:
            for choice in args:
                if str(choice) == text:
                    return choice
            raise ValueError(text)
        if annotation in (list, dict, tuple) or origin in (list, dict, tuple):
            value = json.loads(text)
            if not matches(value, list if annotation is tuple or origin is tuple else annotation):
                raise ValueError(text)
            return tuple(value) if tuple in (annotation, origin) else value
    except (ValueError, TypeError) as exc:
        raise _bad(text, annotation, field, where) from exc
    if annotation is _EMPTY or annotation is Any:
        try:
            return json.loads(text)
        except ValueError:
            return text
    raise InvalidParameter(f"parameter {field!r} of {where} is a {annotation_name(annotation)}, "
                           "which cannot be given on the command line; call the pipeline from "
                           "Python to pass it.", field=field)


def _bad(text: str, annotation: Any, field: str, where: str) -> InvalidParameter:
    return InvalidParameter(f"parameter {field!r} of {where} must be "
                            f"{annotation_name(annotation)}. Got {text!r} instead.", field=field)


def storable_annotation(annotation: Any) -> str | None:
    """Why a step declared to return ``annotation`` could not store its output (None when it
    can, or when only the value will tell)."""
    if annotation is _EMPTY or annotation is Any or annotation is None \
            or isinstance(annotation, (str, typing.TypeVar)):
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        problems = [storable_annotation(a) for a in typing.get_args(annotation)]
        return problems[0] if all(problems) else None
    if origin is typing.Annotated:
        return storable_annotation(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return None
    target = origin if origin is not None else annotation
    if not isinstance(target, type):
        return None
    if issubclass(target, _JSON) and not issubclass(target, _UNSTORABLE_ORIGINS):
        return None
    if (target.__module__.partition(".")[0], target.__name__) in _DATA:
        return None
    if any(callable(getattr(target, attr, None)) for attr in ("predict", "fit", "transform")):
        return None  # a model: saved by its registry flavor
    return (f"{annotation_name(annotation)}, which modelyard cannot store: a step's output must "
            "be a DataFrame (pandas, polars, Arrow), a numpy array, a model (a registry flavor's), "
            "a dataset version or a JSON value (numbers, text, lists, dicts)")
