"""``modelyard build MODEL@ALIAS -o DIR``: everything needed to run one model version as a
service elsewhere.

    DIR/
      model/version.json        the version (name, number, flavor, digest, files, signature)
      model/<files>             the model files, checked against their sha256 on load
      requirements.txt          pinned: what the server and the model's libraries import, with
                                everything they pull in (not every modelyard dependency)
      wheels/                   modelyard's wheel when given (``--wheel``), else empty: the
                                Dockerfile copies it and installs MODELYARD_SPEC from there
      Dockerfile                installs them and runs `modelyard serve --bundle /app/model`
      k8s/statefulset.yaml      StatefulSet + Service: each pod keeps its write-ahead log on a
                                PersistentVolumeClaim of its own (probes on /readyz, /healthz)
      k8s/kserve.yaml           a KServe InferenceService (V2 protocol) with the log on a
                                ReadWriteMany claim
      README.md

The bundled server writes its prediction log durably to the volume and ships the compacted
Parquet to ``MODELYARD_PREDICTION_LOG_URL`` (``--log-url``; by default the yard's own store
when it is reachable from elsewhere), where the yard's monitoring reads it. A pod restart loses
nothing: the log's segments stay on the claim and are compacted by the next server.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..artifacts.store import check_relative_path, sha256_file
from ..errors import IntegrityError, InvalidParameter

__all__ = ["BUNDLE_PREFIX", "SERVER_REQUIREMENTS", "Bundle", "build_bundle", "load_bundle",
           "requirements_of"]

BUNDLE_PREFIX = "bundle:"
VERSION_FILE = "version.json"
WHEELS = "wheels"

#: What ``modelyard serve --bundle`` imports besides the model's own libraries (the flavor's
#: requirements, recorded with the version). ``tests/serving/test_build.py`` runs a bundle's
#: server with every other distribution hidden, so a missing one fails there.
SERVER_REQUIREMENTS = (
    "alembic", "fsspec", "numpy", "orjson", "pandas", "polars", "prometheus-client", "psutil",
    "pyarrow", "pydantic", "pyyaml", "rich", "sqlalchemy", "typer", "uuid-utils",
    "uvicorn[standard]",
)

#: the fsspec implementation a log URL needs, by scheme
_FILESYSTEMS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
                "abfs": "adlfs", "abfss": "adlfs"}


@dataclass
class Bundle:
    path: Path
    model: str
    endpoint: str
    files: list[str] = field(default_factory=list)
    log_url: str | None = None


def requirements_of(model_requirements: dict[str, str],
                    extra: tuple[str, ...] = ()) -> list[str]:
    """Pinned requirement lines: the server's requirements (:data:`SERVER_REQUIREMENTS`), the
    libraries the model was saved with (at the versions it was saved with) and ``extra``, with
    every distribution they require in this environment (at the versions installed here). A
    requirement not installed here is listed without a pin."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    saved = {canonicalize_name(k): v for k, v in model_requirements.items() if k != "python"}
    roots = [*SERVER_REQUIREMENTS, *model_requirements.keys() - {"python"}, *extra]
    todo = [Requirement(r) for r in roots]
    extras: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    env = default_environment()
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in extras and set(req.extras) <= extras[key]:
            continue
        wanted = extras.setdefault(key, set()) | set(req.extras)
        extras[key] = wanted
        names.setdefault(key, req.name)
        try:
            declared = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in declared:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({**env, "extra": e})
                                         for e in (wanted or {""})):
                todo.append(sub)
    lines = []
    for key, name in names.items():
        version = saved.get(key)
        if version is None:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                lines.append(f"{name}  # not installed where the bundle was built: pin it")
                continue
        spec = f"[{','.join(sorted(extras[key]))}]" if extras[key] else ""
        lines.append(f"{name}{spec}=={version}")
    return sorted(lines, key=str.lower)


