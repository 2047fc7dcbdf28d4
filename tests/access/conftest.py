"""A team on one yard: users of every role (and the ones who must be refused), a REST server
and a model server with token checks on, both on loopback over the same database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import modelyard as my
from modelyard.clock import FixedClock
from modelyard.validation.entities import ValidationReport

#: the users of the matrix: name -> (roles, what makes their token fail, if anything)
TEAM: dict[str, tuple[list[str], str | None]] = {
    "viewer": (["viewer"], None),
    "editor": (["editor"], None),
    "approver": (["approver"], None),
    "admin": (["admin"], None),
    "loans-editor": (["viewer", "editor:loans*"], None),
    "disabled": (["admin"], "disabled"),
    "expired": (["admin"], "expired"),
    "revoked": (["admin"], "revoked"),
}


@dataclass
class Team:
    yard: my.Yard
    clock: FixedClock
    api: str  # the REST server's URL
    serve: str  # the model server's URL
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def register(yard: my.Yard, name: str, n: int = 1) -> int:
    """Register ``n`` new versions of ``name``; the number of the last."""
    X = pd.DataFrame({"x": np.arange(20, dtype=float)})
    y = np.array([0, 1] * 10)
    version = 0
    for _ in range(n):
        version = yard.models.register(DummyClassifier().fit(X, y), name, example=X[:3]).version
    return version


def report(yard: my.Yard, model: str, version: int, status: str) -> str:
    return yard.backend.validation.add_report(ValidationReport(
        model=model, version=version, status=status)).id  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    from modelyard.api.app import create_app
    from modelyard.api.server import BackgroundServer
    from modelyard.cli.core import _dashboard
    from modelyard.serving.app import create_app as create_model_server
    from modelyard.serving.endpoints import endpoint_from_ref
    from modelyard.serving.options import ServerOptions
    from modelyard.serving.testing import serve_in_thread

    tmp: Path = tmp_path_factory.mktemp("team")
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    settings = my.Settings.load({}, home=tmp / "home")
    yard = my.connect(f"sqlite:///{tmp / 'yard.db'}", artifacts=str(tmp / "artifacts"),
                      settings=settings, clock=clock)
    register(yard, "loans", 2)
    register(yard, "churn", 1)
    yard.models.set_alias("loans", "production", 1)
    yard.validation.protect("loans", "production")
    report(yard, "loans", 2, "passed")
    t = Team(yard, clock, "", "")
    for name, (roles, fate) in TEAM.items():
        yard.backend.users.add(name, roles=roles)
        t.tokens[name] = yard.backend.auth.create(name, expires="1d" if fate == "expired" else None)
        if fate == "disabled":
            yard.backend.users.disable(name)
        elif fate == "revoked":
            yard.backend.auth.revoke(name)
    clock.advance(2 * 86400)  # the expired token's day is over
    with ExitStack() as stack:
        api = BackgroundServer(create_app(yard, settings.model_copy(
            update={"auth_enabled": True}), **_dashboard())).start()  # API + dashboard
        stack.callback(api.stop)
        t.api = api.url
        t.serve = stack.enter_context(serve_in_thread(create_model_server(
            yard, [endpoint_from_ref("loans@production")],
            ServerOptions(auth_enabled=True, poll_interval=0.2))))
        yield t
    yard.close()


def remote(team: Team, user: str, tmp: Path) -> Any:
    """The SDK over HTTP as ``user``."""
    return my.connect(team.api, token=team.tokens[user],
                      settings=my.Settings.load({}, home=tmp / f"client-{user}"))
