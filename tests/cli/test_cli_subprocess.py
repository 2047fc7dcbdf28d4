"""The installed ``modelyard`` command, run for real: exit codes, JSON, one error line, the
server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from modelyard.api.server import free_port

MODELYARD = str(Path(sys.executable).parent / "modelyard")


def _modelyard(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELYARD, "--home", str(home), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def test_init_json_and_error_lines(tmp_path: Path) -> None:
    home = tmp_path / "yard"
    init = _modelyard(home, "init", "--json")
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["home"] == str(home)

    listed = _modelyard(home, "runs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []

    missing = _modelyard(home, "runs", "show", "nope")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == ["error: No run with id 'nope'."]

    usage = _modelyard(home, "models", "alias", "set")
    assert usage.returncode == 2
    [line] = usage.stderr.splitlines()
    assert line.startswith("error: Missing argument") and "Traceback" not in usage.stderr


def test_server_with_auth_answers_with_a_token_only(tmp_path: Path) -> None:
    home = tmp_path / "yard"
    assert _modelyard(home, "init").returncode == 0
    token = _modelyard(home, "tokens", "create", "admin", "--role", "admin").stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [
            MODELYARD,
            "--home",
            str(home),
            "server",
            "--port",
            str(port),
            "--auth",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            assert http.get("/api/v1/experiments").status_code == 401
            ok = http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and ok.json() == []
        remote = _modelyard(
            tmp_path / "client", "--remote", url, "--token", token, "tokens", "list", "--json"
        )
        assert remote.returncode == 0, remote.stderr
        assert [t["name"] for t in json.loads(remote.stdout)] == ["admin"]
    finally:
        server.terminate()
        server.wait(timeout=30)
