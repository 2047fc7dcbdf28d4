"""How a step's output is stored and read back: by type, never pickled.

=========  ===========================================  =====================================
kind       what                                         stored as
=========  ===========================================  =====================================
frame      pandas DataFrame or Series                   Parquet blob (index kept)
polars     polars DataFrame                             Parquet blob
arrow      pyarrow Table                                Parquet blob
array      numpy array (not of Python objects)          ``.npy`` blob, ``allow_pickle=False``
model      anything a registry flavor saves             the flavor's files as blobs; the
                                                        manifest inline (its digest: the
                                                        model's)
dataset    a dataset version or view                    its reference (the data is already in
                                                        the yard)
json       None, numbers, text, lists, dicts            inline up to 64 KiB, else a blob
=========  ===========================================  =====================================

A step declared with ``dataset=`` also adds its DataFrame as a dataset version, and one declared
with ``model=`` registers its model as a model version; both are tagged with the run and step
that made them. An output of any other type is refused with an error naming the step.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path
from typing import Any

import orjson

from ..errors import InvalidParameter
from .entities import OutputRef
from .fingerprint import dataset_digest, digest_value

__all__ = ["OutputStore", "kind_of", "type_name"]

INLINE_LIMIT = 64 * 1024


def type_name(value: Any) -> str:
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else \
        f"{t.__module__.partition('.')[0]}.{t.__qualname__}"


def _json_problem(value: Any, where: str = "the value") -> str | None:
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value!r} (not valid JSON)"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r}, which is not text"
            problem = _json_problem(item, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    return f"{where} is a {type_name(value)}"


def kind_of(value: Any) -> str:
    """The storage kind of ``value`` (module docstring); InvalidParameter when it has none."""
    module = type(value).__module__.partition(".")[0]
    name = type(value).__name__
    if module == "pandas" and name in ("DataFrame", "Series"):
        return "frame"
    if module == "polars" and name == "DataFrame":
        return "polars"
    if module == "pyarrow" and name == "Table":
        return "arrow"
    if module == "numpy" and name == "ndarray":
        if value.dtype.hasobject:
            raise InvalidParameter("a numpy array of Python objects cannot be stored without "
                                   "pickle", field="output")
        return "array"
    if module == "modelyard" and name in ("DatasetVersion", "DatasetView"):
        return "dataset"
    if value is None or isinstance(value, (bool, int, float, str, list, tuple, dict)):
        problem = _json_problem(value)
        if problem:
            raise InvalidParameter(f"it is not a JSON value: {problem}", field="output")
        return "json"
    from ..registry.flavors.base import detect_flavor

    try:
        detect_flavor(value)
    except InvalidParameter:
        raise InvalidParameter(
            f"a {type_name(value)} cannot be stored: a step's output must be a DataFrame "
            "(pandas, polars, Arrow), a numpy array, a model (a registry flavor's), a dataset "
            "version or a JSON value", field="output") from None
    return "model"


class OutputStore:
    """Writes and reads step outputs on a yard's blobs (``blobs``), datasets and registry;
    model files read back are kept under ``cache_dir``."""

    def __init__(self, blobs: Any, datasets: Any, registry: Any, cache_dir: Path) -> None:
        self.blobs = blobs
        self.datasets = datasets
        self.registry = registry
        self.cache_dir = cache_dir

    # ---- writing ------------------------------------------------------------------------------
    def save(self, value: Any) -> OutputRef:
        """Store ``value``; raises InvalidParameter (field ``output``) when it cannot be."""
        kind = kind_of(value)
        return getattr(self, f"_save_{kind}")(value)  # type: ignore[no-any-return]

    def _put(self, write: Any, suffix: str) -> tuple[str, int]:
        scratch = self.blobs.scratch_dir()
        with tempfile.TemporaryDirectory(prefix="modelyard-step-", dir=scratch) as tmp:
            path = Path(tmp) / f"output{suffix}"
            write(path)
            size = path.stat().st_size
            return self.blobs.put_file(path, move=True), size

    def _save_frame(self, value: Any) -> OutputRef:
        import pandas as pd

        series = isinstance(value, pd.Series)
        frame = value.to_frame() if series else value
        if not all(isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        blob, size = self._put(lambda p: frame.to_parquet(p, engine="pyarrow"), ".parquet")
        return OutputRef(kind="frame", digest=blob, python_type=type_name(value), blob=blob,
                         n_rows=len(frame), n_bytes=size,
                         extra={"series": str(value.name)} if series else {})

    def _save_polars(self, value: Any) -> OutputRef:
        blob, size = self._put(value.write_parquet, ".parquet")
        return OutputRef(kind="polars", digest=blob, python_type=type_name(value), blob=blob,
                         n_rows=value.height, n_bytes=size)

    def _save_arrow(self, value: Any) -> OutputRef:
        import pyarrow.parquet as pq

        blob, size = self._put(lambda p: pq.write_table(value, p), ".parquet")
        return OutputRef(kind="arrow", digest=blob, python_type=type_name(value), blob=blob,
                         n_rows=value.num_rows, n_bytes=size)

    def _save_array(self, value: Any) -> OutputRef:
        import numpy as np

        blob, size = self._put(lambda p: np.save(p, value, allow_pickle=False), ".npy")
        return OutputRef(kind="array", digest=blob, python_type=type_name(value), blob=blob,
                         n_rows=int(value.shape[0]) if value.ndim else None, n_bytes=size,
                         extra={"shape": list(value.shape), "dtype": value.dtype.str})

    def _save_dataset(self, value: Any) -> OutputRef:
        extra = {attr: getattr(value, attr).isoformat()
                 for attr in ("as_of", "window_start", "window_end")
                 if getattr(getattr(value, attr, None), "isoformat", None) is not None}
        return OutputRef(kind="dataset", digest=dataset_digest(value),
                         python_type=type_name(value), ref=f"dataset:{value.name}/{value.version}",
                         n_rows=getattr(value, "n_rows", None), extra=extra)

    def _save_json(self, value: Any) -> OutputRef:
        data = orjson.dumps(value)
        extra = {"tuple": True} if isinstance(value, tuple) else {}
        digest = digest_value(value)
        if len(data) <= INLINE_LIMIT:
            return OutputRef(kind="json", digest=digest, python_type=type_name(value),
                             value=orjson.loads(data), n_bytes=len(data), extra=extra)
        blob = self.blobs.put_bytes(data)
        return OutputRef(kind="json", digest=digest, python_type=type_name(value), blob=blob,
                         n_bytes=len(data), extra=extra)

    def _save_model(self, value: Any) -> OutputRef:
        from ..registry.entities import Manifest, manifest_digest
        from ..registry.flavors.base import detect_flavor, library_versions

        flavor = detect_flavor(value)
        with tempfile.TemporaryDirectory(prefix="modelyard-step-model-") as tmp:
            options = flavor.save(value, Path(tmp), None)
            files = {f.relative_to(tmp).as_posix(): self.blobs.put_file(f)
                     for f in sorted(Path(tmp).rglob("*")) if f.is_file()}
        manifest = Manifest(flavor=flavor.name, options=options, files=files,
                            requirements=library_versions(*flavor.libraries))
        size = sum(self.blobs.size(d) for d in files.values()) if hasattr(self.blobs, "size") \
            else None
        return OutputRef(kind="model", digest=manifest_digest(manifest),
                         python_type=type_name(value), n_bytes=size,
                         extra={"manifest": manifest.model_dump(mode="json")})

    # ---- publishing ---------------------------------------------------------------------------
    def publish_dataset(self, value: Any, ref: OutputRef, name: str, *, transform: str,
                        parents: list[str]) -> OutputRef:
        """Add a DataFrame output as a version of dataset ``name`` too."""
        dv = self.datasets.add(name, value, transform=transform, parents=parents)
        return ref.model_copy(update={"ref": f"dataset:{dv.ref}"})

    def publish_model(self, ref: OutputRef, name: str, *, tags: dict[str, str],
                      description: str) -> OutputRef:
        """Register a model output as a version of model ``name`` (no file uploaded again)."""
        from ..registry.entities import Manifest

        manifest = Manifest.model_validate(ref.extra["manifest"])
        mv = self.registry.create_model_version(name=name, manifest=manifest, tags=tags,
                                                description=description)
        return ref.model_copy(update={"ref": f"model:{mv.name}/{mv.version}"})

    # ---- reading ------------------------------------------------------------------------------
    def exists(self, ref: OutputRef) -> bool:
        """Whether what ``ref`` points at is still there (a hit needs its outputs)."""
        if ref.blob is not None:
            return bool(self.blobs.exists(ref.blob))
        if ref.kind == "model":
            return all(self.blobs.exists(d) for d in ref.extra["manifest"]["files"].values())
        return True

    def load(self, ref: OutputRef) -> Any:
        """The value ``ref`` stored (read back through the digest-checked blob store)."""
        return getattr(self, f"_load_{ref.kind}")(ref)

    def _bytes(self, ref: OutputRef) -> io.BytesIO:
        assert ref.blob is not None
        return io.BytesIO(self.blobs.get_bytes(ref.blob))

    def _load_frame(self, ref: OutputRef) -> Any:
        import pandas as pd

        frame = pd.read_parquet(self._bytes(ref), engine="pyarrow")
        if "series" in ref.extra:
            series = frame.iloc[:, 0]
            return series.rename(None if ref.extra["series"] == "None" else series.name)
        return frame

    def _load_polars(self, ref: OutputRef) -> Any:
        import polars as pl

        return pl.read_parquet(self._bytes(ref))

    def _load_arrow(self, ref: OutputRef) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self._bytes(ref))

    def _load_array(self, ref: OutputRef) -> Any:
        import numpy as np

        return np.load(self._bytes(ref), allow_pickle=False)

    def _load_json(self, ref: OutputRef) -> Any:
        value = orjson.loads(self._bytes(ref).getvalue()) if ref.blob is not None else ref.value
        return tuple(value) if ref.extra.get("tuple") else value

    def _load_dataset(self, ref: OutputRef) -> Any:
        assert ref.ref is not None
        name, _, version = ref.ref.removeprefix("dataset:").rpartition("/")
        if ref.extra:
            return self.datasets.view(name, version=int(version), as_of=ref.extra.get("as_of"),
                                      window_start=ref.extra.get("window_start"),
                                      window_end=ref.extra.get("window_end"))
        return self.datasets.get(name, version=int(version))

    def _load_model(self, ref: OutputRef) -> Any:
        from ..artifacts.store import check_relative_path, sha256_file
        from ..registry.entities import Manifest
        from ..registry.flavors.base import get_flavor

        manifest = Manifest.model_validate(ref.extra["manifest"])
        folder = self.cache_dir / ref.digest
        for file_name, digest in manifest.files.items():
            target = folder / check_relative_path(file_name, field="files")
            if target.is_file() and sha256_file(target) == digest:
                continue
            self.blobs.get_file(digest, target)
        predictor = get_flavor(manifest.flavor).load(folder, dict(manifest.options))
        return getattr(predictor, "model", predictor)
