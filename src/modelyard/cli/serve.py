"""``modelyard serve`` (the model server) and ``modelyard build`` (a deployable bundle)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

_SPEC_ENV = "MODELYARD_SERVE_SPEC"
# uvicorn kills a worker that does not answer its health ping within this many seconds, and a
# worker answers only once it has imported the app: 5 s (uvicorn's default) is less than a
# worker's imports take on a busy host, which then kills and respawns workers forever.
WORKER_START_S = 120


def _settings(home: Path | None) -> Any:
    """The settings of this invocation: the global --home/--db/--remote, this command's --home."""
    from ._context import settings_of

    return settings_of(None, home=home)


def _configured(model: list[str], config: Path | None, bundle: Path | None,
                endpoint: str | None) -> list[tuple[Any, str]]:
    """The endpoints of the command line, each with the option it came from."""
    from ..serving.endpoints import endpoint_from_ref, load_endpoints

    out = [(endpoint_from_ref(m), f"--model {m}") for m in model]
    if bundle is not None:
        from ..serving.build import VERSION_FILE

        meta = bundle / VERSION_FILE
        if not meta.is_file():
            raise typer.BadParameter(f"--bundle must be a bundle's model folder (with "
                                     f"{VERSION_FILE}); got {str(bundle)!r}")
        name = endpoint or json.loads(meta.read_text())["name"]
        out.append((endpoint_from_ref(f"{name}=bundle:{bundle.resolve()}"), f"--bundle {bundle}"))
    if config is not None:
        out.extend((e, f"--config {config}") for e in load_endpoints(config))
    if not out:
        raise typer.BadParameter("give at least one --model REF or a --config file")
    names = [e.name for e, _ in out]
    if len(set(names)) != len(names):
        raise typer.BadParameter(f"endpoint names must be unique; got {names}")
    return out


def _server_spec(configured: list[tuple[Any, str]], settings: Any, **options: Any
                 ) -> dict[str, Any]:
    return {
        "endpoints": [e.model_dump(mode="json") for e, _ in configured], **options,
        # every worker process rebuilds exactly these settings (global options included)
        "settings": settings.model_dump(mode="json"),
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
        scope=spec.get("scope") or "default",
        multiprocess_metrics=bool(spec.get("multiprocess_metrics")),
        grpc_port=spec.get("grpc_port"),
        grpc_host=spec.get("host") or "127.0.0.1",
        tls_cert=Path(spec["tls_cert"]) if spec.get("tls_cert") else None,
        tls_key=Path(spec["tls_key"]) if spec.get("tls_key") else None,
    )
    endpoints = [EndpointConfig.model_validate(e) for e in spec["endpoints"]]
    return create_app(yard, endpoints, options)


def worker_app() -> Any:
    """uvicorn's app factory in each worker process (``--workers N``): the entry point of a
    worker, so it reads its spec from the environment the parent set."""
    return build_app(json.loads(os.environ[_SPEC_ENV]))


