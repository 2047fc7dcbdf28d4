"""``yard.models``: register models of any flavor, load them back with one ``predict``, move
aliases and keep a journal.

    mv = yard.models.register(model, "loans", example=X[:5])      # ModelVersion loans/1
    yard.models.set_alias("loans", "production", mv.version, reason="beats v0 on AUC")
    model = yard.models.load("loans@production")                   # or "loans/1", "loans"
    model.predict(df)                                              # checked against the signature

This module talks only to ``yard.backend.registry`` (the :class:`RegistryStore` or its HTTP
client) and ``yard.backend.blobs`` (content-addressed files), so it works the same on a local
yard and against ``modelyard server``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from ..artifacts.store import check_relative_path, sha256_file
from ..errors import IntegrityError, InvalidParameter
from ..explain.hooks import record_importance
from .entities import (
    Alias,
    AliasEvent,
    JournalEntry,
    Manifest,
    ModelVersion,
    RegisteredModel,
    ServingUse,
    Signature,
    manifest_digest,
)
from .flavors.base import Flavor, Predictor, detect_flavor, get_flavor, library_versions
from .refs import check_model_name, parse_ref
from .signature import as_frame, enforce, infer_columns, infer_signature

if TYPE_CHECKING:
    from ..yard import Yard

__all__ = ["EXAMPLE_FILE", "RUN_MANIFEST_FILE", "LoadedModel", "Models"]

EXAMPLE_FILE = "input_example.json"
#: a model logged to a run (``log_to_run``) keeps its manifest beside its files
RUN_MANIFEST_FILE = "modelyard-model.json"
_EXAMPLE_ROWS = 5


class _IfProba:
    """``predict_proba`` exists only when the loaded model has it (``hasattr`` tells)."""

    def __get__(self, obj: LoadedModel | None, owner: type) -> Any:
        if obj is None:
            return self
        if not hasattr(obj._predictor, "predict_proba"):
            raise AttributeError(
                f"Model {obj.version.ref} ({obj.version.flavor}) has no predict_proba.")
        return obj._predict_proba


class LoadedModel:
    """A model version ready to predict, whatever its flavor.

    ``predict(data)`` takes a pandas or polars DataFrame (or a 2-D array, a dict of columns,
    a list of records), checks it against the signature (:func:`signature.enforce`: missing
    columns and wrong types raise :class:`~modelyard.errors.SchemaMismatch`), and returns a
    numpy array or a DataFrame. ``predict_proba`` is there when the model has it.
    """

    predict_proba = _IfProba()

    def __init__(self, version: ModelVersion, predictor: Predictor, path: Path) -> None:
        self.version = version
        self._predictor = predictor
        self.path = path

    @property
    def signature(self) -> Signature | None:
        return self.version.signature

    @property
    def flavor(self) -> str:
        return self.version.flavor

    @property
    def ref(self) -> str:
        return self.version.ref

    @property
    def predictor(self) -> Predictor:
        """The flavor's predictor: ``predict(df)`` (and ``predict_proba``) on a frame that has
        already been through :meth:`prepare` — for callers that check inputs themselves."""
        return self._predictor

    @property
    def model(self) -> Any:
        """The framework's own object (the estimator, booster, session, module …)."""
        return getattr(self._predictor, "model", self._predictor)

    @property
    def input_example(self) -> pd.DataFrame | None:
        """The first rows of the example given at registration, if any."""
        file = self.path / EXAMPLE_FILE
        if EXAMPLE_FILE not in self.version.files or not file.is_file():
            return None
        frame = pd.read_json(file, orient="split")
        return enforce(self.signature, frame) if self.signature is not None else frame

    def prepare(self, data: Any) -> pd.DataFrame:
        """``data`` as the frame the model gets: converted and checked against the signature."""
        frame = as_frame(data, self.signature)
        return enforce(self.signature, frame) if self.signature is not None else frame

    def predict(self, data: Any) -> Any:
        frame = self.prepare(data)
        if len(frame) == 0:  # most frameworks raise on zero rows; the answer is no rows
            return _empty(self.signature.outputs if self.signature is not None else [])
        return _result(self._predictor.predict(frame))

    def _predict_proba(self, data: Any) -> Any:
        frame = self.prepare(data)
        if len(frame) == 0:
            classes = getattr(self.model, "classes_", None)
            return np.empty((0, 0 if classes is None else len(classes)), dtype=np.float64)
        return _result(self._predictor.predict_proba(frame))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<LoadedModel {self.version.ref} flavor={self.version.flavor}>"


