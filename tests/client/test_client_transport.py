"""The HTTP transport: generated methods, connection errors, URLs."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import modelyard as my
from modelyard.api.server import free_port
from modelyard.client.remote import RemoteBackend
from modelyard.client.rpc import store_client_class
from modelyard.errors import InvalidParameter, RemoteError
from modelyard.tracking.store import TrackingStore
from modelyard.transport import endpoint

LiveServer = Any


def test_client_methods_have_the_stores_signatures() -> None:
    client_cls = store_client_class("tracking", TrackingStore)
    for name in ("create_run", "log_metrics", "search_runs", "get_run"):
        assert inspect.signature(getattr(client_cls, name)) == inspect.signature(
            getattr(TrackingStore, name)
        )
        assert getattr(client_cls, name).__doc__ == getattr(TrackingStore, name).__doc__


class _Store:
    @endpoint("GET", "/hello", permission="read")
    def hello(self) -> str:
        return "hello"

    def local_only(self) -> str:
        return "local"


def test_a_store_method_that_is_not_an_endpoint_says_so() -> None:
    client = store_client_class("small", _Store)(RemoteBackend("http://127.0.0.1:1").transport)
    assert callable(client.hello)
    with pytest.raises(AttributeError, match="_Store.local_only is not available on a remote"):
        client.local_only()
    with pytest.raises(AttributeError):
        client.no_such_thing  # noqa: B018


def test_arguments_are_bound_like_the_method(server: LiveServer, remote_yard: my.Yard) -> None:
    tracking = remote_yard.backend.tracking
    with pytest.raises(TypeError):
        tracking.get_run()  # missing argument, refused before any request
    exp = tracking.create_experiment("e", "a description")  # positional like the real method
    assert exp.description == "a description"


def test_a_server_that_cannot_be_reached_is_a_remote_error(tmp_path) -> None:
    yard = my.connect(
        f"http://127.0.0.1:{free_port()}", settings=my.Settings.load({}, home=tmp_path)
    )
    with pytest.raises(RemoteError, match="Cannot reach the modelyard server at http://127.0.0.1"):
        yard.experiments.list()
    yard.close()


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://h:8080/", "http://h:8080"),
        ("https://h/api/v1", "https://h"),
        ("http://h", "http://h"),
    ],
)
def test_urls_are_normalised(given: str, url: str) -> None:
    assert RemoteBackend(given).url == url


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="must start with http:// or https://"):
        RemoteBackend("ftp://h")


def test_one_connection_pool_is_shared_by_every_store(remote_yard: my.Yard) -> None:
    backend = remote_yard.backend
    assert backend.tracking._transport is backend.registry._transport is backend.blobs.transport
    backend.tracking.list_experiments()
    client = backend.transport.client
    backend.registry.list_registered_models()
    assert backend.transport.client is client


def test_the_token_is_sent_as_a_bearer_header(
    local_yard: my.Yard, server_factory: Any, tmp_path
) -> None:
    srv = server_factory(local_yard, auth=True)
    settings = my.Settings.load({}, home=tmp_path)
    without = my.connect(srv.url, settings=settings)
    with pytest.raises(my.errors.Unauthorized):
        without.experiments.list()
    with_token = my.connect(srv.url, token=srv.token, settings=settings)
    assert with_token.experiments.list() == []
    without.close()
    with_token.close()
