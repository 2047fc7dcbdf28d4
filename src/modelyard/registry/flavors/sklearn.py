"""scikit-learn models, saved with skops and loaded without pickle.

On load, every type the file names (each ``__module__``/``__class__`` of its schema) must be
trusted by this module, by its exact name — never by a package prefix:

- scikit-learn's public estimators (a ``BaseEstimator`` subclass that its public package
  exports under that name: the set skops itself trusts), a few of its internal types that
  fitted models hold (trees, losses, links, binning), and the xgboost/lightgbm wrappers;
- numpy's arrays, dtypes and random generators, its public ufuncs and scipy.special's, and
  scipy.sparse's matrix and array classes;
- plain builtins and the collections' containers.

Anything else — a function of the author's own module, ``builtins.eval``, a private numpy I/O
function … — raises :class:`~modelyard.errors.UnsafeModelError` naming the type, and nothing in
the file is executed. The decision is ours alone: skops only loads what we name as trusted.

Start-up: ``import skops.io`` computes skops' default trust lists in its module
``skops.io._trusted_types``: it walks every module of scikit-learn (``all_estimators``, which
imports torch, dask and pytest through scikit-learn's vendored array-API shims) and looks up
each scipy.special ufunc in every loaded module (``whichmodule``; seconds in a server process
with a few thousand modules). :func:`skops_io` imports skops with a stand-in for that module:
the lists this flavor does not use are empty (so skops trusts fewer types by default, never
more), the others are computed as skops computes them. If a skops release needs a name the
stand-in lacks, skops is imported the slow way instead.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from ...errors import UnsafeModelError
from .base import Predictor

__all__ = ["SAFE_NAMES", "SklearnFlavor", "flavor", "is_trusted", "skops_io", "trusted_types",
           "types_in"]

FILE = "model.skops"
# skops walks the file with ``ast``; on CPython 3.11 two threads doing that at once can fail
# with "AST constructor recursion depth mismatch" (a model server loading two routes, say), so
# every skops call here takes this lock.
_SKOPS_LOCK = threading.RLock()

#: types trusted by exact name (the families checked by kind are in :func:`is_trusted`)
SAFE_NAMES = frozenset({
    *(f"builtins.{t}" for t in ("int", "float", "complex", "bool", "str", "bytes", "bytearray",
                                "list", "tuple", "dict", "set", "frozenset", "slice", "range",
                                "NoneType", "type", "object")),
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.Counter",
    "collections.deque",
    # what fitted scikit-learn models hold besides estimators. Tree (decision trees, forests,
    # gradient boosting) and TreePredictor (histogram gradient boosting) index their node
    # arrays unchecked: a crafted file can crash the process at predict, not run code. skops
    # asks for them by name for that reason; the models above cannot be saved without them.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    *(f"sklearn._loss.link.{t}" for t in ("Interval", "IdentityLink", "LogLink", "LogitLink",
                                          "HalfLogitLink", "MultinomialLogit")),
    *(f"sklearn._loss.{module}.{prefix}{t}"
      for module, prefix in (("loss", ""), ("_loss", "Cy"))
      for t in ("HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss",
                "HalfPoissonLoss", "HalfGammaLoss", "HalfTweedieLoss", "HalfTweedieLossIdentity",
                "HalfBinomialLoss", "HalfMultinomialLoss", "ExponentialLoss")),
    "sklearn.utils._bunch.Bunch",
    # a fitted search keeps its scorer and masked arrays of the parameters it tried
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._scorer._MultimetricScorer",
    # numpy containers and random state
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.ma.MaskedArray",
    "numpy.ma.core.MaskedArray",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random.bit_generator.SeedSequence",
    *(f"numpy.random._{m}.{t}" for m, t in (("mt19937", "MT19937"), ("pcg64", "PCG64"),
                                            ("pcg64", "PCG64DXSM"), ("philox", "Philox"),
                                            ("sfc64", "SFC64"))),
    # the scikit-learn wrappers of xgboost and lightgbm
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "xgboost.sklearn.XGBRanker",
    "xgboost.sklearn.XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
})
_SPARSE = frozenset(f"{kind}_{form}" for kind in ("bsr", "coo", "csc", "csr", "dia", "dok", "lil")
                    for form in ("matrix", "array"))
# parts of scikit-learn that hold no estimators a model could contain (all_estimators skips
# them too); a name inside them is refused without importing anything
_NOT_ESTIMATOR_PARTS = frozenset({"tests", "externals", "setup", "conftest", "experimental",
                                  "estimator_checks"})


def skops_io() -> ModuleType:
    """``skops.io``, imported without computing its expensive default trust lists (see the
    module docstring)."""
    with _SKOPS_LOCK:
        if "skops.io" not in sys.modules:
            stand_in = "skops.io._trusted_types"
            if stand_in not in sys.modules:
                sys.modules[stand_in] = _trusted_types_stand_in()
            try:
                import skops.io
            except ImportError:  # a skops release that wants more from the stand-in
                for name in [n for n in sys.modules
                             if n == "skops.io" or n.startswith("skops.io.")]:
                    del sys.modules[name]
    # an import statement (not sys.modules) waits for another thread's import to finish
    import skops.io

    return skops.io


def _trusted_types_stand_in() -> ModuleType:
    """What ``skops.io._trusted_types`` defines, without its two slow lists."""
    import numpy as np

    module = ModuleType("skops.io._trusted_types", "modelyard's stand-in (registry/flavors/"
                        "sklearn.py): skops' default trust lists, less the two slow ones.")
    primitives: list[type] = [int, float, str, bool]
    containers: list[type] = [list, set, map, tuple]
    bit_generators = sorted(
        f"numpy.random.{attr}" for attr in dir(np.random)
        if isinstance(obj := getattr(np.random, attr), type)
        and issubclass(obj, np.random.BitGenerator) and obj is not np.random.BitGenerator
    )
    numpy_ufuncs = sorted({
        f"{obj.__module__}.{obj.__name__}" for attr in dir(np)
        if isinstance(obj := getattr(np, attr), np.ufunc) and getattr(obj, "__module__", None)
    })
    dtypes = sorted({name for t in np.sctypeDict.values()
                     if (name := f"{t.__module__}.{t.__name__}").startswith("numpy")})
    module.__dict__.update(
        PRIMITIVES_TYPES=primitives,
        PRIMITIVE_TYPE_NAMES=[f"builtins.{t.__name__}" for t in primitives],
        CONTAINER_TYPES=containers,
        CONTAINER_TYPE_NAMES=[f"builtins.{t.__name__}" for t in containers],
        # decided here, type by type (is_trusted), instead of by these defaults
        SKLEARN_ESTIMATOR_TYPE_NAMES=[],
        SKLEARN_INTERNAL_TYPE_NAMES=[],
        SCIPY_UFUNC_TYPE_NAMES=[],
        NUMPY_UFUNC_TYPE_NAMES=numpy_ufuncs,
        # RandomGeneratorNode builds only these: they must be skops' exact list
        NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES=bit_generators,
        NUMPY_DTYPE_TYPE_NAMES=dtypes,
    )
    return module


def types_in(file: str | Path) -> list[str]:
    """Every type a skops file names (``module.Class`` of each node of its schema), read as
    JSON: nothing in the file is constructed or imported."""
    try:
        with zipfile.ZipFile(file) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UnsafeModelError(
            f"{Path(file).name} must be a skops file (a zip archive with a schema.json). "
            f"Got an unreadable file instead ({exc}).", field="model") from exc
    return sorted(set(_node_types(schema)))


def _node_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "__module__" in node or "__class__" in node:
            yield f"{node.get('__module__')}.{node.get('__class__')}"
        for value in node.values():
            yield from _node_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _node_types(value)


def is_trusted(type_name: str) -> bool:
    """True when ``type_name`` (``module.Name``) is one of the exact types this flavor loads."""
    if type_name in SAFE_NAMES:
        return True
    module_name, _, name = type_name.rpartition(".")
    if not module_name or not name.isidentifier():
        return False
    if module_name == "numpy" and type_name in _numpy_scalar_types():
        return True
    if module_name in ("numpy", "scipy.special"):  # public ufuncs, as skops trusts them
        import numpy as np

        return isinstance(_attribute(module_name, name), np.ufunc)
    if module_name.startswith("scipy.sparse._") and name in _SPARSE:
        obj = _attribute("scipy.sparse", name)
        return isinstance(obj, type) and obj.__module__ == module_name
    return _is_public_estimator(module_name, name)


def _numpy_scalar_types() -> frozenset[str]:
    import numpy as np

    return frozenset(f"{t.__module__}.{t.__name__}" for t in np.sctypeDict.values())


def _attribute(module_name: str, name: str) -> Any:
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return getattr(module, name, None)


def _is_public_estimator(module_name: str, name: str) -> bool:
    """A scikit-learn estimator (or cross-validation splitter) class that its public package
    exports under this name (what ``all_estimators`` lists), found without walking
    scikit-learn."""
    parts = module_name.split(".")
    if parts[0] != "sklearn" or name.startswith("_") or _NOT_ESTIMATOR_PARTS & set(parts):
        return False
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    try:
        cls = _attribute(".".join(public), name)
    except ImportError:
        return False
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import BaseCrossValidator, BaseShuffleSplit

    return (isinstance(cls, type)
            and issubclass(cls, (BaseEstimator, BaseCrossValidator, BaseShuffleSplit))
            and cls.__module__ == module_name and cls.__name__ == name)


def trusted_types(file: str | Path) -> list[str]:
    """The types a skops file names, all of which must be trusted (:func:`is_trusted`);
    raises :class:`UnsafeModelError` naming the first that is not."""
    names = types_in(file)
    unsafe = [n for n in names if not is_trusted(n)]
    if unsafe:
        raise UnsafeModelError(
            f"Refusing to load {Path(file).name}: it contains the type {unsafe[0]!r}, which is "
            "not on the allowlist of scikit-learn estimators, numpy and scipy types and a few "
            "builtins"
            + (f" (also: {', '.join(unsafe[1:6])})" if len(unsafe) > 1 else "")
            + ". Loading it could run arbitrary code; register the model with only library "
            "types, or use the pyfunc flavor for custom code.",
            field="model",
        )
    return names


class _SklearnPredictor:
    def __init__(self, model: Any) -> None:
        self.model = model
        # fitted on a DataFrame: give it one (its column names are checked); else an array
        self._frame = hasattr(model, "feature_names_in_")
        if hasattr(model, "predict_proba"):
            self.predict_proba = self._predict_proba

    def _input(self, df: pd.DataFrame) -> Any:
        return df if self._frame else df.to_numpy()

    def predict(self, df: pd.DataFrame) -> Any:
        return self.model.predict(self._input(df))

    def _predict_proba(self, df: pd.DataFrame) -> Any:
        return self.model.predict_proba(self._input(df))


class SklearnFlavor:
    name = "sklearn"
    libraries = ("scikit-learn", "skops")

    def detect(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover - scikit-learn is a core dependency
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any, path: Path, example: pd.DataFrame | None,
             **kwargs: Any) -> dict[str, Any]:
        sio = skops_io()
        with _SKOPS_LOCK:
            sio.dump(model, path / FILE)
        # refuse at registration what would be refused at load
        trusted_types(path / FILE)
        return {"file": FILE, "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, path: Path, options: dict[str, Any]) -> Predictor:
        file = path / options.get("file", FILE)
        trusted = trusted_types(file)
        sio = skops_io()
        with _SKOPS_LOCK:
            model = sio.load(file, trusted=trusted)
        return _SklearnPredictor(model)


flavor = SklearnFlavor()
