"""The demo's real server processes: ``modelyard serve``, ``modelyard scheduler`` and
``modelyard server`` started as subprocesses of this Python, each with its output in a file,
waited for on a condition and stopped with SIGTERM."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

__all__ = ["DemoError", "Process", "free_port"]

# the console script's own entry point, run by this interpreter (so PYTHONPATH and the venv
# the demo runs in are the ones the servers run in)
_MAIN = "from modelyard.cli.main import main; main()"


class DemoError(RuntimeError):
    """A server process of the demo stopped or never got ready (the message holds the end of
    its log)."""


def _environ() -> dict[str, str]:
    """This environment without ``MODELYARD_*``: the servers take their yard from ``--home``
    alone, never from a database URL the user's shell points at."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    # one OpenMP thread per process unless told otherwise: the demo runs three Python processes
    # on what may be two cores, and spinning OpenMP threads of a tree model's predict on an
    # oversubscribed machine turn milliseconds into seconds
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """``modelyard ARGS…`` running in the background, its output in ``log``."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args = args
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-c", _MAIN, *args], stdout=self._out,
                                     stderr=subprocess.STDOUT, env=_environ())

    @property
    def command(self) -> str:
        return shlex.join(["modelyard", *self.args])

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 180) -> None:
        """Until ``ready()``; fails with the end of the log if the process exits first or
        ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise DemoError(f"{self.command} exited ({self.proc.returncode}) before "
                                   f"{what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise DemoError(f"{self.command}: not {what} after {timeout:.0f} s:\n"
                                   f"{self.tail()}")
            time.sleep(0.2)

    def wait_http(self, url: str, timeout: float = 180) -> None:
        """Until ``GET url`` answers 200."""
        def ok() -> bool:
            try:
                return httpx.get(url, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False
        self.wait_for(ok, f"answering {url}", timeout)

    def lost(self, exc: Exception) -> DemoError:
        """The error for a request this process did not answer."""
        state = "running" if self.proc.poll() is None else f"exited ({self.proc.returncode})"
        return DemoError(f"{self.command} did not answer ({exc}); it is {state}. The end of "
                         f"its log ({self.log}):\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