_EMPTY_DTYPES = {"float": np.float64, "int": np.int64, "bool": np.bool_}


def _empty(outputs: list[Any]) -> Any:
    """No predictions, shaped and typed as the signature's outputs say."""
    if len(outputs) > 1:
        return pd.DataFrame({c.name: np.empty(0, dtype=_EMPTY_DTYPES.get(c.type, object))
                             for c in outputs})
    return np.empty(0, dtype=_EMPTY_DTYPES.get(outputs[0].type, object) if outputs
                    else np.float64)


def _result(out: Any) -> Any:
    if isinstance(out, pd.DataFrame | np.ndarray):
        return out
    if isinstance(out, pd.Series):
        return out.to_numpy()
    return np.asarray(out)


class Models:
    """The model registry of a yard (``yard.models``)."""

    def __init__(self, yard: Yard) -> None:
        self.yard = yard

    @property
    def _registry(self) -> Any:
        return self.yard.backend.registry

    @property
    def _blobs(self) -> Any:
        return self.yard.backend.blobs

    # ---- registering ---------------------------------------------------------------------
    def register(
        self,
        model: Any,
        name: str,
        *,
        example: Any = None,
        flavor: str | None = None,
        run_id: str | None = None,
        code_commit: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        init_kwargs: dict[str, Any] | None = None,
        source_version: str | None = None,
    ) -> ModelVersion:
        """Save ``model`` as the next version of ``name`` (the model is created on first use).

        - ``example``: a few input rows (DataFrame, polars, 2-D array, dict of columns); the
          signature is inferred from it and from what the saved model predicts for it — the
          saved files are loaded back and run once before anything is registered.
        - ``flavor``: detected from the model; ``"onnx"`` converts a scikit-learn model.
        - ``init_kwargs``: the JSON constructor arguments of a PyTorch module.
        - ``run_id``, ``code_commit``, ``source_version``: lineage.
        """
        check_model_name(name)
        if source_version is not None:
            source_version = str(parse_ref(source_version))
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            manifest, predictor = self._save(model, Path(tmp), example, flavor, init_kwargs,
                                             self._blobs.put_file)
            mv: ModelVersion = self._registry.create_model_version(
                name=name, manifest=manifest, run_id=run_id, code_commit=code_commit,
                description=description, tags=tags, source_version=source_version,
            )
            # its global importance, with the copy just loaded back; never fails registration
            record_importance(self.yard.backend, mv, None if predictor is None
                              else LoadedModel(mv, predictor, Path(tmp)))
        return mv

    def _save(self, model: Any, path: Path, example: Any, flavor: str | None,
              init_kwargs: dict[str, Any] | None, store: Any) -> tuple[Manifest, Any]:
        """Write ``model`` into the empty folder ``path`` (flavor files, example rows), check
        it by loading it back and predicting the example, and return its manifest and that
        loaded copy (None without an example); ``store`` (``blobs.put_file``) uploads each
        file and returns its sha256."""
        chosen: Flavor = get_flavor(flavor) if flavor is not None else detect_flavor(model)
        if init_kwargs is not None and chosen.name != "pytorch":
            raise InvalidParameter(
                f"init_kwargs is only used by the pytorch flavor. Got it for a {chosen.name} "
                "model.", field="init_kwargs")
        frame = as_frame(example) if example is not None else None
        extra = {"init_kwargs": init_kwargs} if init_kwargs is not None else {}
        options = chosen.save(model, path, frame, **extra)
        signature = loaded = None
        if frame is not None:
            signature = infer_signature(frame)
            loaded = chosen.load(path, options)
            predictions = loaded.predict(enforce(signature, frame))
            signature = Signature(inputs=signature.inputs,
                                  outputs=infer_columns(_result(predictions)))
            frame.head(_EXAMPLE_ROWS).to_json(path / EXAMPLE_FILE, orient="split",
                                              index=False, date_format="iso")
        files = {
            file.relative_to(path).as_posix(): store(file)
            for file in sorted(path.rglob("*")) if file.is_file()
        }
        return Manifest(flavor=chosen.name, options=options, files=files, signature=signature,
                        requirements=library_versions(*chosen.libraries)), loaded

    # ---- models logged to a run (registered only when asked) -----------------------------
    def log_to_run(self, run_id: str, model: Any, *, path: str = "model", example: Any = None,
                   flavor: str | None = None,
                   init_kwargs: dict[str, Any] | None = None) -> Manifest:
        """Save ``model`` as artifacts of run ``run_id`` under ``path`` (its files plus
        ``{path}/modelyard-model.json``, the manifest), registering nothing — MLflow's
        ``log_model`` without ``registered_model_name``. :meth:`register_from_run` makes a
        version of it later without uploading anything again."""
        check_relative_path(path, field="path")
        tracking = self.yard.backend.tracking
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            manifest, _ = self._save(model, Path(tmp), example, flavor, init_kwargs,
                                     self._blobs.put_file)
            (Path(tmp) / RUN_MANIFEST_FILE).write_bytes(
                orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS))
            manifest_blob = self._blobs.put_file(Path(tmp) / RUN_MANIFEST_FILE)
        for name, digest in manifest.files.items():
            tracking.log_artifact(run_id, f"{path}/{name}", digest)
        tracking.log_artifact(run_id, f"{path}/{RUN_MANIFEST_FILE}", manifest_blob)
        return manifest

    def register_from_run(self, run_id: str, name: str, *, path: str = "model",
                          description: str | None = None,
                          tags: dict[str, str] | None = None) -> ModelVersion:
        """Register the model that run ``run_id`` logged under ``path`` (:meth:`log_to_run`,
        ``yard.autolog()``) as the next version of ``name``, linked to the run and its commit.
        Its files are the run's artifacts, checked against the logged manifest."""
        check_model_name(name)
        check_relative_path(path, field="path")
        artifacts = {a.path: a.digest for a in self.yard.runs.artifacts(run_id)}
        manifest_path = f"{path}/{RUN_MANIFEST_FILE}"
        if manifest_path not in artifacts:
            logged = sorted({p.rsplit("/", 1)[0] for p in artifacts
                             if p.endswith("/" + RUN_MANIFEST_FILE)})
            raise InvalidParameter(
                f"Run {run_id} has no model logged under {path!r}; expected an artifact "
                f"{manifest_path!r}. Models it logged: {logged or 'none'}.", field="path")
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            local = self._blobs.get_file(artifacts[manifest_path], Path(tmp) / RUN_MANIFEST_FILE)
            manifest = Manifest.model_validate_json(Path(local).read_bytes())
        for file_name, digest in manifest.files.items():
            if artifacts.get(f"{path}/{file_name}") != digest:
                raise IntegrityError(
                    f"Run {run_id}'s model under {path!r} is inconsistent: its manifest lists "
                    f"{file_name!r} with sha256 {digest}, but the run's artifact "
                    f"{path}/{file_name} is {artifacts.get(f'{path}/{file_name}') or 'missing'}.")
        run = self.yard.runs.get(run_id)
        mv: ModelVersion = self._registry.create_model_version(
            name=name, manifest=manifest, run_id=run_id, code_commit=run.code_commit,
            description=description, tags=tags)
        record_importance(self.yard.backend, mv)
        return mv

    def create(self, name: str, *, description: str | None = None,
               tags: dict[str, str] | None = None) -> RegisteredModel:
        """Create an empty registered model (``register`` creates it on first use too)."""
        return self._registry.create_registered_model(  # type: ignore[no-any-return]
            name=name, description=description, tags=tags)

    # ---- loading -------------------------------------------------------------------------
    def load(self, ref: str | ModelVersion) -> LoadedModel:
        """Load a version ("name@alias", "name/3", "name" for the latest, or a ModelVersion).

        Its files are fetched once into ``{home}/cache/models/{digest}/``, each checked
        against its sha256 (on download and again on every load); the manifest is checked
        against the version's digest. A mismatch raises
        :class:`~modelyard.errors.IntegrityError`.
        """
        version = ref if isinstance(ref, ModelVersion) else self.resolve(ref)
        actual = manifest_digest(version.manifest())
        if actual != version.digest:
            raise IntegrityError(
                f"Model version {version.ref} is corrupt: its manifest hashes to {actual}, "
                f"not to its digest {version.digest}. Refusing to load it.")
        folder = self.cache_dir(version)
        for file_name, digest in version.files.items():
            target = folder / check_relative_path(file_name, field="files")
            if target.is_file() and sha256_file(target) == digest:
                continue
            self._blobs.get_file(digest, target)
        predictor = get_flavor(version.flavor).load(folder, dict(version.options))
        return LoadedModel(version, predictor, folder)

    def cache_dir(self, version: ModelVersion) -> Path:
        """Where the files of ``version`` are kept locally once loaded."""
        return Path(self.yard.settings.home).resolve() / "cache" / "models" / version.digest

    # ---- reading -------------------------------------------------------------------------
    def resolve(self, ref: str) -> ModelVersion:
        """The version a reference means: "name/3", "name@alias" or "name" (the latest)."""
        parse_ref(ref)  # a syntax error is reported here, without a round trip
        return self._registry.resolve(ref=ref)  # type: ignore[no-any-return]

    def get(self, ref: str) -> ModelVersion:
        """The version ``ref`` means (same as :meth:`resolve`)."""
        return self.resolve(ref)

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its aliases and latest version number."""
        return self._registry.get_registered_model(name=name)  # type: ignore[no-any-return]

    def list(self, *, limit: int = 1000, offset: int = 0) -> list[RegisteredModel]:
        """Registered models in name order."""
        return self._registry.list_registered_models(  # type: ignore[no-any-return]
            limit=limit, offset=offset)

    def search(self, query: str = "", *, tag: str | None = None,
               limit: int = 100) -> list[RegisteredModel]:
        """Models whose name or description contains ``query``; ``tag="key=value"`` filters."""
        return self._registry.search_registered_models(  # type: ignore[no-any-return]
            query=query, tag=tag, limit=limit)

    def versions(self, name: str) -> list[ModelVersion]:
        """The versions of ``name``, oldest first."""
        return self._registry.list_model_versions(name=name)  # type: ignore[no-any-return]

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        """The versions a run registered."""
        return self._registry.search_model_versions(run_id=run_id)  # type: ignore[no-any-return]

    # ---- aliases -------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, reason: str | None = None,
                  override: bool = False) -> Alias:
        """Point ``alias`` at ``version`` of ``name``; the move is kept in the alias history,
        with who moved it (the principal the server authenticated, or the OS user).
        A protected alias (``yard.validation.protect``) needs a passing validation report for
        that version, or ``override=True`` with a ``reason`` (recorded)."""
        return self._registry.set_alias(  # type: ignore[no-any-return]
            name=name, alias=alias, version=version, reason=reason, override=override)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None,
                     override: bool = False) -> AliasEvent:
        """Remove an alias; the deletion is kept in the alias history (a protected alias
        needs ``override=True`` and a ``reason``)."""
        return self._registry.delete_alias(  # type: ignore[no-any-return]
            name=name, alias=alias, reason=reason, override=override)

    # ---- four-eyes promotion (registry/promotions.py) -------------------------------------
    def require_approval(self, name: str, alias: str) -> Any:
        """From now on ``name@alias`` moves only when a second person approves a promotion
        request (admin)."""
        return self.yard.backend.promotions.require_approval(model=name, alias=alias)

    def promote(self, name: str, alias: str, version: int, *, reason: str | None = None,
                override: bool = False) -> Any:
        """Request that ``name@alias`` point at ``version``: a :class:`PromotionRequest` bound
        to the version's digest and latest validation report, for an approver to decide."""
        return self.yard.backend.promotions.request(model=name, alias=alias, version=version,
                                                    reason=reason, override=override)

    def approve(self, request_id: str, *, note: str | None = None) -> Any:
        """Approve a promotion request (someone else's): the alias moves now."""
        req = self.yard.backend.promotions.get(request_id)
        return self.yard.backend.promotions.approve(model=req.model, request_id=request_id,
                                                    note=note)

    def refuse(self, request_id: str, note: str) -> Any:
        """Refuse a promotion request, saying why; the alias stays."""
        req = self.yard.backend.promotions.get(request_id)
        return self.yard.backend.promotions.refuse(model=req.model, request_id=request_id,
                                                   note=note)

    def promotion_requests(self, name: str | None = None, *,
                           state: str | None = None) -> list[Any]:
        """Promotion requests (of ``name``; ``pending``/``approved``/``refused``), newest
        first."""
        found = self.yard.backend.promotions.list(model=name, state=state)
        return list(found)

    def endpoints(self, ref: str) -> list[ServingUse]:
        """The endpoint routes serving the version ``ref`` means ("loans/3",
        "loans@production") now, as the model servers recorded what they serve."""
        mv = self.get(ref)
        return self._registry.serving_endpoints(  # type: ignore[no-any-return]
            name=mv.name, version=mv.version)

    def aliases(self, name: str) -> list[Alias]:
        return self._registry.list_aliases(name=name)  # type: ignore[no-any-return]

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the aliases of ``name`` (or of one alias), oldest first."""
        return self._registry.alias_history(name=name, alias=alias)  # type: ignore[no-any-return]

    # ---- tags, descriptions, journal -----------------------------------------------------
    def set_tag(self, name: str, key: str, value: str, *,
                version: int | None = None) -> RegisteredModel | ModelVersion:
        """Set a tag on the model, or with ``version=`` on one version."""
        if version is None:
            return self._registry.set_model_tag(  # type: ignore[no-any-return]
                name=name, key=key, value=value)
        return self._registry.set_version_tag(  # type: ignore[no-any-return]
            name=name, version=version, key=key, value=value)

    def delete_tag(self, name: str, key: str, *,
                   version: int | None = None) -> RegisteredModel | ModelVersion:
        if version is None:
            return self._registry.delete_model_tag(  # type: ignore[no-any-return]
                name=name, key=key)
        return self._registry.delete_version_tag(  # type: ignore[no-any-return]
            name=name, version=version, key=key)

    def set_description(self, name: str, description: str | None, *,
                        version: int | None = None) -> RegisteredModel | ModelVersion:
        """Set the description of the model, or with ``version=`` of one version."""
        if version is None:
            return self._registry.set_model_description(  # type: ignore[no-any-return]
                name=name, description=description)
        return self._registry.set_version_description(  # type: ignore[no-any-return]
            name=name, version=version, description=description)

    def journal(self, name: str, text: str, *, version: int | None = None) -> JournalEntry:
        """Append an entry to the journal of ``name`` (or of one version): why this model,
        what was tried, what to watch. Entries are kept forever and never edited; the author
        is who writes (the authenticated principal, or the OS user)."""
        return self._registry.add_journal_entry(  # type: ignore[no-any-return]
            name=name, text=text, version=version)

    def journal_entries(self, name: str, version: int | None = None) -> list[JournalEntry]:
        """The journal of ``name`` (all entries) or of one version, oldest first."""
        return self._registry.list_journal_entries(  # type: ignore[no-any-return]
            name=name, version=version)
