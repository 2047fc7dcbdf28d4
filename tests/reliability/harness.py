"""What the reliability tests and ``bench/reliability.py`` share: modelyard processes started
as a user starts them, their memory, closed- and open-loop traffic, a TCP proxy that can be cut,
and waiting on a condition (never on a fixed sleep)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from modelyard.serving.app import create_app
from modelyard.serving.endpoints import endpoint_from_ref
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread

MODELYARD = str(Path(sys.executable).parent / "modelyard")
T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout``
    seconds naming what was awaited. An exception from ``check`` counts as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - e.g. the server is not listening yet
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(0.02)


def answers(url: str, path: str) -> bool:
    return httpx.get(url + path, timeout=5).status_code == 200


class Process:
    """``modelyard ARGS…`` in its own session (so ``kill9`` takes its children too), output
    in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        self.log = log
        self._out = open(log, "a")  # noqa: SIM115 - closed in stop()/kill9()
        self.proc = subprocess.Popen([MODELYARD, *args], env=env, start_new_session=True,
                                     stdout=self._out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_answering(self, url: str, path: str, timeout: float = 300.0) -> None:
        """Until ``GET url+path`` is 200; fails at once, with the output, if the process died."""

        def check() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.proc.args[1:4]} exited {self.proc.returncode}: "
                                     + self.log.read_text(errors="replace")[-3000:])
            return answers(url, path)

        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{url}{path} not answering after {timeout} s: "
                                     + self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.05)

    def rss(self) -> int:
        """Resident bytes of the process and its children (workers, the compactor)."""
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def kill9(self) -> None:
        """SIGKILL to the whole process group: nothing gets to clean up."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)
        self._out.close()

    def stop(self) -> str:
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
        if not self._out.closed:
            self._out.close()
        return self.log.read_text(errors="replace")


def model_server(home: Path, port: int, log: Path, *extra: str,
                 model: str = "iris@production", workers: int = 1) -> Process:
    return Process(["serve", "--model", model, "--port", str(port), "--workers", str(workers),
                    "--home", str(home), "--log-level", "warning", *extra], log)


def rest_server(where: list[str], port: int, log: Path, *extra: str) -> Process:
    return Process([*where, "server", "--port", str(port), "--log-level", "warning", *extra],
                   log)


@contextmanager
def serving(yard: Any, ref: str = "iris@production", **options: Any) -> Iterator[str]:
    """A model server for ``ref`` over ``yard`` in this process (uvicorn in a thread)."""
    app = create_app(yard, [endpoint_from_ref(ref)], ServerOptions(**options))
    with serve_in_thread(app) as url:
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- traffic --------------------------------------------------------------------------------
@dataclass
class Traffic:
    """What a load run saw: ids of answered predictions, failures (status or exception)."""

    answered: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def record(self, response: httpx.Response | None, error: str | None, seconds: float) -> None:
        with self.lock:
            self.sent += 1
            if response is not None and response.status_code == 200:
                self.answered.extend(response.json()["ids"])
                self.latencies.append(seconds)
            else:
                self.failures.append(error or f"{response.status_code}: {response.text[:200]}")


def _post(client: httpx.Client, url: str, body: dict[str, Any], out: Traffic) -> None:
    t0 = time.perf_counter()
    try:
        r = client.post(url, json=body)
    except httpx.HTTPError as exc:
        out.record(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
        return
    out.record(r, None, time.perf_counter() - t0)


def closed_loop(url: str, body: dict[str, Any], seconds: float, concurrency: int = 8
                ) -> Traffic:
    """``concurrency`` clients, each sending as soon as its last request is answered, for
    ``seconds``: ``.rate`` is the saturation this client measures."""
    out = Traffic()
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                _post(c, url, body, out)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.elapsed = time.monotonic() - t0
    return out


def open_loop(url: str, body: dict[str, Any], rate: float, seconds: float, *,
              threads: int = 16, during: Callable[[float], None] | None = None) -> Traffic:
    """Send at a fixed ``rate`` (requests/s) for ``seconds``, whatever the answers take:
    request ``i`` is due at ``i / rate``; ``threads`` senders take the due requests in turn.
    ``during(elapsed)`` is called about every 0.5 s from the caller's thread (samples)."""
    out = Traffic()
    total = int(rate * seconds)
    next_i = iter(range(total))
    take = threading.Lock()
    t0 = time.monotonic()

    def sender() -> None:
        with httpx.Client(timeout=60) as c:
            while True:
                with take:
                    i = next(next_i, None)
                if i is None:
                    return
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                _post(c, url, body, out)

    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        if during is not None:
            during(time.monotonic() - t0)
        time.sleep(0.5)  # a sampling period, not a wait for something
    for w in workers:
        w.join()
    out.elapsed = time.monotonic() - t0
    return out


# ---- a TCP proxy the test can cut -----------------------------------------------------------
class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` closes every connection and refuses
    new ones (a database host that went away), ``restore()`` accepts again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.open = True
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.open = False
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()
