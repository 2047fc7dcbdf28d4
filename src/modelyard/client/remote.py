"""A yard on a shared ``modelyard server``: ``my.connect("http://host:8080", token=…)``.

:class:`RemoteBackend` has the shape of :class:`~modelyard.backend.LocalBackend`: one object per
name in ``STORE_CLASSES`` with the store's ``@endpoint`` methods, and ``blobs``. The SDK above
(``Runs``, ``Models`` …) runs unchanged on either: the client is a transport, not a second copy
of the logic.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..backend import STORE_CLASSES, store_class
from ..config import Settings
from ..errors import InvalidParameter
from .blobs import HttpBlobStore
from .rpc import HttpTransport, StoreClient, store_client_class

__all__ = ["RemoteBackend"]


def _normalise(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise InvalidParameter(
            f"a remote yard URL must start with http:// or https://. Got {url!r} instead.",
            field="url",
        )
    url = url.rstrip("/")
    return url.removesuffix("/api/v1")


class RemoteBackend:
    """The stores of a ``modelyard server`` over one shared HTTP connection pool.

    url: the server's root, e.g. ``http://127.0.0.1:8080``.
    token: bearer token (``modelyard tokens create``); needed when the server runs with auth.
    timeout: seconds to wait for a response (connecting waits at most 10).
    """

    is_remote = True

    def __init__(
        self,
        url: str,
        token: str | None = None,
        settings: Settings | None = None,
        *,
        timeout: float = 60.0,
    ) -> None:
        self._url = _normalise(url)
        self.token = token
        self.settings = settings if settings is not None else Settings.load({})
        self.timeout = timeout
        self._stores: dict[str, StoreClient] = {}

    @property
    def url(self) -> str:
        return self._url

    @cached_property
    def transport(self) -> HttpTransport:
        return HttpTransport(self._url, self.token, timeout=self.timeout)

    @cached_property
    def blobs(self) -> HttpBlobStore:
        return HttpBlobStore(self.transport)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in STORE_CLASSES:
            raise AttributeError(name)
        store = self._stores.get(name)
        if store is None:
            store = store_client_class(name, store_class(name))(self.transport)
            self._stores[name] = store
        return store

    def health(self) -> dict[str, Any]:
        """The server's ``/healthz`` answer (raises RemoteError when it cannot be reached)."""
        response = self.transport.request("GET", self._url + "/healthz")
        return response.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        if "transport" in self.__dict__:
            self.transport.close()

    def __repr__(self) -> str:
        return f"<RemoteBackend {self._url}>"
