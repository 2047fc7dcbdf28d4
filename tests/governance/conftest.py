"""The compliance scenario (see ``compliance_scenario.py``), built once per test process for
the trace and card tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from compliance_scenario import Scenario, build

import modelyard as my


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    s = build(tmp_path_factory.mktemp("compliance") / "home")
    yield s
    s.yard.close()


@pytest.fixture(scope="session")
def api(scenario: Scenario) -> Iterator[str]:
    """``modelyard server`` (API + dashboard) over the scenario's yard."""
    from modelyard.api.app import create_app
    from modelyard.api.server import BackgroundServer
    from modelyard.cli.core import _dashboard

    srv = BackgroundServer(create_app(scenario.yard, **_dashboard())).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def remote(api: str, scenario: Scenario) -> Iterator[my.Yard]:
    """The same yard over REST."""
    y = my.connect(api, settings=my.Settings.load({}, home=scenario.yard.settings.home / "client"))
    yield y
    y.close()
