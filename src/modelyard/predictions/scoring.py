"""Batch scoring, the domain part: what a partition is, how one is scored and written, and
how an output folder remembers which partitions are done.

An input is any set of Parquet files: a path, a folder, a glob, an fsspec URL
(``s3://bucket/day=*/*.parquet``) or a dataset version (``dataset:loans/3``: its fragments).
It is cut into **partitions**: runs of row groups of one file holding about
``partition_rows`` rows. A partition is the unit of parallel work and of resuming: it is read
row group by row group (memory bounded by a row group), each batch checked against the
model's signature, scored, given a prediction id per row (UUIDv7), and written to
``part-NNNNN.parquet`` of the output folder under a temporary name that is renamed when the
file is complete. The folder's ``_scoring.json`` names the model, the partitions and the
options; a second run with the same ones skips the partitions already there.

Output columns: the input's columns (or those kept), ``prediction`` (``prediction.<name>``
for a model with several outputs), ``proba.<class>`` for a classifier, ``prediction_id``,
``model_name`` and ``model_version``. Any Parquet reader reads the folder as one table
(``pd.read_parquet(dest)``); files whose names start with ``_`` or ``.`` are bookkeeping.

The orchestration across an executor (local processes, or ``dask.dataframe`` partitions on a
cluster) is :func:`modelyard.automation.scoring.score`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import uuid_utils
from pydantic import BaseModel

from ..errors import AlreadyExists, IntegrityError, InvalidParameter, NotFound, SchemaMismatch
from ..registry.entities import ModelVersion

__all__ = [
    "MANIFEST",
    "ModelPackage",
    "OutputFolder",
    "PartResult",
    "ScoringManifest",
    "ScoringSpec",
    "SourcePart",
    "check_columns",
    "load_package",
    "log_records",
    "part_name",
    "plan_parts",
    "read_part",
    "read_part_frame",
    "resolve_inputs",
    "score_frame",
    "score_part",
    "write_frame",
]

MANIFEST = "_scoring.json"
_GLOB = set("*?[")


@dataclass(frozen=True)
class ModelPackage:
    """A model version and the bytes of its files: what a worker needs to load it anywhere
    (each file is checked against its sha256 when loaded). Build it with :meth:`of`."""

    version: ModelVersion
    files: dict[str, bytes]

    @classmethod
    def of(cls, version: ModelVersion, folder: Path) -> ModelPackage:
        """The package of ``version`` from the folder its files were fetched to."""
        return cls(_fresh(version), {name: (folder / name).read_bytes() for name in version.files})


def _fresh(version: ModelVersion) -> ModelVersion:
    """A copy without what a process caches on it (a signature's checking plan holds
    functions that do not pickle)."""
    return ModelVersion.model_validate(version.model_dump(mode="json", by_alias=True))


@dataclass(frozen=True)
class SourcePart:
    """Partition ``index``: row groups ``row_groups`` of the file at ``url``."""

    index: int
    url: str
    row_groups: tuple[int, ...]
    n_rows: int


@dataclass(frozen=True)
class ScoringSpec:
    """What every partition is scored with. ``keep``: input columns copied to the output
    (None: all); ``proba``: class probabilities too; ``batch_rows``: rows per batch."""

    model: ModelPackage
    keep: tuple[str, ...] | None = None
    proba: bool = True
    batch_rows: int = 65_536


@dataclass
class PartResult:
    """A partition written: its index, rows and output file."""

    index: int
    n_rows: int
    path: str
    skipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ScoringManifest(BaseModel):
    """``_scoring.json`` of an output folder: what was scored with what, partition by
    partition. ``complete`` is set once every partition is written."""

    model: str
    model_digest: str
    source: list[str]
    parts: list[tuple[str, list[int], int]]
    keep: list[str] | None = None
    proba: bool = True
    created_at: datetime
    complete: bool = False

    def same_work(self, other: ScoringManifest) -> bool:
        return (self.model_digest, self.parts, self.keep, self.proba) == (
            other.model_digest, other.parts, other.keep, other.proba)


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


# ---- inputs ----------------------------------------------------------------------------------
def _fs(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(url)  # type: ignore[no-any-return]


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _unstrip(fs: Any, path: str) -> str:
    return path if _is_local(fs) else str(fs.unstrip_protocol(path))


def resolve_inputs(source: str | Sequence[str], *, yard: Any = None) -> list[str]:
    """The Parquet files ``source`` names, sorted: paths, folders (every ``*.parquet`` below),
    globs and fsspec URLs, or ``dataset:name[/version]`` (its fragments, verified)."""
    items = [source] if isinstance(source, str) else list(source)
    if not items:
        raise InvalidParameter("source must name at least one Parquet file. Got none.",
                               field="source")
    out: list[str] = []
    for item in items:
        if item.startswith("dataset:"):
            if yard is None:
                raise InvalidParameter(f"source {item!r} is a dataset version: expected a yard "
                                       "to read it from.", field="source")
            from ..datasets.timetravel import fragment_paths

            version = yard.datasets.get(item)
            out += fragment_paths(yard, version.fragments)
            continue
        fs, path = _fs(item)
        if _GLOB & set(path):
            found = sorted(p for p in fs.glob(path) if not fs.isdir(p))
        elif fs.isdir(path):
            found = sorted(p for p in fs.find(path) if p.endswith(".parquet")
                           and not any(s.startswith(("_", ".")) for s in p.split("/")[-1:]))
        elif fs.exists(path):
            found = [path]
        else:
            raise NotFound(f"source {item!r} does not exist.", field="source")
        if not found:
            raise NotFound(f"source {item!r} matches no Parquet file.", field="source")
        out += [_unstrip(fs, p) for p in found]
    return out


def plan_parts(urls: Sequence[str], partition_rows: int = 1 << 20) -> list[SourcePart]:
    """Partitions of the files (their footers are read): consecutive row groups of one file
    up to ``partition_rows`` rows (a larger row group is a partition by itself)."""
    if partition_rows < 1:
        raise InvalidParameter(f"partition_rows must be positive. Got {partition_rows}.",
                               field="partition_rows")
    parts: list[SourcePart] = []
    for url in urls:
        meta = _metadata(url)
        group: list[int] = []
        rows = 0
        for rg in range(meta.num_row_groups):
            n = meta.row_group(rg).num_rows
            if n == 0:
                continue
            if group and rows + n > partition_rows:
                parts.append(SourcePart(len(parts), url, tuple(group), rows))
                group, rows = [], 0
            group.append(rg)
            rows += n
        if group:
            parts.append(SourcePart(len(parts), url, tuple(group), rows))
    return parts


def _metadata(url: str) -> Any:
    fs, path = _fs(url)
    try:
        with fs.open(path, "rb") as fh:
            return pq.ParquetFile(fh).metadata
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidParameter(f"{url} is not a readable Parquet file: {exc}",
                               field="source") from exc


def _schema(url: str) -> pa.Schema:
    fs, path = _fs(url)
    with fs.open(path, "rb") as fh:
        return pq.ParquetFile(fh).schema_arrow


def check_columns(urls: Sequence[str], version: ModelVersion,
                  keep: Sequence[str] | None) -> None:
    """Every file has the columns the model's signature needs (and those to keep), before
    anything is scored; the error names the file and the missing columns."""
    needed = [c.name for c in version.signature.inputs] if version.signature else []
    for url in urls:
        names = set(_schema(url).names)
        missing = [c for c in needed if c not in names]
        if missing:
            raise SchemaMismatch(
                f"{url} lacks column(s) {missing} that model {version.ref} needs; it expects "
                f"{needed}.", field="source")
        lacking = [c for c in keep or () if c not in names]
        if lacking:
            raise InvalidParameter(f"keep must name columns of the input; {url} has no "
                                   f"{lacking}.", field="keep")


def read_part(part: SourcePart, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """The rows of a partition, batch by batch (one row group in memory at a time)."""
    fs, path = _fs(part.url)
    with fs.open(path, "rb") as fh:
        reader = pq.ParquetFile(fh)
        yield from reader.iter_batches(batch_size=batch_rows, row_groups=list(part.row_groups))


def read_part_frame(part: SourcePart) -> pd.DataFrame:
    """A whole partition as one pandas frame (a ``dask.dataframe`` partition)."""
    fs, path = _fs(part.url)
    with fs.open(path, "rb") as fh:
        return pq.ParquetFile(fh).read_row_groups(list(part.row_groups)).to_pandas()


# ---- the model on a worker -------------------------------------------------------------------
_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()


def load_package(package: ModelPackage) -> Any:
    """The :class:`~modelyard.registry.models.LoadedModel` of a package, loaded once per
    process (its files written to a private folder and checked against their sha256)."""
    digest = package.version.digest
    with _LOCK:
        loaded = _LOADED.get(digest)
        if loaded is not None:
            return loaded
        from ..registry.flavors.base import get_flavor
        from ..registry.models import LoadedModel

        folder = Path(tempfile.mkdtemp(prefix=f"modelyard-score-{digest[:12]}-"))
        for name, data in package.files.items():
            expected = package.version.files.get(name)
            if expected is None or hashlib.sha256(data).hexdigest() != expected:
                raise IntegrityError(f"file {name!r} of model {package.version.ref} does not "
                                     "match its sha256; refusing to load it.")
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        predictor = get_flavor(package.version.flavor).load(folder, dict(package.version.options))
        loaded = _LOADED[digest] = LoadedModel(_fresh(package.version), predictor, folder)
        return loaded


def _classes(loaded: Any, k: int) -> list[str]:
    model = loaded.model
    classes = getattr(model, "classes_", None)
    if classes is None and hasattr(model, "steps"):
        classes = getattr(model.steps[-1][1], "classes_", None)
    if classes is not None and len(classes) == k:
        return [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    return [str(i) for i in range(k)]


def _prediction_columns(out: Any, n: int) -> dict[str, Any]:
    if isinstance(out, pd.DataFrame):
        return {f"prediction.{c}": out[c].to_numpy() for c in out.columns}
    arr = np.asarray(out)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        return {f"prediction.{i}": arr[:, i] for i in range(arr.shape[1])}
    if arr.shape[0] != n:
        raise InvalidParameter(f"the model returned {arr.shape[0]} predictions for {n} rows.",
                               field="model")
    return {"prediction": arr}


def prediction_ids(n: int) -> list[str]:
    """``n`` new UUIDv7 prediction ids (time-ordered, as the model server's)."""
    return [uuid_utils.uuid7().hex for _ in range(n)]


def score_frame(loaded: Any, frame: pd.DataFrame, spec: ScoringSpec, *,
                where: str = "") -> pd.DataFrame:
    """One batch scored: the kept input columns, the predictions (and probabilities), a
    prediction id per row, and the model version. A value the signature refuses raises
    :class:`~modelyard.errors.SchemaMismatch` naming ``where`` (file and partition)."""
    try:
        prepared = loaded.prepare(frame)
    except SchemaMismatch as exc:
        raise SchemaMismatch(f"{where}: {exc.message}" if where else exc.message,
                             field=exc.field) from exc
    n = len(prepared)
    kept = frame if spec.keep is None else frame[list(spec.keep)]
    # the columns' own arrays: to_numpy() of a zoned datetime builds a Timestamp per row
    columns: dict[str, Any] = {c: kept[c].array for c in kept.columns}
    predictor = loaded.predictor
    if n:
        columns.update(_prediction_columns(predictor.predict(prepared), n))
        if spec.proba and hasattr(predictor, "predict_proba"):
            proba = np.asarray(predictor.predict_proba(prepared))
            if proba.ndim == 2:
                for cls, col in zip(_classes(loaded, proba.shape[1]), proba.T):
                    columns[f"proba.{cls}"] = col
    version = loaded.version
    columns["prediction_id"] = prediction_ids(n)
    columns["model_name"] = [version.name] * n
    columns["model_version"] = np.full(n, version.version, dtype=np.int64)
    return pd.DataFrame(columns, index=frame.index)


def _where(part: SourcePart) -> str:
    return f"{part.url} (partition {part.index}, row groups {list(part.row_groups)})"


# ---- the output folder -----------------------------------------------------------------------
class OutputFolder:
    """An output folder on a local path or any fsspec URL: its manifest, the partitions
    already written, and atomic partition files."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = _fs(url)
        self.local = _is_local(self.fs)

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def open(self, manifest: ScoringManifest, *, overwrite: bool = False) -> set[int]:
        """Create the folder for ``manifest``, or take up the one there: the indexes of the
        partitions already written. A folder holding other work (or other files) is an
        error unless ``overwrite``, which empties it."""
        if self.fs.exists(self.root) and not self.fs.isdir(self.root):
            raise AlreadyExists(f"{self.url} is a file; batch scoring writes a folder of "
                                "Parquet parts there. Choose another output.", field="dest")
        if self.fs.exists(self.root):
            existing = self._manifest()
            if overwrite:
                self.fs.rm(self.root, recursive=True)
            elif existing is None:
                if self.fs.ls(self.root):
                    raise AlreadyExists(
                        f"{self.url} exists and holds no scoring (no {MANIFEST}); expected an "
                        "empty or missing folder, or --overwrite.", field="dest")
            elif not existing.same_work(manifest):
                raise AlreadyExists(
                    f"{self.url} holds a scoring of model {existing.model} over "
                    f"{len(existing.parts)} partition(s) with other inputs or options; "
                    "resuming it would mix the two. Choose another output or --overwrite.",
                    field="dest")
            else:
                done = {i for i in range(len(manifest.parts))
                        if self.fs.exists(self.path(part_name(i)))}
                return done
        self.fs.makedirs(self.root, exist_ok=True)
        self.write_manifest(manifest)
        return set()

    def _manifest(self) -> ScoringManifest | None:
        path = self.path(MANIFEST)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as fh:
            return ScoringManifest.model_validate_json(fh.read())

    def write_manifest(self, manifest: ScoringManifest) -> None:
        self.write_bytes(MANIFEST, manifest.model_dump_json(indent=2).encode())

    def write_bytes(self, name: str, data: bytes) -> None:
        tmp = self.path(f".{name}.tmp-{uuid.uuid4().hex[:8]}")
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
            _sync(fh)
        self._commit(tmp, self.path(name))

    def _commit(self, tmp: str, final: str) -> None:
        if self.local:
            os.replace(tmp, final)
            fd = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            self.fs.mv(tmp, final)

    def exists(self, name: str) -> bool:
        return bool(self.fs.exists(self.path(name)))

    def part_writer(self, index: int) -> _PartWriter:
        return _PartWriter(self, index)


def _sync(fh: Any) -> None:
    fh.flush()
    fileno = getattr(fh, "fileno", None)
    if fileno is not None:
        try:
            os.fsync(fileno())
        except (OSError, ValueError):  # not a real file (an object store's buffer)
            pass


class _PartWriter:
    """Writes ``part-NNNNN.parquet`` under a temporary name; :meth:`commit` renames it."""

    def __init__(self, folder: OutputFolder, index: int) -> None:
        self.folder = folder
        self.name = part_name(index)
        self.tmp = folder.path(f".{self.name}.tmp-{uuid.uuid4().hex[:8]}")
        self._fh: Any = None
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._fh = self.folder.fs.open(self.tmp, "wb")
            self._writer = pq.ParquetWriter(self._fh, table.schema, compression="zstd")
        elif table.schema != self._writer.schema:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def commit(self, empty_schema: pa.Schema | None = None) -> str:
        if self._writer is None:  # no rows: still a valid, empty part
            self.write(pa.table({}) if empty_schema is None else empty_schema.empty_table())
        assert self._writer is not None
        self._writer.close()
        _sync(self._fh)
        self._fh.close()
        final = self.folder.path(self.name)
        self.folder._commit(self.tmp, final)
        return final

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
            if self.folder.fs.exists(self.tmp):
                self.folder.fs.rm(self.tmp)
        except OSError:
            pass


def write_frame(frame: pd.DataFrame, dest: str, index: int) -> PartResult:
    """Write one scored partition (a pandas frame) as ``part-NNNNN.parquet`` of ``dest``."""
    writer = OutputFolder(dest).part_writer(index)
    try:
        writer.write(pa.Table.from_pandas(frame, preserve_index=False))
        path = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return PartResult(index, writer.rows, path)


def score_part(spec: ScoringSpec, part: SourcePart, dest: str) -> PartResult:
    """Score one partition and write it (runs on a worker): streamed batch by batch."""
    loaded = load_package(spec.model)
    writer = OutputFolder(dest).part_writer(part.index)
    try:
        for batch in read_part(part, spec.batch_rows):
            scored = score_frame(loaded, batch.to_pandas(), spec, where=_where(part))
            writer.write(pa.Table.from_pandas(scored, preserve_index=False))
        path = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return PartResult(part.index, writer.rows, path)


# ---- the prediction log ----------------------------------------------------------------------
def log_records(path: str, *, endpoint: str, inputs: Sequence[str],
                batch_rows: int = 65_536) -> Iterator[list[dict[str, Any]]]:
    """The prediction-log records of a written partition, batch by batch: the inputs the
    model read, its prediction (and probabilities), on route ``batch`` of ``endpoint``, at
    the time of each prediction id."""
    fs, local = _fs(path)
    with fs.open(local, "rb") as fh:
        reader = pq.ParquetFile(fh)
        names = reader.schema_arrow.names
        proba = [c for c in names if c.startswith("proba.")]
        preds = [c for c in names if c == "prediction" or c.startswith("prediction.")]
        for batch in reader.iter_batches(batch_size=batch_rows):
            rows = batch.to_pylist()
            out = []
            for row in rows:
                pid = row["prediction_id"]
                outputs: dict[str, Any] = {
                    "prediction" if c == "prediction" else c[11:]: row[c] for c in preds}
                if proba:
                    outputs["proba"] = {c[6:]: row[c] for c in proba}
                out.append({
                    "id": pid, "time": (uuid.UUID(hex=pid).int >> 80) * 1000,  # its ms, in µs
                    "endpoint": endpoint, "route": "batch", "model_name": row["model_name"],
                    "model_version": int(row["model_version"]),
                    "inputs": {c: _jsonable(row[c]) for c in inputs},
                    "outputs": {k: _jsonable(v) for k, v in outputs.items()},
                    "latency_ms": 0.0, "shadow": False, "request_key": None,
                    "request_id": pid,
                })
            yield out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    try:
        orjson.dumps(value)
    except TypeError:
        return str(value)
    return value
