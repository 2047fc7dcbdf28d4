"""``modelyard init``, ``db upgrade``, ``server`` and ``version``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ._context import command_group, settings_of
from ._render import JSON_OPTION, print_json

__all__ = ["register", "server_app"]


def server_app() -> Any:
    """The ASGI app of ``modelyard server`` built from ``MODELYARD_*`` settings: the factory each
    uvicorn worker process calls (``--workers N``), with the dashboard at ``/ui``."""
    from ..config import Settings

    return _build_server_app(Settings.load())


def _build_server_app(settings: Any) -> Any:
    import modelyard as my

    from ..api.app import create_app

    yard = my.connect(settings=settings)
    return create_app(yard, settings, **_dashboard())


def _dashboard() -> dict[str, Any]:
    """How the dashboard plugs into the server: ``install(app)``, its public login page."""
    from ..ui import app as ui

    return {
        "extensions": [ui.install],
        "public_paths": ui.PUBLIC_PATHS,
        "login_path": f"{ui.PREFIX}/login",
    }


def _where(settings: Any) -> dict[str, str]:
    return {
        "home": str(settings.home.resolve()),
        "database": settings.resolved_database_url,
        "artifacts": settings.resolved_artifacts_url,
    }


def register(app: typer.Typer) -> None:
    """Add ``init``, ``db``, ``server`` and ``version`` to ``app``."""

    @app.command()
    def version() -> None:
        """Print the modelyard version."""
        from .. import __version__

        typer.echo(__version__)

    @app.command()
    def init(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
        """Create the yard (its folder, database schema and artifact store) and say where."""
        from ..artifacts.store import open_artifact_store
        from ..store.database import open_database

        settings = settings_of(ctx)
        _local_only(settings, "init")
        settings.home.mkdir(parents=True, exist_ok=True)
        open_database(settings.resolved_database_url).dispose()
        open_artifact_store(settings.resolved_artifacts_url)
        where = _where(settings)
        if json:
            print_json(where)
            return
        typer.echo(f"Initialised a modelyard yard in {where['home']}")
        typer.echo(f"  database:  {_hide_password(where['database'])}")
        typer.echo(f"  artifacts: {where['artifacts']}")

    db = command_group(app, "db", "The metadata database.")

    @db.command("upgrade")
    def db_upgrade(ctx: typer.Context) -> None:
        """Apply every pending schema migration (a no-op when the schema is current)."""
        from alembic.runtime.migration import MigrationContext

        from ..store.database import create_engine
        from ..store.migrate import upgrade

        settings = settings_of(ctx)
        _local_only(settings, "db upgrade")
        engine = create_engine(settings.resolved_database_url)

        def revisions() -> set[str]:
            with engine.connect() as conn:
                return set(MigrationContext.configure(conn).get_current_heads())

        try:
            before = revisions()
            upgrade(engine)
            after = revisions()
        finally:
            engine.dispose()
        state = (
            f"upgraded to {', '.join(sorted(after))}"
            if after != before
            else "already at the newest schema"
        )
        typer.echo(f"{_hide_password(settings.resolved_database_url)}: {state}")

    @app.command()
    def server(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0: all)."),
        port: int = typer.Option(8080, min=1, max=65535, help="TCP port."),
        workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
        auth: bool = typer.Option(
            False,
            "--auth/--no-auth",
            help="Require a bearer token on every request (create one with "
            "'modelyard tokens create --user NAME --role admin').",
        ),
        log_level: str = typer.Option("info", help="uvicorn log level."),
        home: Annotated[Path | None, typer.Option(
            "--home", help="The yard's folder (the same as 'modelyard --home DIR server').")
        ] = None,
        tls_cert: Annotated[Path | None, typer.Option(
            help="Serve HTTPS with this PEM certificate (chain); needs --tls-key. The "
            "dashboard's cookies are then Secure.")] = None,
        tls_key: Annotated[Path | None, typer.Option(
            help="The PEM private key of --tls-cert.")] = None,
    ) -> None:
        """Run the REST API (and the dashboard) over this yard's database and artifacts.

        The OpenAPI spec is at /openapi.json and browsable at /docs.
        """
        import uvicorn

        from .serve import check_tls

        tls = check_tls(tls_cert, tls_key)
        settings = settings_of(ctx, home=home)
        _local_only(settings, "server")
        if auth:
            settings = settings.model_copy(update={"auth_enabled": True})
        database = _hide_password(settings.resolved_database_url)
        typer.echo(
            f"modelyard server on {'https' if tls else 'http'}://{host}:{port} over {database}"
            f"{' (bearer tokens required)' if settings.auth_enabled else ''}; docs at /docs",
            err=True,
        )
        if workers == 1:
            uvicorn.run(_build_server_app(settings), host=host, port=port, log_level=log_level,
                        **tls)
            return
        from .serve import WORKER_START_S

        # Each worker process builds its own app from the environment: pass the settings there.
        for name, value in settings.model_dump().items():
            if value is not None:
                os.environ[f"MODELYARD_{name.upper()}"] = str(value)
        uvicorn.run(
            "modelyard.cli.core:server_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            timeout_worker_healthcheck=WORKER_START_S,
            **tls,
        )


def _local_only(settings: Any, command: str) -> None:
    from ..errors import InvalidParameter

    if (settings.database_url or "").startswith(("http://", "https://")):
        raise InvalidParameter(
            f"'modelyard {command}' works on a database, not on a remote server. "
            f"Got --remote {settings.database_url} instead.",
            field="remote",
        )


def _hide_password(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
