"""``modelyard build MODEL@ALIAS -o DIR``: everything needed to run one model version as a
service elsewhere.

    DIR/
      model/version.json        the version (name, number, flavor, digest, files, signature)
      model/<files>             the model files, checked against their sha256 on load
      requirements.txt          pinned: modelyard's dependencies and the model's libraries
      Dockerfile                installs them and runs `modelyard serve --bundle /app/model`
      k8s/deployment.yaml       Deployment + Service (probes on /readyz and /healthz)
      k8s/kserve.yaml           a KServe InferenceService (V2 protocol) running the same image
      README.md

The bundled server keeps its own prediction log under ``MODELYARD_HOME`` (``/data`` in the
image); mount a volume there.
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

__all__ = ["BUNDLE_PREFIX", "Bundle", "build_bundle", "load_bundle", "requirements_of"]

BUNDLE_PREFIX = "bundle:"
VERSION_FILE = "version.json"


@dataclass
class Bundle:
    path: Path
    model: str
    endpoint: str
    files: list[str] = field(default_factory=list)


def _dist_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]


def requirements_of(model_requirements: dict[str, str]) -> list[str]:
    """Pinned requirement lines: modelyard's own dependencies at the versions installed here,
    then the libraries the model was saved with (at the versions it was saved with)."""
    pins: dict[str, str] = {}
    try:
        declared = importlib.metadata.requires("modelyard") or []
    except importlib.metadata.PackageNotFoundError:
        declared = []
    for req in declared:
        if "extra ==" in req:
            continue
        name = _dist_name(req)
        try:
            pins[name.lower()] = f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    for name, version in model_requirements.items():
        if name == "python":
            continue
        pins[name.lower()] = f"{name}=={version}"
    return sorted(pins.values(), key=str.lower)


def build_bundle(yard: Any, ref: str, output: str | Path, *, endpoint: str | None = None,
                 port: int = 8080) -> Bundle:
    """Write the bundle of ``ref`` (see the module docstring) into ``output``."""
    from .endpoints import EndpointConfig, RouteConfig

    version = yard.models.resolve(ref)
    name = endpoint or version.name
    EndpointConfig(name=name, routes=[RouteConfig(model=f"{version.name}/{version.version}")])
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
    python = version.requirements.get("python", "3.11")
    py_minor = ".".join(python.split(".")[:2])
    reqs = requirements_of(version.requirements)
    (out / "requirements.txt").write_text(
        f"# pinned for {version.name}/{version.version} (flavor {version.flavor}); "
        f"modelyard {__version__} itself is installed by the Dockerfile\n" + "\n".join(reqs) + "\n")
    image = f"modelyard-{name}:{version.version}"
    (out / "Dockerfile").write_text(_DOCKERFILE.format(py=py_minor, version=__version__,
                                                       port=port, endpoint=name))
    k8s = out / "k8s"
    k8s.mkdir(exist_ok=True)
    labels = {"app": f"modelyard-{name}", "model": version.name, "version": version.version}
    (k8s / "deployment.yaml").write_text(_DEPLOYMENT.format(name=name, image=image, port=port,
                                                            **labels))
    (k8s / "kserve.yaml").write_text(_KSERVE.format(name=name, image=image, port=port,
                                                    **labels))
    (out / "README.md").write_text(_README.format(ref=f"{version.name}/{version.version}",
                                                  digest=version.digest, name=name,
                                                  image=image, port=port))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return Bundle(out, f"{version.name}/{version.version}", name, files)


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


_DOCKERFILE = """\
FROM python:{py}-slim
WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
# modelyard itself: from your package index, or a wheel you copy in (docker build --build-arg)
ARG MODELYARD_SPEC=modelyard=={version}
RUN pip install --no-cache-dir --no-deps "$MODELYARD_SPEC"
COPY model /app/model
ENV MODELYARD_HOME=/data
VOLUME /data
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz')"
CMD ["modelyard", "serve", "--bundle", "/app/model", "--endpoint", "{endpoint}", "--host", "0.0.0.0", "--port", "{port}"]
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: modelyard-{name}
  labels: {{app: {app}, model: "{model}", model-version: "{version}"}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {app}}}
  template:
    metadata:
      labels: {{app: {app}, model: "{model}", model-version: "{version}"}}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{port}"
        prometheus.io/path: /metrics
    spec:
      containers:
        - name: server
          image: {image}
          ports:
            - {{name: http, containerPort: {port}}}
          readinessProbe:
            httpGet: {{path: /readyz, port: http}}
            periodSeconds: 5
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
            initialDelaySeconds: 10
            periodSeconds: 10
          resources:
            requests: {{cpu: "1", memory: 1Gi}}
            limits: {{memory: 2Gi}}
          volumeMounts:
            - {{name: predlog, mountPath: /data}}
      volumes:
        - name: predlog
          emptyDir: {{}}
---
apiVersion: v1
kind: Service
metadata:
  name: modelyard-{name}
  labels: {{app: {app}}}
spec:
  selector: {{app: {app}}}
  ports:
    - {{name: http, port: 80, targetPort: {port}}}
"""

_KSERVE = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  labels: {{model: "{model}", model-version: "{version}"}}
spec:
  predictor:
    containers:
      - name: kserve-container
        image: {image}
        ports:
          - {{containerPort: {port}, protocol: TCP}}
        env:
          - {{name: PROTOCOL, value: v2}}
        readinessProbe:
          httpGet: {{path: /v2/health/ready, port: {port}}}
        livenessProbe:
          httpGet: {{path: /v2/health/live, port: {port}}}
"""

_README = """\
# {ref} as a service

Model digest: `{digest}`.

    docker build -t {image} .            # add --build-arg MODELYARD_SPEC=/path/to.whl if needed
    docker run -p {port}:{port} {image}
    curl -X POST localhost:{port}/predict/{name} -H 'content-type: application/json' \\
         -d '{{"records": [{{...one row...}}]}}'

Open Inference Protocol: `POST /v2/models/{name}/infer`. Probes: `/healthz`, `/readyz`.
Metrics: `/metrics`. Kubernetes: `kubectl apply -f k8s/deployment.yaml` (or `k8s/kserve.yaml`).
Without Docker: `pip install -r requirements.txt modelyard` then
`modelyard serve --bundle model --endpoint {name} --port {port}`.
"""
