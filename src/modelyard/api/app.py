"""The REST server: ``create_app(yard_or_backend, settings)`` -> a FastAPI app.

    /healthz                     liveness (public)
    /openapi.json, /docs         the spec and its browsable docs (public)
    /api/v1/...                  one route per ``@endpoint`` method of every store
    /api/v1/blobs/{digest}       streamed blob upload/download

The server runs over a LOCAL backend (database + artifact store), and delivers the alert
webhooks queued in its database in a background thread while it runs. Other faces plug in with
``extensions``: callables ``(app) -> None`` run after the API routes are added, e.g. the dashboard
(``app.mount("/ui", …)``) or a Parquet streaming route (``app.include_router(router,
prefix=API_PREFIX)``). Routes added that way get the same auth and error JSON.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request

from .. import __version__
from ..access import requires
from ..config import Settings
from ..errors import InvalidParameter
from .auth import PUBLIC_PATHS, AuthMiddleware, check_route_permission, check_routes
from .errors import install_error_handlers
from .routes import blobs
from .rpc import API_PREFIX, load_store_classes, stores_router

__all__ = ["Extension", "create_app", "get_backend"]

logger = logging.getLogger("modelyard.api")

Extension = Callable[[FastAPI], None]


def get_backend(request: Request) -> Any:
    """The backend a request is served from (for routes added by extensions)."""
    return request.app.state.backend


def _checkpoints(backend: Any, interval: float) -> Callable[[FastAPI], Any]:
    """While the server runs, sign the audit log's head every ``interval`` seconds (when it
    moved; 0: never)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await asyncio.to_thread(backend.audit.checkpoint)
                except Exception:  # logged; the next period tries again
                    logger.exception("could not sign an audit checkpoint")

        signs = interval > 0 and hasattr(backend, "audit")
        task = asyncio.create_task(loop()) if signs else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    return lifespan


def _get_store(request: Request, name: str) -> Any:
    return getattr(request.app.state.backend, name)


def create_app(
    yard_or_backend: Any,
    settings: Settings | None = None,
    *,
    extensions: Iterable[Extension] = (),
    public_paths: Iterable[str] = (),
    login_path: str | None = None,
    store_classes: Mapping[str, str] | None = None,
) -> FastAPI:
    """The API over ``yard_or_backend`` (a :class:`~modelyard.yard.Yard` or a ``LocalBackend``).

    ``settings`` defaults to the yard's; ``settings.auth_enabled`` turns bearer-token auth on
    (each route's declared permission is checked: see ``api/auth.py``) and
    ``settings.max_request_bytes`` bounds request bodies. ``public_paths`` are added to the paths
    that need no token; ``login_path`` is where a browser without a token is sent (the
    dashboard's login page) instead of a 401. ``store_classes`` (default ``backend.STORE_CLASSES``) names the stores
    whose endpoints are mounted; each is reached as ``getattr(backend, name)``.
    """
    backend = getattr(yard_or_backend, "backend", yard_or_backend)
    if getattr(backend, "is_remote", False):
        raise InvalidParameter(
            "modelyard server must run over a local backend (a database and an artifact store). "
            f"Got a remote one ({backend.url}) instead.",
            field="backend",
        )
    if settings is None:
        settings = getattr(yard_or_backend, "settings", None) or backend.settings
    assert settings is not None

    app = FastAPI(
        lifespan=_checkpoints(backend, settings.audit_checkpoint_interval),
        dependencies=[Depends(check_route_permission)],  # every route: its declared permission
        title="modelyard",
        version=__version__,
        description="Tracking, datasets, registry, serving and monitoring of ML models. "
        'Errors are JSON: {"error": code, "message": …, "field": …}.',
    )
    app.state.backend = backend
    app.state.settings = settings

    classes, skipped = load_store_classes(store_classes)
    router = stores_router(classes, _get_store)
    app.state.mounted_stores = sorted(classes)
    app.state.skipped_stores = skipped
    if skipped:
        logger.warning("stores not mounted (their module does not exist yet): %s", skipped)
    app.include_router(router, prefix=API_PREFIX)
    app.include_router(blobs.router, prefix=API_PREFIX)

    @app.get("/healthz", tags=["server"], operation_id="healthz")
    @requires("read")
    def healthz() -> dict[str, str]:
        """Liveness: the server answers."""
        return {"status": "ok", "version": __version__}

    for extend in extensions:
        extend(app)
    if "monitoring" in classes:  # this process delivers alert webhooks while it serves
        app.router.lifespan_context = _delivering(backend, app.router.lifespan_context)

    # every request acts as a principal: the token's, or "anonymous" when no token is checked
    public = PUBLIC_PATHS | set(public_paths)
    check_routes(app.router.routes, public)
    app.add_middleware(
        AuthMiddleware,
        verify=backend.auth.verify if settings.auth_enabled else None,
        public_paths=public,
        login_path=login_path,
    )
    install_error_handlers(  # blob uploads stream to disk: no request-size cap but the disk's
        app, settings.max_request_bytes, unbounded_prefixes=[f"{API_PREFIX}{blobs.router.prefix}/"]
    )  # after auth: its 500 handler wraps the auth middleware too
    return app


def _delivering(backend: Any, inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The app's lifespan with a background webhook worker (``monitoring.delivery``) around
    it: started with the server, stopped after its try in progress when the server stops."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        from ..monitoring.delivery import Deliverer

        deliverer = Deliverer(backend.monitoring).start()
        try:
            async with inner(app) as state:
                yield state
        finally:
            await asyncio.to_thread(deliverer.stop)

    return lifespan