def _default_log_url(yard: Any) -> str | None:
    """Where the yard reads compacted logs, when a pod elsewhere can reach it (not a folder
    of this machine)."""
    settings = yard.settings
    url = settings.prediction_log_url or (
        None if yard.backend.is_remote else settings.artifacts_url)
    if url and "://" in url and not url.startswith(("file://", "memory://", "local://")):
        return str(url)
    return None


def build_bundle(yard: Any, ref: str, output: str | Path, *, endpoint: str | None = None,
                 port: int = 8080, log_url: str | None = None, wheel: str | Path | None = None,
                 log_volume: str = "10Gi") -> Bundle:
    """Write the bundle of ``ref`` (see the module docstring) into ``output``.

    ``log_url``: where the bundled server ships its compacted prediction log (default: the
    yard's store, when a pod can reach it). ``wheel``: a modelyard wheel to install in the
    image (copied into ``wheels/``). ``log_volume``: the size of each pod's log claim."""
    from .endpoints import EndpointConfig, RouteConfig

    version = yard.models.resolve(ref)
    name = endpoint or version.name
    EndpointConfig(name=name, routes=[RouteConfig(model=f"{version.name}/{version.version}")])
    log_url = log_url or _default_log_url(yard)
    if log_url is not None and not _URL.fullmatch(log_url):
        raise InvalidParameter("The log URL must be an fsspec URL such as s3://bucket/yard. "
                               f"Got {log_url!r} instead.", field="log_url")
    if not _QUANTITY.fullmatch(log_volume):
        raise InvalidParameter("The log volume must be a Kubernetes quantity such as 10Gi. "
                               f"Got {log_volume!r} instead.", field="log_volume")
    wheel_path = None if wheel is None else Path(wheel)
    if wheel_path is not None and (not wheel_path.is_file()
                                   or not _WHEEL.fullmatch(wheel_path.name)):
        raise InvalidParameter("The wheel must be an existing modelyard-*.whl file. Got "
                               f"{str(wheel_path)!r} instead.", field="wheel")
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise InvalidParameter(f"The output folder must be empty or new. Got {str(out)!r}, "
                               "which has files.", field="output")
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    loaded = yard.models.load(f"{version.name}/{version.version}")  # fetches and checks files
    for file_name in version.files:
        rel = check_relative_path(file_name, field="files")
        target = model_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(loaded.path) / rel, target)
    (model_dir / VERSION_FILE).write_text(version.model_dump_json(indent=2))
    (out / WHEELS).mkdir(exist_ok=True)
    spec = f"modelyard=={__version__}"
    if wheel_path is not None:
        shutil.copyfile(wheel_path, out / WHEELS / wheel_path.name)
        spec = f"/app/{WHEELS}/{wheel_path.name}"
    else:
        (out / WHEELS / "README").write_text(
            "Put a modelyard wheel here and build with\n"
            "  docker build --build-arg MODELYARD_SPEC=/app/wheels/<the wheel's file name> .\n")
    python = version.requirements.get("python", "3.11")
    py_minor = ".".join(python.split(".")[:2])
    scheme = log_url.split("://", 1)[0] if log_url else ""
    reqs = requirements_of(version.requirements,
                           (_FILESYSTEMS[scheme],) if scheme in _FILESYSTEMS else ())
    (out / "requirements.txt").write_text(
        f"# pinned for {version.name}/{version.version} (flavor {version.flavor}): what the "
        f"server and the model import;\n# modelyard {__version__} itself is installed by the "
        "Dockerfile (pip install --no-deps)\n" + "\n".join(reqs) + "\n")
    image = f"modelyard-{name}:{version.version}"
    (out / "Dockerfile").write_text(_DOCKERFILE.format(py=py_minor, spec=spec, port=port,
                                                       endpoint=name))
    k8s = out / "k8s"
    k8s.mkdir(exist_ok=True)
    server = _Server(name, image, port, version.name, str(version.version), log_url)
    (k8s / "statefulset.yaml").write_text(_dump_all(server.statefulset(log_volume),
                                                    server.service()))
    (k8s / "kserve.yaml").write_text(_dump_all(server.shared_claim(log_volume),
                                               server.inference_service()))
    (out / "README.md").write_text(_README.format(
        ref=f"{version.name}/{version.version}", digest=version.digest, name=name, image=image,
        port=port, log=f"`{log_url}`" if log_url else _NO_LOG_URL))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return Bundle(out, f"{version.name}/{version.version}", name, files, log_url)