def check_tls(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS options for ``--tls-cert/--tls-key`` (both or neither, readable PEM
    files); empty for plain HTTP."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise typer.BadParameter("--tls-cert and --tls-key go together (a PEM certificate and "
                                 f"its key); got only {'--tls-cert' if key is None else '--tls-key'}")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        try:
            head = path.read_bytes()[:4096]
        except OSError as exc:
            raise typer.BadParameter(f"{flag} {str(path)!r} cannot be read ({exc.strerror})"
                                     ) from exc
        if b"-----BEGIN " not in head:
            raise typer.BadParameter(f"{flag} {str(path)!r} is not a PEM file")
    return {"ssl_certfile": str(cert.resolve()), "ssl_keyfile": str(key.resolve())}


def _run(spec: dict[str, Any], host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    from ..serving.logs import logging_config

    common: dict[str, Any] = {
        "host": host, "port": port, "log_config": logging_config(log_level),
        "access_log": False, "lifespan": "on", "loop": "auto", "http": "auto",
        "timeout_graceful_shutdown": 10,
        **({"ssl_certfile": spec["tls_cert"], "ssl_keyfile": spec["tls_key"]}
           if spec.get("tls_cert") else {}),
    }
    if workers == 1:
        uvicorn.run(build_app(spec), **common)
        return
    os.environ[_SPEC_ENV] = json.dumps({**spec, "multiprocess_metrics": True})
    metrics_dir = tempfile.mkdtemp(prefix="modelyard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    uvicorn.run("modelyard.cli.serve:worker_app", factory=True, workers=workers,
                timeout_worker_healthcheck=WORKER_START_S, **common)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command()
    def serve(
        model: Annotated[list[str] | None, typer.Option(
            "--model", "-m", help="A model to serve: 'loans@production', 'loans/3', or "
            "'endpoint=loans/3'. Repeat for more endpoints.")] = None,
        config: Annotated[Path | None, typer.Option(
            "--config", "-c", help="An endpoints YAML file.")] = None,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        grpc_port: Annotated[int | None, typer.Option(
            min=0, max=65535, help="Also serve the Open Inference Protocol over gRPC (KServe V2) "
            "on this port, e.g. 8081.")] = None,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
        durability: Annotated[str, typer.Option(
            help="durable (answer after the prediction is fsync'd), async, or off (no "
            "prediction log).")] = "durable",
        auth: Annotated[bool | None, typer.Option(
            "--auth/--no-auth", help="Require a bearer token (default: the yard's "
            "auth_enabled).")] = None,
        poll_interval: Annotated[float, typer.Option(
            help="Seconds between alias/canary checks.")] = 2.0,
        max_request_bytes: Annotated[int | None, typer.Option(
            help="Largest request body.")] = None,
        access_log: Annotated[bool, typer.Option(help="Log every request (JSON).")] = False,
        bundle: Annotated[Path | None, typer.Option(
            help="Serve the model folder of a bundle made by `modelyard build`.")] = None,
        endpoint: Annotated[str | None, typer.Option(help="Endpoint name for --bundle.")] = None,
        scope: Annotated[str, typer.Option(
            help="Endpoints declared through this server's API are stored under this scope "
            "and served by every server started with it (see `modelyard endpoints list`).")
        ] = "default",
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Print the endpoints this server would serve, then exit.")
        ] = False,
        log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
        home: Annotated[Path | None, typer.Option(help="The yard's home folder.")] = None,
        tls_cert: Annotated[Path | None, typer.Option(
            help="Serve HTTPS (and TLS on --grpc-port) with this PEM certificate (chain); "
            "needs --tls-key.")] = None,
        tls_key: Annotated[Path | None, typer.Option(
            help="The PEM private key of --tls-cert.")] = None,
    ) -> None:
        """Serve models over HTTP: POST /predict/<endpoint>, the Open Inference Protocol
        (/v2/models/<endpoint>/infer), /metrics, /healthz, /readyz; with --grpc-port, the
        Open Inference Protocol over gRPC as well.

        It serves the endpoints of its command line and those declared earlier through the
        API of a server of the same --scope, and says which before it starts. A model
        reference that does not resolve is an error."""
        import modelyard as my

        from ..serving.options import ServerOptions
        from ..serving.plan import format_plan, plan_endpoints

        if durability not in ("durable", "async", "off"):
            raise typer.BadParameter(f"--durability must be durable, async or off; got "
                                     f"{durability!r}")
        ServerOptions(scope=scope)  # refuses a bad scope name before anything starts
        tls = check_tls(tls_cert, tls_key)
        configured = _configured(model or [], config, bundle, endpoint)
        settings = _settings(home)
        with my.connect(settings=settings) as yard:
            plan = plan_endpoints(yard, configured, scope)
        typer.echo(format_plan(plan, scope), err=True)
        if dry_run:
            return
        spec = _server_spec(configured, settings, durability=durability, auth=auth,
                            poll_interval=poll_interval, max_request_bytes=max_request_bytes,
                            access_log=access_log, scope=scope, grpc_port=grpc_port,
                            host=host, tls_cert=tls.get("ssl_certfile"),
                            tls_key=tls.get("ssl_keyfile"))
        _run(spec, host, port, workers, log_level)

    @app.command()
    def build(
        ref: Annotated[str, typer.Argument(help="The model to bundle, e.g. loans@production.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="The folder to write.")],
        endpoint: Annotated[str | None, typer.Option(
            help="Endpoint name (default: the model name).")] = None,
        port: Annotated[int, typer.Option(help="Port the bundled server listens on.")] = 8080,
        log_url: Annotated[str | None, typer.Option(
            help="Where the bundled server ships its compacted prediction log, e.g. "
            "s3://bucket/yard (default: this yard's store, when it is not a local folder).")
        ] = None,
        wheel: Annotated[Path | None, typer.Option(
            help="A modelyard wheel to install in the image (copied into the bundle).")] = None,
        log_volume: Annotated[str, typer.Option(
            help="Size of each pod's prediction-log volume claim.")] = "10Gi",
        home: Annotated[Path | None, typer.Option(help="The yard's home folder.")] = None,
    ) -> None:
        """Write a deployable bundle: the model, pinned requirements, a Dockerfile running
        `modelyard serve`, Kubernetes manifests (StatefulSet + Service, KServe)."""
        import modelyard as my

        from ..serving.build import build_bundle

        with my.connect(settings=_settings(home)) as yard:
            bundle = build_bundle(yard, ref, output, endpoint=endpoint, port=port,
                                  log_url=log_url, wheel=wheel, log_volume=log_volume)
        typer.echo(f"wrote {bundle.model} as endpoint {bundle.endpoint!r} to {bundle.path}")
        for f in bundle.files:
            typer.echo(f"  {f}")
        if bundle.log_url is None:
            typer.echo("note: no --log-url: the bundle keeps its prediction log on its volume "
                       "(set MODELYARD_PREDICTION_LOG_URL to ship it to the yard)", err=True)
