"""The CLI over a real yard: tables, --json, one-line errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app


def _run(yard: my.Yard, name: str, auc: float, depth: int) -> str:
    with yard.start_run(experiment="loans", name=name) as run:
        run.log_params({"max_depth": depth})
        run.log_metrics({"auc": auc})
    return run.id


def _register(yard: my.Yard) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    for depth in (1, 3):
        yard.models.register(
            DecisionTreeClassifier(max_depth=depth).fit(X, y),
            "iris",
            example=X[:3],
            description=f"depth {depth}",
        )


def _one_error_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_init_creates_the_yard_and_says_where(tmp_path: Path) -> None:
    home = tmp_path / "new-yard"
    result = CliRunner().invoke(app, ["--home", str(home), "init"])
    assert result.exit_code == 0
    assert str(home) in result.stdout and (home / "modelyard.db").exists()
    as_json = CliRunner().invoke(app, ["--home", str(home), "init", "--json"])
    assert json.loads(as_json.stdout)["database"] == f"sqlite:///{home / 'modelyard.db'}"


def test_db_upgrade_says_when_there_is_nothing_to_do(cli: Any) -> None:
    result = cli("db", "upgrade")
    assert result.exit_code == 0 and "already at the newest schema" in result.stdout


def test_runs_list_table_and_json(cli: Any, yard: my.Yard) -> None:
    good = _run(yard, "good", 0.93, 6)
    _run(yard, "bad", 0.61, 2)
    table = cli("runs", "list")
    assert table.exit_code == 0 and good in table.stdout and "auc=0.93" in table.stdout
    found = json.loads(cli("runs", "list", "--filter", "metrics.auc > 0.9", "--json").stdout)
    assert [r["id"] for r in found] == [good]
    assert found[0]["params"] == {"max_depth": "6"}
    assert [r["name"] for r in json.loads(cli("runs", "list", "-e", "loans", "--json").stdout)] == [
        "bad",
        "good",
    ]
    unknown = cli("runs", "list", "-e", "other")
    assert unknown.exit_code == 1 and "'other'" in _one_error_line(unknown)


def test_runs_list_with_a_bad_filter_is_one_error_line(cli: Any) -> None:
    result = cli("runs", "list", "--filter", "metrics.auc >>> 1")
    assert result.exit_code == 1
    assert "error: " in _one_error_line(result)


def test_runs_show_and_download(cli: Any, yard: my.Yard, tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    with yard.start_run(experiment="e", name="with-artifact") as run:
        run.log_params({"lr": 0.1})
        run.log_artifact(src)
    shown = cli("runs", "show", run.id)
    assert shown.exit_code == 0 and "with-artifact" in shown.stdout and "notes.txt" in shown.stdout
    data = json.loads(cli("runs", "show", run.id, "--json").stdout)
    assert data["params"] == {"lr": "0.1"} and data["artifacts"][0]["path"] == "notes.txt"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    got = cli("runs", "download", run.id, "notes.txt", "--dest", str(out_dir))
    assert got.exit_code == 0 and (out_dir / "notes.txt").read_text() == "hello"


def test_runs_show_of_an_unknown_run(cli: Any) -> None:
    result = cli("runs", "show", "0" * 32)
    assert result.exit_code == 1
    assert _one_error_line(result) == f"error: No run with id '{'0' * 32}'."


def test_models_list_show_versions(cli: Any, yard: my.Yard) -> None:
    _register(yard)
    listed = json.loads(cli("models", "list", "--json").stdout)
    assert [(m["name"], m["latest_version"]) for m in listed] == [("iris", 2)]
    assert "iris" in cli("models", "list").stdout
    versions = json.loads(cli("models", "versions", "iris", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2] or [v["version"] for v in versions] == [2, 1]
    shown = cli("models", "show", "iris")
    assert shown.exit_code == 0 and "depth 3" in shown.stdout
    assert json.loads(cli("models", "show", "iris", "--json").stdout)["name"] == "iris"


def test_models_show_of_an_unknown_model_names_it(cli: Any) -> None:
    result = cli("models", "show", "nobody")
    assert result.exit_code == 1 and "'nobody'" in _one_error_line(result)


def test_models_alias_set_and_delete(cli: Any, yard: my.Yard) -> None:
    _register(yard)
    result = cli("models", "alias", "set", "iris", "production", "2", "--reason", "better")
    assert result.exit_code == 0 and "iris@production -> iris/2" in result.stdout
    assert yard.models.resolve("iris@production").version == 2
    assert yard.models.alias_history("iris")[-1].reason == "better"
    result = cli("models", "alias", "delete", "iris", "production")
    assert result.exit_code == 0 and "was iris/2" in result.stdout
    assert yard.models.aliases("iris") == []


def test_models_alias_set_to_a_missing_version_fails(cli: Any, yard: my.Yard) -> None:
    _register(yard)
    result = cli("models", "alias", "set", "iris", "production", "9")
    assert result.exit_code == 1 and _one_error_line(result)


def test_models_journal_add_and_show(cli: Any, yard: my.Yard) -> None:
    _register(yard)
    assert cli("models", "journal", "add", "iris", "why depth 3", "--version", "2").exit_code == 0
    cli("models", "journal", "add", "iris", "the whole model")
    entries = json.loads(cli("models", "journal", "show", "iris", "--json").stdout)
    assert [(e["version"], e["text"]) for e in entries] == [
        (2, "why depth 3"),
        (None, "the whole model"),
    ]
    assert "why depth 3" in cli("models", "journal", "show", "iris").stdout


def test_tokens_create_list_revoke(cli: Any, yard: my.Yard) -> None:
    created = cli("tokens", "create", "ci", "--role", "writer")
    token = created.stdout.strip()
    assert created.exit_code == 0 and token.startswith("my_") and "only its hash" in created.stderr
    assert yard.backend.auth.verify(token).role == "editor"  # writer is now called editor
    listed = json.loads(cli("tokens", "list", "--json").stdout)
    assert [(t["name"], t["user"]) for t in listed] == [("ci", "ci")]
    assert token not in cli("tokens", "list").stdout
    assert cli("tokens", "revoke", "ci").exit_code == 0
    assert json.loads(cli("tokens", "list", "--json").stdout) == []


def test_tokens_create_with_a_bad_role(cli: Any) -> None:
    result = cli("tokens", "create", "ci", "--role", "root")
    assert result.exit_code == 1
    assert ("role must be one of viewer, editor, approver, admin (or the former reader, "
            "writer). Got 'root'") in _one_error_line(result)


def test_a_usage_error_is_one_line_and_exit_2(cli: Any) -> None:
    result = cli("models", "alias", "set", "iris")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "Missing argument" in line and "modelyard models alias set --help" in line


def test_db_and_remote_together_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{tmp_path}/x.db", "--remote", "http://h:1", "runs", "list"]
    )
    assert result.exit_code == 1 and "--db and --remote" in _one_error_line(result)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name in group.list_commands(None):  # the root loads its commands lazily
        command = group.get_command(None, name)
        out.append((*path, name))
        if hasattr(command, "list_commands"):
            out.extend(_commands(command, (*path, name)))
    return out


def test_every_command_has_help() -> None:
    import typer

    commands = _commands(typer.main.get_command(app))
    assert ("models", "alias", "set") in commands and ("tokens", "revoke") in commands
    runner = CliRunner()
    failing = {}
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        if result.exit_code != 0 or "Usage:" not in result.stdout:
            failing[" ".join(path)] = repr(result.exception or result.stderr)
    assert not failing, failing


def test_the_cli_works_against_a_remote_server(server: Any, tmp_path: Path) -> None:
    run_id = _run(server.yard, "remote", 0.95, 4)
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "client"), "--remote", server.url, "runs", "list", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)] == [run_id]


def test_the_server_command_refuses_a_remote_yard() -> None:
    result = CliRunner().invoke(app, ["--remote", "http://127.0.0.1:1", "server"])
    assert result.exit_code == 1 and "works on a database" in _one_error_line(result)


def test_transfer_progress_appears_only_for_slow_transfers() -> None:
    import io

    from rich.console import Console

    from modelyard.cli._render import transfer_progress

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    with transfer_progress("upload quick", 100, output=terminal) as advance:
        advance(100)
    assert screen.getvalue() == ""
    with transfer_progress("upload slow", 100, delay=0, output=terminal) as advance:
        advance(50)
        advance(50)
    assert "upload slow" in screen.getvalue()


def test_the_server_app_carries_the_dashboard_and_its_login_is_public(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from modelyard.cli.core import _build_server_app

    settings = my.Settings.load({}, home=tmp_path / "yard", auth_enabled=True)
    client = TestClient(_build_server_app(settings))
    assert client.get("/ui/login").status_code == 200
    assert client.get("/api/v1/experiments").status_code == 401
    assert client.get("/healthz").status_code == 200