def load_bundle(folder: str | Path) -> Any:
    """The ``LoadedModel`` of a bundle's ``model/`` folder, every file checked against the
    digest recorded for it."""
    from ..registry.entities import ModelVersion, manifest_digest
    from ..registry.flavors.base import get_flavor
    from ..registry.models import LoadedModel

    path = Path(folder)
    meta = path / VERSION_FILE
    if not meta.is_file():
        raise InvalidParameter(f"A bundle's model folder must hold {VERSION_FILE}. Got "
                               f"{str(path)!r} without it.", field="bundle")
    version = ModelVersion.model_validate_json(meta.read_text())
    if manifest_digest(version.manifest()) != version.digest:
        raise IntegrityError(f"The bundle at {str(path)!r} has a manifest that does not match "
                             f"its digest {version.digest}.")
    for file_name, digest in version.files.items():
        target = path / check_relative_path(file_name, field="files")
        if not target.is_file() or sha256_file(target) != digest:
            raise IntegrityError(f"Bundle file {file_name!r} is missing or does not match its "
                                 f"sha256 {digest}. Refusing to load it.")
    predictor = get_flavor(version.flavor).load(path, dict(version.options))
    return LoadedModel(version, predictor, path)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'`$\\]+")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_WHEEL = re.compile(r"modelyard-[A-Za-z0-9_.+!]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-"
                    r"[A-Za-z0-9_.]+\.whl")
_HOME = "/var/lib/modelyard"  # the server's own small database: pod-local
_LOG_MOUNT = "/data"  # the write-ahead log: on the claim


def _dump_all(*docs: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False)


@dataclass
class _Server:
    """The Kubernetes objects of one bundle (dicts, written with yaml.safe_dump)."""

    name: str
    image: str
    port: int
    model: str
    version: str
    log_url: str | None

    @property
    def app(self) -> str:
        return f"modelyard-{self.name}"

    def labels(self) -> dict[str, str]:
        return {"app": self.app, "model": self.model, "model-version": self.version}

    def container(self, probes: tuple[str, str]) -> dict[str, Any]:
        env = [{"name": "MODELYARD_HOME", "value": _HOME},
               {"name": "MODELYARD_PREDICTION_LOG_DIR", "value": f"{_LOG_MOUNT}/predlog"}]
        if self.log_url:
            env.append({"name": "MODELYARD_PREDICTION_LOG_URL", "value": self.log_url})
        return {
            "name": "server" if probes[0] == "/readyz" else "kserve-container",
            "image": self.image,
            "ports": [{"name": "http", "containerPort": self.port, "protocol": "TCP"}],
            "env": env,
            # credentials of the log's store (AWS_ACCESS_KEY_ID …), when it needs them
            "envFrom": [{"secretRef": {"name": "modelyard-log-store", "optional": True}}],
            "readinessProbe": {"httpGet": {"path": probes[0], "port": self.port},
                               "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": probes[1], "port": self.port},
                              "initialDelaySeconds": 10, "periodSeconds": 10},
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                          "limits": {"memory": "2Gi"}},
            "volumeMounts": [{"name": "predlog", "mountPath": _LOG_MOUNT},
                             {"name": "home", "mountPath": _HOME}],
        }

    def statefulset(self, size: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": self.app, "labels": self.labels()},
            "spec": {
                "serviceName": self.app,
                "replicas": 2,
                "selector": {"matchLabels": {"app": self.app}},
                "template": {
                    "metadata": {"labels": self.labels(), "annotations": {
                        "prometheus.io/scrape": "true", "prometheus.io/port": str(self.port),
                        "prometheus.io/path": "/metrics"}},
                    "spec": {
                        # the server compacts (and ships) its log when it stops
                        "terminationGracePeriodSeconds": 60,
                        "containers": [self.container(("/readyz", "/healthz"))],
                        "volumes": [{"name": "home", "emptyDir": {}}],
                    },
                },
                # one claim per pod, kept across restarts and rescheduling: its log survives
                "volumeClaimTemplates": [{
                    "metadata": {"name": "predlog"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": size}}},
                }],
            },
        }

    def service(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": self.app, "labels": {"app": self.app}},
            "spec": {"selector": {"app": self.app},
                     "ports": [{"name": "http", "port": 80, "targetPort": self.port}]},
        }

    def shared_claim(self, size: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{self.app}-predlog", "labels": {"app": self.app}},
            # the replicas share it, as the workers of one server do: it needs flock (NFSv4,
            # CephFS …)
            "spec": {"accessModes": ["ReadWriteMany"],
                     "resources": {"requests": {"storage": size}}},
        }

    def inference_service(self) -> dict[str, Any]:
        container = self.container(("/v2/health/ready", "/v2/health/live"))
        container["env"].append({"name": "PROTOCOL", "value": "v2"})
        del container["resources"]
        return {
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": self.name, "labels": {"model": self.model,
                                                       "model-version": self.version}},
            "spec": {"predictor": {
                "containers": [container],
                "volumes": [
                    {"name": "predlog",
                     "persistentVolumeClaim": {"claimName": f"{self.app}-predlog"}},
                    {"name": "home", "emptyDir": {}},
                ],
            }},
        }


