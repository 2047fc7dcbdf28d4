from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.api.app import create_app
from modelyard.config import Settings

TOY = {"toy": "toystore:ToyStore"}


@pytest.fixture
def toy_app(tmp_path, settings: Settings) -> FastAPI:
    """The API over a backend whose only store is the test's ToyStore."""
    from toystore import ToyStore

    from modelyard.artifacts.store import open_artifact_store

    backend = SimpleNamespace(
        toy=ToyStore(),
        artifacts=open_artifact_store(str(tmp_path / "artifacts")),
        settings=settings,
        is_remote=False,
    )
    return create_app(backend, settings, store_classes=TOY)


@pytest.fixture
def toy(toy_app: FastAPI) -> TestClient:
    return TestClient(toy_app, raise_server_exceptions=False)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client with a patient timeout (the test machine may be busy)."""
    with httpx.Client(timeout=60) as client:
        yield client
