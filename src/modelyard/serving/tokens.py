"""Bearer tokens checked while the database may be away: every request is checked against the
database (a revoked token fails on the next request); only when the database cannot be
reached is a token accepted that the database itself accepted within ``grace`` seconds, so the
model server keeps answering its callers through an outage. A token never seen, or seen too
long ago, is answered 503 then (not 401: it may well be valid)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import sqlalchemy as sa

from ..access import Principal
from ..errors import ModelyardError

__all__ = ["TokenCheckUnavailable", "TokenChecks"]

log = logging.getLogger("modelyard.serving")


class TokenCheckUnavailable(ModelyardError):
    """The database that checks tokens cannot be reached, and this token was not accepted
    recently (HTTP 503, gRPC UNAVAILABLE)."""

    code = "unavailable"
    status_code = 503


class TokenChecks:
    """``verify(token) -> Principal`` over the store's check, remembering up to ``size`` tokens
    it accepted (by sha256, with when) for use only while the database is unreachable."""

    def __init__(self, verify: Callable[[str | None], Principal], grace: float = 600.0,
                 size: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self._verify = verify
        self.grace = grace
        self.size = size
        self._clock = clock
        self._accepted: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str | None) -> Principal:
        key = hashlib.sha256((token or "").encode()).digest()
        try:
            principal = self._verify(token)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            with self._lock:
                seen = self._accepted.get(key)
            if seen is not None and self._clock() - seen[1] <= self.grace:
                return seen[0]
            log.warning("cannot check a token: the database is unreachable (%s)",
                        type(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).__name__)
            raise TokenCheckUnavailable(
                "The token cannot be checked now: the database is unreachable. Retry later."
            ) from None
        except Exception:
            with self._lock:
                self._accepted.pop(key, None)  # refused (revoked, expired): forget it
            raise
        with self._lock:
            self._accepted[key] = (principal, self._clock())
            self._accepted.move_to_end(key)
            while len(self._accepted) > self.size:
                self._accepted.popitem(last=False)
        return principal