_DOCKERFILE = """\
FROM python:{py}-slim
WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
# modelyard itself: from your package index, or a wheel in wheels/
# (docker build --build-arg MODELYARD_SPEC=/app/wheels/<file>.whl)
COPY wheels /app/wheels
ARG MODELYARD_SPEC={spec}
RUN pip install --no-cache-dir --no-deps "$MODELYARD_SPEC"
COPY model /app/model
ENV MODELYARD_HOME=/data
VOLUME /data
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz')"
CMD ["modelyard", "serve", "--bundle", "/app/model", "--endpoint", "{endpoint}", "--host", "0.0.0.0", "--port", "{port}"]
"""

_NO_LOG_URL = ("not set: give `modelyard build --log-url s3://…` (the yard's store), or set "
               "`MODELYARD_PREDICTION_LOG_URL` in the manifests; until then the log stays on "
               "the volume")

_README = """\
# {ref} as a service

Model digest: `{digest}`.

    docker build -t {image} .
    docker run -p {port}:{port} -v modelyard-{name}:/data {image}
    curl -X POST localhost:{port}/predict/{name} -H 'content-type: application/json' \\
         -d '{{"records": [{{...one row...}}]}}'

modelyard itself is installed from your package index (`modelyard==` this version), or from a
wheel: copy it into `wheels/` and add `--build-arg MODELYARD_SPEC=/app/wheels/<its file name>`
(`modelyard build --wheel PATH` does both).

Open Inference Protocol: `POST /v2/models/{name}/infer`. Probes: `/healthz`, `/readyz`.
Metrics: `/metrics`. Kubernetes: `kubectl apply -f k8s/statefulset.yaml` (each pod keeps its
prediction log on a PersistentVolumeClaim of its own) or `k8s/kserve.yaml` (a ReadWriteMany
claim shared by the replicas). Compacted predictions are shipped to {log};
credentials of that store go in the secret `modelyard-log-store` (e.g. `AWS_ACCESS_KEY_ID`).
Without Docker: `pip install -r requirements.txt` and modelyard, then
`modelyard serve --bundle model --endpoint {name} --port {port}`.
"""
