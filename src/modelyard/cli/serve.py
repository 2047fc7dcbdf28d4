"""``modelyard serve`` (the model server) and ``modelyard build`` (a deployable bundle)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import typer

_SPEC_ENV = "MODELYARD_SERVE_SPEC"


def _settings(home: Path | None) -> Any:
    """The settings of this invocation: the global --home/--db/--remote, this command's --home."""
    from ._context import settings_of

    return settings_of(None, home=home)


def _server_spec(model: list[str], config: Path | None, durability: str, auth: bool | None,
                 poll_interval: float, max_request_bytes: int | None, access_log: bool,
                 home: Path | None, bundle: Path | None = None,
                 endpoint: str | None = None) -> dict[str, Any]:
    from ..serving.endpoints import endpoint_from_ref, load_endpoints

    endpoints = [endpoint_from_ref(m) for m in model]
    if bundle is not None:
        from ..serving.build import VERSION_FILE

        meta = bundle / VERSION_FILE
        if not meta.is_file():
            raise typer.BadParameter(f"--bundle must be a bundle's model folder (with "
                                     f"{VERSION_FILE}); got {str(bundle)!r}")
        name = endpoint or json.loads(meta.read_text())["name"]
        endpoints.append(endpoint_from_ref(f"{name}=bundle:{bundle.resolve()}"))
    if config is not None:
        endpoints.extend(load_endpoints(config))
    if not endpoints:
        raise typer.BadParameter("give at least one --model REF or a --config file")
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise typer.BadParameter(f"endpoint names must be unique; got {names}")
    return {
        "endpoints": [e.model_dump(mode="json") for e in endpoints],
        "durability": durability, "auth": auth, "poll_interval": poll_interval,
        "max_request_bytes": max_request_bytes, "access_log": access_log,
        # every worker process rebuilds exactly these settings (global options included)
        "settings": _settings(home).model_dump(mode="json"),
    }


def build_app(spec: dict[str, Any]) -> Any:
    """The model server app for a spec made by ``modelyard serve`` (one per worker)."""
    import modelyard as my

    from ..config import Settings
    from ..serving.app import create_app
    from ..serving.endpoints import EndpointConfig
    from ..serving.options import ServerOptions

    settings = Settings.model_validate(spec["settings"])
    yard = my.connect(settings=settings)
    options = ServerOptions(
        durability=spec.get("durability") or settings.durability,
        max_request_bytes=spec.get("max_request_bytes") or settings.max_request_bytes,
        auth_enabled=settings.auth_enabled if spec.get("auth") is None else bool(spec["auth"]),
        poll_interval=float(spec.get("poll_interval") or 2.0),
        access_log=bool(spec.get("access_log")),
        multiprocess_metrics=bool(spec.get("multiprocess_metrics")),
    )
    endpoints = [EndpointConfig.model_validate(e) for e in spec["endpoints"]]
    return create_app(yard, endpoints, options)


def worker_app() -> Any:
    """uvicorn's app factory in each worker process (``--workers N``): the entry point of a
    worker, so it reads its spec from the environment the parent set."""
    return build_app(json.loads(os.environ[_SPEC_ENV]))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command()
    def serve(
        model: list[str] = typer.Option([], "--model", "-m", help="A model to serve: "
                                        "'loans@production', 'loans/3', or 'endpoint=loans/3'. "
                                        "Repeat for more endpoints."),
        config: Path | None = typer.Option(None, "--config", "-c",
                                              help="An endpoints YAML file."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        workers: int = typer.Option(1, min=1, help="Worker processes."),
        durability: str = typer.Option("durable", help="durable (answer after the prediction "
                                       "is fsync'd), async, or off (no prediction log)."),
        auth: bool | None = typer.Option(None, "--auth/--no-auth", help="Require a bearer "
                                            "token (default: the yard's auth_enabled)."),
        poll_interval: float = typer.Option(2.0, help="Seconds between alias/canary checks."),
        max_request_bytes: int | None = typer.Option(None, help="Largest request body."),
        access_log: bool = typer.Option(False, help="Log every request (JSON)."),
        bundle: Path | None = typer.Option(None, help="Serve the model folder of a bundle "
                                              "made by `modelyard build`."),
        endpoint: str | None = typer.Option(None, help="Endpoint name for --bundle."),
        log_level: str = typer.Option("info", help="debug, info, warning, error."),
        home: Path | None = typer.Option(None, help="The yard's home folder."),
    ) -> None:
        """Serve models over HTTP: POST /predict/<endpoint>, the Open Inference Protocol
        (/v2/models/<endpoint>/infer), /metrics, /healthz, /readyz."""
        import uvicorn

        from ..serving.logs import logging_config

        if durability not in ("durable", "async", "off"):
            raise typer.BadParameter(f"--durability must be durable, async or off; got "
                                     f"{durability!r}")
        spec = _server_spec(model, config, durability, auth, poll_interval, max_request_bytes,
                            access_log, home, bundle, endpoint)
        log_config = logging_config(log_level)
        common: dict[str, Any] = {
            "host": host, "port": port, "log_config": log_config, "access_log": False,
            "lifespan": "on", "loop": "auto", "http": "auto", "timeout_graceful_shutdown": 10,
        }
        if workers == 1:
            uvicorn.run(build_app(spec), **common)
            return
        os.environ[_SPEC_ENV] = json.dumps({**spec, "multiprocess_metrics": True})
        metrics_dir = tempfile.mkdtemp(prefix="modelyard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run("modelyard.cli.serve:worker_app", factory=True, workers=workers, **common)

    @app.command()
    def build(
        ref: str = typer.Argument(..., help="The model to bundle, e.g. loans@production."),
        output: Path = typer.Option(..., "--output", "-o", help="The folder to write."),
        endpoint: str | None = typer.Option(None, help="Endpoint name (default: the "
                                               "model name)."),
        port: int = typer.Option(8080, help="Port the bundled server listens on."),
        home: Path | None = typer.Option(None, help="The yard's home folder."),
    ) -> None:
        """Write a deployable bundle: the model, pinned requirements, a Dockerfile running
        `modelyard serve`, Kubernetes manifests (Deployment + Service, KServe)."""
        import modelyard as my

        from ..serving.build import build_bundle

        with my.connect(settings=_settings(home)) as yard:
            bundle = build_bundle(yard, ref, output, endpoint=endpoint, port=port)
        typer.echo(f"wrote {bundle.model} as endpoint {bundle.endpoint!r} to {bundle.path}")
        for f in bundle.files:
            typer.echo(f"  {f}")
