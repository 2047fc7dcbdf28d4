"""Content digests of values and of code: what a step's cache key is made of.

:func:`digest_value` gives a value's digest, dispatched on its type (``functools.
singledispatch``, as Hamilton's ``caching/fingerprinting.py``): primitives carry their type
(``1``, ``1.0``, ``"1"`` and ``True`` differ), mappings and sets are sorted, DataFrames and
arrays include their schema, shape and dtype. Every part is length-prefixed before hashing, so
two fields can never run into each other (``"ab" + "c"`` is not ``"a" + "bc"``, ZenML's
separator-less hashing). A value that has no digest raises :class:`Unfingerprintable`; it
never gets a placeholder (Hamilton #1715: an ``"<unhashable>"`` placeholder folded into its
parents gave two different models one key), so a step fed such a value is not cached and the
run says why.

:func:`fingerprint_code` digests a step's function **and every function and class of the
project's own code it reaches**, transitively: names read from the function's globals and
closure, attribute access on modules (``helpers.clean``, ``pkg.sub.fn``), and imports inside the
body, found by reading the bytecode (not just the step's source, so a change in a helper it
calls invalidates it: ZenML #1011). Project code is any module imported from outside
site-packages and the standard library (modelyard itself counts as a library). What it reaches
outside the project is recorded as library versions (distribution -> version, and Python's
``major.minor``). Module-level constants the code reads are digested too. The bytecode digest
ignores line numbers and the docstring, so moving a function or rewording its docstring does
not invalidate it.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

__all__ = [
    "CodeFingerprint",
    "Unfingerprintable",
    "dataset_digest",
    "digest_bytes",
    "digest_value",
    "fingerprint_code",
    "is_project_module",
    "library_version",
]

_LARGE = 1 << 16


class Unfingerprintable(Exception):
    """A value (or a global the code reads) that has no content digest."""


def _hash(tag: str, *parts: bytes | memoryview) -> str:
    h = hashlib.sha256(tag.encode())
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def digest_bytes(data: bytes) -> str:
    """The digest of raw bytes (tagged, like every digest here)."""
    return _hash("bytes", data)


def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


@functools.singledispatch
def digest_value(obj: Any) -> str:
    """The content digest of ``obj`` (see the module docstring); raises
    :class:`Unfingerprintable` for a value it cannot digest."""
    handler = _by_module(obj)
    if handler is not None:
        return handler(obj)
    raise Unfingerprintable(f"a {_type_name(obj)} value has no content digest")


@digest_value.register(type(None))
def _none(obj: None) -> str:
    return _hash("none")


@digest_value.register(bool)
def _bool(obj: bool) -> str:
    return _hash("bool", b"1" if obj else b"0")


@digest_value.register(int)
def _int(obj: int) -> str:
    return _hash("int", str(obj).encode())


@digest_value.register(float)
def _float(obj: float) -> str:
    return _hash("float", obj.hex().encode())


@digest_value.register(complex)
def _complex(obj: complex) -> str:
    return _hash("complex", obj.real.hex().encode(), obj.imag.hex().encode())


@digest_value.register(str)
def _str(obj: str) -> str:
    return _hash("str", obj.encode("utf-8", "surrogatepass"))


@digest_value.register(bytes)
@digest_value.register(bytearray)
def _bytes(obj: bytes) -> str:
    return _hash("bytes", bytes(obj))


@digest_value.register(list)
@digest_value.register(tuple)
def _sequence(obj: list[Any] | tuple[Any, ...]) -> str:
    return _hash(type(obj).__name__, *(digest_value(x).encode() for x in obj))


@digest_value.register(dict)
def _mapping(obj: dict[Any, Any]) -> str:
    pairs = sorted(digest_value(k) + digest_value(v) for k, v in obj.items())
    return _hash("dict", *(p.encode() for p in pairs))


@digest_value.register(set)
@digest_value.register(frozenset)
def _set(obj: set[Any] | frozenset[Any]) -> str:
    return _hash("set", *(d.encode() for d in sorted(digest_value(x) for x in obj)))


@digest_value.register(datetime)
@digest_value.register(date)
@digest_value.register(time)
def _moment(obj: date | time) -> str:
    return _hash(type(obj).__name__, obj.isoformat().encode())


@digest_value.register(timedelta)
@digest_value.register(Decimal)
@digest_value.register(UUID)
def _by_repr(obj: Any) -> str:
    return _hash(_type_name(obj), repr(obj).encode())


@digest_value.register(PurePath)
def _path(obj: PurePath) -> str:
    return _hash("path", str(obj).encode())


@digest_value.register(Enum)
def _enum(obj: Enum) -> str:
    return _hash(_type_name(obj), obj.name.encode(), digest_value(obj.value).encode())


@digest_value.register(re.Pattern)
def _pattern(obj: re.Pattern[Any]) -> str:
    return _hash("pattern", digest_value(obj.pattern).encode(), str(obj.flags).encode())


@digest_value.register(types.ModuleType)
def _module(obj: types.ModuleType) -> str:
    return _hash("module", obj.__name__.encode())


def _frame_digest(obj: Any) -> str:
    from pandas.util import hash_pandas_object

    try:
        rows = hash_pandas_object(obj, index=True).to_numpy()
    except TypeError as exc:  # cells that are lists, dicts …
        raise Unfingerprintable(f"a {_type_name(obj)} with unhashable cells ({exc})") from exc
    if hasattr(obj, "columns"):
        schema = repr([(str(c), str(t)) for c, t in zip(obj.columns, obj.dtypes)])
    else:
        schema = repr((str(obj.name), str(obj.dtype)))
    return _hash(_type_name(obj), schema.encode(), repr(obj.index.names).encode(),
                 memoryview(rows).cast("B"))


def _array_digest(obj: Any) -> str:
    import numpy as np

    if obj.dtype.hasobject:
        raise Unfingerprintable("a numpy array of Python objects has no content digest")
    data = np.ascontiguousarray(obj)
    return _hash("ndarray", data.dtype.str.encode(), repr(data.shape).encode(),
                 memoryview(data.reshape(-1).view(np.uint8)))


def _numpy_scalar(obj: Any) -> str:
    return _hash("numpy." + type(obj).__name__, obj.tobytes())


def _polars_digest(obj: Any) -> str:
    import polars as pl

    frame = obj.to_frame() if isinstance(obj, pl.Series) else obj
    try:
        rows = frame.hash_rows(seed=0).to_numpy()
    except Exception as exc:
        raise Unfingerprintable(f"a polars frame whose rows cannot be hashed ({exc})") from exc
    schema = repr([(n, str(t)) for n, t in frame.schema.items()])
    return _hash("polars", schema.encode(), memoryview(rows).cast("B"))


def _arrow_digest(obj: Any) -> str:
    import pyarrow as pa

    table = obj if isinstance(obj, pa.Table) else pa.Table.from_batches([obj])
    return _frame_digest(table.to_pandas())


def dataset_digest(obj: Any) -> str:
    parts = [obj.name.encode(), str(obj.version).encode(), obj.digest.encode()]
    for attr in ("as_of", "window_start", "window_end"):
        value = getattr(obj, attr, None)
        parts.append(value.isoformat().encode() if isinstance(value, datetime) else b"")
    return _hash("dataset", *parts)


def _by_module(obj: Any) -> Callable[[Any], str] | None:
    """Digests for the types of libraries modelyard works with, found without importing them
    (a value of the type means its library is loaded)."""
    module = type(obj).__module__.partition(".")[0]
    name = type(obj).__name__
    if module == "pandas" and name in ("DataFrame", "Series"):
        return _frame_digest
    if module == "numpy":
        import numpy as np

        if isinstance(obj, np.ndarray):
            return _array_digest
        if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
            return _numpy_scalar
    if module == "polars" and name in ("DataFrame", "Series"):
        return _polars_digest
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return _arrow_digest
    if module == "modelyard" and name in ("DatasetVersion", "DatasetView"):
        return dataset_digest
    if module == "modelyard" and name == "ModelVersion":
        return lambda mv: _hash("model", mv.name.encode(), str(mv.version).encode(),
                                mv.digest.encode())
    if module == "logging" and hasattr(obj, "name") and hasattr(obj, "level"):
        return lambda lg: _hash("logger", str(lg.name).encode())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _dataclass_digest
    if callable(getattr(obj, "model_dump", None)) and hasattr(type(obj), "model_fields"):
        return lambda m: _hash(_type_name(m), digest_value(m.model_dump(mode="python")).encode())
    return None


def _dataclass_digest(obj: Any) -> str:
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return _hash(_type_name(obj), digest_value(fields).encode())


# ---- code ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    for path in [*site.getsitepackages(), site.getusersitepackages()]:
        roots.add(os.path.realpath(path))
    roots.add(os.path.realpath(os.path.join(sys.base_prefix, "lib")))
    return tuple(sorted(r.rstrip(os.sep) + os.sep for r in roots))


@functools.lru_cache(maxsize=4096)
def _file_is_project(file: str) -> bool:
    real = os.path.realpath(file)
    return not any(real.startswith(root) for root in _library_roots())


def is_project_module(module_name: str | None) -> bool:
    """True for the project's own code: a module imported from outside site-packages and the
    standard library (``__main__`` included); modelyard itself is a library."""
    if not module_name:
        return False
    top = module_name.partition(".")[0]
    if top == "modelyard" or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return False
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return module_name == "__main__"
    return _file_is_project(file)


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@functools.lru_cache(maxsize=1024)
def library_version(top: str) -> tuple[str, str] | None:
    """(name, version) of the top-level package ``top`` (its import name): the installed
    distribution of that name, else the package's ``__version__``, else the distribution that
    installed it. None for the standard library and builtins (Python's version covers them)."""
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return None
    try:
        return top, importlib.metadata.version(top)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        pass
    version = getattr(sys.modules.get(top), "__version__", None)
    if isinstance(version, str):
        return top, version
    for dist in _distributions().get(top, []):  # slow (reads every RECORD): the last resort
        try:
            return top, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return top, "unknown"


@dataclass
class CodeFingerprint:
    """What a function's code is: ``functions`` (``module:qualname`` -> digest, plus
    ``module.NAME`` -> digest for constants it reads), ``libraries`` (package -> version,
    ``python`` -> ``major.minor``) and ``problems`` (what could not be digested: the step is not
    cached while there are any)."""

    functions: dict[str, str] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


_PASSTHROUGH = frozenset({"EXTENDED_ARG", "NOP", "CACHE", "PUSH_NULL", "PRECALL", "RESUME",
                          "COPY_FREE_VARS", "MAKE_CELL"})
_BIND = frozenset({"STORE_FAST", "STORE_NAME", "STORE_DEREF", "STORE_GLOBAL"})


def _nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


def _const_bytes(const: Any) -> bytes:
    if isinstance(const, (frozenset, set)):
        return b"{" + b",".join(sorted(_const_bytes(c) for c in const)) + b"}"
    if isinstance(const, tuple):
        return b"(" + b",".join(_const_bytes(c) for c in const) + b")"
    if isinstance(const, float):
        return b"f" + const.hex().encode()
    return f"{type(const).__name__}:{const!r}".encode()


def _code_digest(code: types.CodeType, doc_first: bool = False) -> str:
    """The digest of a code object; ``doc_first``: its first constant is the docstring,
    hashed as the ``None`` that stands there when a function has none."""
    parts: list[bytes] = [
        code.co_code,
        repr((code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
              code.co_flags, code.co_names, code.co_varnames, code.co_freevars,
              code.co_cellvars)).encode(),
    ]
    for i, const in enumerate(code.co_consts):
        if i == 0 and doc_first:
            const = None
        if isinstance(const, types.CodeType):
            parts.append(_code_digest(const).encode())
        else:
            parts.append(_const_bytes(const))
    return _hash("code", *parts)


class _Walker:
    """Follows what a function reaches (module docstring) and collects the fingerprint."""

    def __init__(self) -> None:
        self.out = CodeFingerprint(libraries={"python": f"{sys.version_info[0]}.{sys.version_info[1]}"})
        self._seen: set[int] = set()

    # -- what an object is ----------------------------------------------------------------------
    def visit(self, label: str, obj: Any) -> None:
        step_fn = getattr(obj, "__modelyard_step_function__", None)
        if step_fn is not None:
            obj = step_fn
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, functools.partial):
            self.visit(label, obj.func)
            self.value(f"{label}.<partial args>", (obj.args, obj.keywords))
            return
        if isinstance(obj, types.ModuleType):
            if not is_project_module(obj.__name__):
                self.library(obj.__name__)
            return
        if isinstance(obj, types.FunctionType):
            if is_project_module(obj.__module__):
                self.function(obj)
            else:
                self.library(obj.__module__)
            return
        if isinstance(obj, type):
            if is_project_module(obj.__module__):
                self.klass(obj)
            else:
                self.library(obj.__module__)
            return
        if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)) or callable(obj) \
                and not is_project_module(getattr(obj, "__module__", None)) \
                and getattr(obj, "__module__", None):
            self.library(getattr(obj, "__module__", None) or "builtins")
            if not isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
                self.value(label, obj, optional=True)
            return
        self.value(label, obj)

    def value(self, label: str, obj: Any, optional: bool = False) -> None:
        try:
            self.out.functions[label] = digest_value(obj)
        except Unfingerprintable as exc:
            if optional:
                return
            self.out.problems.append(f"{label} ({exc}) is read by the code")
        module = type(obj).__module__
        if not is_project_module(module):
            self.library(module)

    def library(self, module: str | None) -> None:
        top = (module or "builtins").partition(".")[0]
        found = library_version(top)
        if found is not None:
            self.out.libraries[found[0]] = found[1]

    # -- project code ---------------------------------------------------------------------------
    def function(self, fn: types.FunctionType) -> None:
        if id(fn) in self._seen:
            return
        self._seen.add(id(fn))
        key = f"{fn.__module__}:{fn.__qualname__}"
        code = fn.__code__
        doc_first = bool(code.co_consts) and fn.__doc__ is not None \
            and code.co_consts[0] == fn.__doc__
        digest = _code_digest(code, doc_first=doc_first)
        try:
            defaults = digest_value((fn.__defaults__ or (), fn.__kwdefaults__ or {}))
        except Unfingerprintable as exc:
            self.out.problems.append(f"a default argument of {key} ({exc})")
            defaults = ""
        self.out.functions[key] = _hash("function", digest.encode(), defaults.encode())
        for label, obj in _references(fn, self.out.problems):
            self.visit(label, obj)

    def klass(self, cls: type) -> None:
        if id(cls) in self._seen:
            return
        self._seen.add(id(cls))
        key = f"{cls.__module__}:{cls.__qualname__}"
        parts = [repr([f"{b.__module__}.{b.__qualname__}" for b in cls.__bases__]).encode()]
        for name, member in sorted(vars(cls).items()):
            if name.startswith("__") and name.endswith("__") and not isinstance(
                    member, types.FunctionType):
                continue
            raw = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if isinstance(raw, property):
                raw = raw.fget
            if isinstance(raw, types.FunctionType):
                self.function(raw)
                parts.append(f"{name}=fn:{raw.__qualname__}".encode())
            else:
                try:
                    parts.append(f"{name}={digest_value(raw)}".encode())
                except Unfingerprintable:
                    parts.append(f"{name}:{_type_name(raw)}".encode())
        self.out.functions[key] = _hash("class", *parts)
        for base in cls.__bases__:
            if base is not object:
                self.visit(f"{key}.<base>", base)


