from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli
from modelyard.serving.repository import ServingRepository

from .conftest import ServerFactory, iris_rows


def test_serve_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", "--home", str(tmp_path)])
    assert r.exit_code != 0 and "at least one --model" in r.output
    r = runner.invoke(cli, ["serve", "-m", "x/1", "--durability", "sometimes", "--home",
                            str(tmp_path)])
    assert r.exit_code != 0 and "durable, async or off" in r.output


def _serve(yard: my.Yard, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--home", str(yard.settings.home), "serve", *args])


@pytest.mark.timeout(120)
def test_serve_refuses_a_reference_that_does_not_resolve(serving_yard: my.Yard) -> None:
    """It used to start and log errors forever; now it exits 1 before listening."""
    r = _serve(serving_yard, "--model", "iris@prodution", "--port", "1")
    assert r.exit_code == 1
    assert "error: --model iris@prodution: the route 'main' of endpoint 'iris'" in r.output
    assert "Did you mean 'production'?" in r.output
    r = _serve(serving_yard, "--model", "irsi/1", "--dry-run")
    assert r.exit_code == 1 and "Did you mean 'iris'?" in r.output
    r = _serve(serving_yard, "--model", "iris/7", "--dry-run")
    assert r.exit_code == 1 and "no version 7" in r.output


def test_serve_says_which_endpoints_it_will_serve(serving_yard: my.Yard) -> None:
    repo = ServingRepository(serving_yard.backend.db, serving_yard.clock)
    repo.save_endpoint("tree", {"name": "tree", "routes": [{"model": "iris/2"}]}, "api")
    repo.save_endpoint("gone", {"name": "gone", "routes": [{"model": "iris/9"}]}, "api")
    repo.save_endpoint("elsewhere", {"name": "elsewhere", "routes": [{"model": "iris/1"}]},
                       "api", "staging")
    r = _serve(serving_yard, "--model", "iris@production", "--dry-run")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "serving 3 endpoints (scope 'default'):"
    assert any(line.split()[:2] == ["iris", "iris@production"] and "--model" in line
               for line in lines)
    assert any(line.split()[:2] == ["tree", "iris/2"] and "declared through the API" in line
               for line in lines)
    assert any("warning:" in line and "no version 9" in line for line in lines)
    assert "elsewhere" not in r.output
    r = _serve(serving_yard, "--model", "iris@production", "--scope", "staging", "--dry-run")
    assert r.exit_code == 0 and "elsewhere" in r.output and "tree" not in r.output
    r = _serve(serving_yard, "--model", "iris/1", "--scope", "no/slash", "--dry-run")
    assert r.exit_code == 1 and "scope must be" in r.output


def test_endpoints_list_show_delete(serving_yard: my.Yard) -> None:
    repo = ServingRepository(serving_yard.backend.db, serving_yard.clock)
    repo.save_endpoint("tree", {"name": "tree", "routes": [{"model": "iris/2"}],
                                "shadows": [{"name": "s", "model": "iris/1"}]}, "api", "staging")
    repo.save_endpoint("iris", {"name": "iris", "routes": [{"model": "iris@production"}]},
                       "config")
    home = ["--home", str(serving_yard.settings.home)]
    runner = CliRunner()
    r = runner.invoke(cli, [*home, "endpoints", "list", "--json"])
    assert r.exit_code == 0, r.output
    listed = {e["name"]: e for e in json.loads(r.output)}
    assert listed["tree"]["scope"] == "staging" and listed["tree"]["source"] == "api"
    assert listed["iris"]["source"] == "config"
    r = runner.invoke(cli, [*home, "endpoints", "list", "--scope", "staging"])
    assert r.exit_code == 0 and "tree" in r.output and "iris@production" not in r.output
    assert "shadow iris/1" in r.output
    r = runner.invoke(cli, [*home, "endpoints", "show", "tree"])
    assert r.exit_code == 0 and json.loads(r.output)["spec"]["routes"][0]["model"] == "iris/2"
    r = runner.invoke(cli, [*home, "endpoints", "delete", "tree"])
    assert r.exit_code == 0 and "servers of scope 'staging' stop serving it" in r.output
    assert [e.name for e in repo.list_endpoints()] == ["iris"]
    r = runner.invoke(cli, [*home, "endpoints", "delete", "tre"])
    assert r.exit_code == 1 and "Did you mean 'iris'?" not in r.output
    assert "No stored endpoint named 'tre'" in r.output


def test_an_api_endpoint_belongs_to_its_scope(model_server: ServerFactory,
                                              serving_yard: my.Yard, iris: Any) -> None:
    repo = ServingRepository(serving_yard.backend.db, serving_yard.clock)
    with model_server("iris@production", scope="staging") as url:
        r = httpx.put(f"{url}/endpoints/tree", json={"routes": [{"model": "iris/2"}]})
        assert r.status_code == 200, r.text
    assert repo.get_endpoint("tree").scope == "staging"
    with model_server("iris@production") as url:  # scope 'default': not served here
        names = [e["name"] for e in httpx.get(f"{url}/endpoints").json()]
        taken = httpx.put(f"{url}/endpoints/tree", json={"routes": [{"model": "iris/1"}]})
    assert names == ["iris"]
    assert taken.status_code == 409 and "scope 'staging'" in taken.json()["message"]
    with model_server("iris@production", scope="staging") as url:  # a restart serves it
        r = httpx.post(f"{url}/predict/tree", json={"records": iris_rows(iris, 1)})
    assert r.status_code == 200 and r.json()["model"] == "iris/2"
