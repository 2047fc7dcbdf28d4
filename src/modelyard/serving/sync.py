"""Endpoints in the database: a server records the endpoints of its configuration, follows
the endpoints declared through the API (by any of its workers, or by another server of the
yard) by polling, and records what each route serves now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .background import Background, quietly
from .canary_driver import CanaryDriver
from .endpoints import EndpointConfig
from .live import LiveEndpoint, served
from .repository import ServingRepository

__all__ = ["EndpointSync"]

log = logging.getLogger("modelyard.serving")

Install = Callable[[EndpointConfig, str, int], Awaitable[Any]]


class EndpointSync:
    def __init__(self, repo: ServingRepository, scope: str,
                 config_endpoints: list[EndpointConfig], canaries: CanaryDriver,
                 background: Background) -> None:
        self.repo = repo
        self.scope = scope
        self.config_endpoints = config_endpoints
        self.canaries = canaries
        self.background = background

    def record_config(self) -> None:
        """Store the configuration's endpoints (source ``config``) and their canaries."""
        for cfg in self.config_endpoints:
            quietly(self.repo.save_endpoint, cfg.name, cfg.model_dump(mode="json"), "config",
                    self.scope)
            if cfg.canary is not None:
                self.canaries.start_from_config(cfg)

    async def api_endpoints(self) -> tuple[list[tuple[EndpointConfig, int]], set[str]]:
        """The endpoints declared through the API of this server's scope (with their
        revisions), and all their names (an invalid spec is logged and skipped)."""
        stored = await asyncio.to_thread(self.repo.list_endpoints, "api", self.scope)
        config_names = {c.name for c in self.config_endpoints}
        out = []
        names = set()
        for s in stored:
            if s.name in config_names:
                continue
            names.add(s.name)
            try:
                out.append((EndpointConfig.model_validate(s.spec), s.revision))
            except Exception as exc:  # noqa: BLE001
                log.error("stored endpoint %s is invalid: %s", s.name, exc)
        return out, names

    async def follow(self, endpoints: dict[str, LiveEndpoint], install: Install,
                     remove: Callable[[str], None]) -> None:
        """Install every API endpoint that is new or has a new revision (in the background),
        and remove the API endpoints that were deleted."""
        stored, names = await self.api_endpoints()
        for cfg, revision in stored:
            ep = endpoints.get(cfg.name)
            if ep is None or ep.revision != revision:
                if ep is not None:
                    ep.revision = revision  # do not start the same load twice
                self.background.spawn(install(cfg, "api", revision))
        for name, ep in list(endpoints.items()):
            if ep.source == "api" and name not in names:
                remove(name)

    async def save(self, cfg: EndpointConfig) -> int:
        """Store an endpoint declared through the API under this scope; its revision."""
        stored = await asyncio.to_thread(self.repo.save_endpoint, cfg.name,
                                         cfg.model_dump(mode="json"), "api", self.scope)
        return stored.revision

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self.repo.delete_endpoint, name)

    async def record_served(self, ep: LiveEndpoint) -> None:
        await asyncio.to_thread(quietly, self.repo.set_served, ep.name, served(ep))