def _closure(fn: types.FunctionType) -> dict[str, Any]:
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell: a name bound later in the outer function
            continue
    return out


def _references(fn: types.FunctionType, problems: list[str]) -> Iterator[tuple[str, Any]]:
    """(label, object) for every global, closure variable, module attribute chain and import
    the function's bytecode (and its nested code: comprehensions, lambdas, inner functions)
    reads. A name an import binds to a local is followed where that local is read."""
    globs = fn.__globals__
    closure = _closure(fn)
    module_name = fn.__module__
    for code in _nested_codes(fn.__code__):
        current: Any = None
        label = ""
        pending: Any = None  # what an import just pushed, until a STORE binds it
        importing: Any = None
        bound: dict[str, tuple[str, Any]] = {}
        consts: list[Any] = []
        for ins in dis.get_instructions(code):
            op = ins.opname
            if op in _PASSTHROUGH:
                continue
            if op == "LOAD_CONST":
                consts = [*consts[-1:], ins.argval]
                current = None
                continue
            if op == "IMPORT_NAME":
                level = consts[0] if len(consts) == 2 and isinstance(consts[0], int) else 0
                fromlist = consts[-1] if consts else None
                importing = _import(str(ins.argval), level, module_name, problems)
                if importing is not None and fromlist is None and not level:
                    importing = sys.modules.get(importing.__name__.partition(".")[0], importing)
                consts = []
                pending, current, label = importing, importing, str(ins.argval)
                if importing is not None:
                    yield label, importing
                continue
            consts = []
            if op == "IMPORT_FROM":
                if importing is not None:
                    name = f"{importing.__name__}.{ins.argval}"
                    obj = getattr(importing, str(ins.argval), None)
                    if obj is None:
                        obj = _import(name, 0, module_name, problems)
                    pending, label = obj, name
                    if obj is not None:
                        yield name, obj
                continue
            if op in _BIND:
                if pending is not None:
                    bound[str(ins.argval)] = (label, pending)
                pending = current = None
                continue
            pending = None
            if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                current = None
                if ins.argval in globs:
                    current, label = globs[ins.argval], f"{module_name}.{ins.argval}"
                    yield label, current
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF") and ins.argval in closure:
                current = closure[ins.argval]
                label = f"{module_name}:{fn.__qualname__}.<closure {ins.argval}>"
                yield label, current
            elif op == "LOAD_FAST" and ins.argval in bound:
                label, current = bound[ins.argval]
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(current, (types.ModuleType,
                                                                              type)):
                nxt = getattr(current, str(ins.argval), None)
                if nxt is None:
                    current = None
                    continue
                label, current = f"{label}.{ins.argval}", nxt
                yield label, nxt
            else:
                current = None


def _import(name: str, level: int, package_of: str, problems: list[str]) -> Any:
    try:
        absolute = importlib.util.resolve_name("." * level + name, package_of.rpartition(".")[0]) \
            if level else name
        return importlib.import_module(absolute)
    except Exception as exc:  # noqa: BLE001 - the step would fail the same way; recorded
        problems.append(f"import of {name!r} fails ({type(exc).__name__}: {exc})")
        return None


def fingerprint_code(fn: Callable[..., Any]) -> CodeFingerprint:
    """The fingerprint of ``fn`` and the project code it reaches (module docstring)."""
    walker = _Walker()
    target = getattr(fn, "__modelyard_step_function__", fn)
    if isinstance(target, types.FunctionType):
        walker.function(target)
    else:
        walker.visit(getattr(target, "__qualname__", repr(target)), target)
    return walker.out
