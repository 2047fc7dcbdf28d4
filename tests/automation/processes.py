"""``modelyard scheduler`` as a real process (what the subprocess tests start)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

MODELYARD = str(Path(sys.executable).parent / "modelyard")


class SchedulerProcess:
    """``modelyard --db URL --artifacts DIR --home DIR scheduler --name NAME …`` with its
    output in a file; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, where: list[str], name: str, log: Path, *extra: str) -> None:
        self.name = name
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [MODELYARD, *where, "scheduler", "--name", name, "--interval", "0.1", *extra],
            stdout=self._out, stderr=subprocess.STDOUT, env=env)

    def running(self) -> bool:
        return "running" in self.log.read_text()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.log.read_text()
