"""Bearer tokens on the model server: verified against the yard's tokens, the answer cached
for a short time so the request path does not query the database per request."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

__all__ = ["TokenCache"]


class TokenCache:
    """``await verify(token)`` gives the token's principal (or raises ``Unauthorized``)."""

    def __init__(self, auth: Any, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        self.auth = auth
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Any]] = {}

    async def verify(self, token: str) -> Any:
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await asyncio.to_thread(self.auth.verify, token)
        if len(self._cache) > self.max_entries:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl, principal)
        return principal
