"""Compaction of the model server's prediction log, away from the request path.

Turning a sealed segment into Parquet is Python work (every record decoded, Arrow tables
built) that holds the GIL: run in a thread of the server, compacting a 64 MB segment (50,000
single-row records) took 5 s here, and meanwhile the event loop ran in the slices the GIL left
it (loop wake-ups late by up to 290 ms) — at 800 requests/s a segment seals about every
minute, so several percent of all requests paid for it: the open-loop p99 of issue 13.

So the server hands compaction to a child process (:func:`main` in a new interpreter,
niced so that serving wins the CPU), started the first time there is something to compact;
the child runs :func:`modelyard.wal.compactor.compact` on request and answers each pass with
one JSON line (the :class:`CompactionResult`, whose quarantined segments the server counts in
its metrics). A thread of the server only looks, every ``interval`` seconds, whether a segment
is sealed or orphaned (a directory listing). On shutdown the server compacts once more itself,
after its writer sealed the last segment, so a stopped server leaves nothing behind. A target
that another process cannot open (an in-memory fsspec store), or a child that cannot be
started, is compacted in the server's thread as before.

Retention (an endpoint's ``privacy.retention_days``) runs in the same pass, after the
segments: the worker asks ``retention()`` for the policies (endpoint -> days) and passes them
with the command (``compact {"loans": 30}``); what was dropped comes back in the result and
``on_retention`` records it (the labels of the dropped predictions, the audit record). It runs
on the first pass, then at most every ``retention_interval`` seconds, and on the final pass.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ..artifacts.store import ArtifactStore, open_artifact_store
from ..clock import Clock
from ..wal.compactor import CompactionResult, compact
from ..wal.metrics import WalMetrics
from ..wal.retention import RetentionResult
from ..wal.segments import list_segments, try_lock

__all__ = ["CompactionWorker", "has_work", "main"]

log = logging.getLogger("modelyard.serving")

_NICE = 10
_CHILD = "from modelyard.serving.compaction import main; main()"


def has_work(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a sealed segment, or an open one no live writer holds."""
    for seg in list_segments(directory):
        if seg.sealed:
            return True
        try:
            fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            if try_lock(fd):  # nobody writes it: its writer died
                return True
        finally:
            os.close(fd)  # closing our descriptor drops only our own lock
    return False


class CompactionWorker:
    """Compacts ``directory`` into ``target`` every ``interval`` seconds (see the module
    docstring); ``in_process=True`` keeps the work in this process's thread."""

    def __init__(self, directory: str | os.PathLike[str], target: ArtifactStore,
                 interval: float = 30.0, *, clock: Clock | None = None,
                 metrics: WalMetrics | None = None, in_process: bool = False,
                 retention: Callable[[], Mapping[str, int]] | None = None,
                 on_retention: Callable[[RetentionResult], None] | None = None,
                 retention_interval: float = 3600.0) -> None:
        self.directory = Path(directory)
        self.retention = retention
        self.on_retention = on_retention
        self.retention_interval = retention_interval
        self._retention_at: float | None = None
        self.target = target
        self.interval = interval
        self.clock = clock
        self.metrics = metrics
        self.in_process = in_process or target.url.startswith("memory://")
        self.last: CompactionResult | None = None
        self.passes = 0  # compaction passes that had work
        self._child: subprocess.Popen[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def child_pid(self) -> int | None:
        """The child process's id while it runs."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def start(self) -> CompactionWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelyard-compaction",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:  # keep serving; the segments stay for the next pass
                log.exception("prediction log compaction failed")
            if self._stop.wait(self.interval):
                return

    def _policies(self, final: bool) -> dict[str, int] | None:
        """The retention policies when retention is due in this pass, else None."""
        if self.retention is None:
            return None
        now = time.monotonic()
        if not final and self._retention_at is not None \
                and now - self._retention_at < self.retention_interval:
            return None
        policies = {k: int(v) for k, v in self.retention().items() if v}
        if not policies:
            return None  # none yet (endpoints are still being installed): ask next pass
        self._retention_at = now
        return policies

    def run_once(self, *, here: bool = False) -> CompactionResult | None:
        """One pass when there is work (None otherwise): in the child, or here."""
        with self._lock:
            policies = self._policies(final=here)
            if policies is None and not has_work(self.directory):
                return None
            result = None
            if not (here or self.in_process):
                result = self._in_child(policies)
            if result is None:
                result = compact(self.directory, self.target, clock=self.clock,
                                 metrics=self.metrics, retention=policies)
            elif self.metrics is not None and result.quarantined:
                self.metrics.quarantined.inc(len(result.quarantined))
            self.last = result
            self.passes += 1
            if result.retention is not None and result.retention.endpoints \
                    and self.on_retention is not None:
                try:
                    self.on_retention(result.retention)
                except Exception:  # the partitions are gone; the record is logged at least
                    log.exception("recording the prediction log's retention failed")
            return result

    def _in_child(self, policies: Mapping[str, int] | None = None) -> CompactionResult | None:
        """A pass in the child process (started when needed); None when the child failed
        (it is started again next time, and this pass runs here)."""
        try:
            child = self._child
            if child is None or child.poll() is not None:
                child = self._child = subprocess.Popen(
                    [sys.executable, "-c", _CHILD, str(self.directory), self.target.url],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                    close_fds=True)
            stdin, stdout = child.stdin, child.stdout
            assert stdin is not None and stdout is not None
            stdin.write(f"compact {json.dumps(policies)}\n" if policies else "compact\n")
            stdin.flush()
            line = stdout.readline()  # blocks without the GIL while the child works
            if not line:
                raise RuntimeError(f"the compaction process exited ({child.poll()})")
            return CompactionResult.model_validate_json(line)
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("compaction process failed (%s); compacting in the server",
                        exc, extra={"event": "compaction_process_failed"})
            self._end_child(kill=True)
            return None

    def _end_child(self, *, kill: bool = False) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            if child.stdin is not None:
                child.stdin.close()  # the child ends at end of input
        if kill:
            child.kill()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    def stop(self, final: bool = True) -> None:
        """Stop the thread and the child (after its current pass), then, with ``final``,
        compact what is left here."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._end_child()
        if final:
            try:
                self.run_once(here=True)
            except Exception:
                log.exception("prediction log compaction failed")


def _serve(directory: str, url: str, commands: IO[str], out: IO[str]) -> None:
    target = open_artifact_store(url)
    for line in commands:
        arg = line.strip()[len("compact"):].strip()
        policies = {str(k): int(v) for k, v in json.loads(arg).items()} if arg else None
        result = compact(directory, target, retention=policies)
        out.write(result.model_dump_json() + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> Any:
    """The child, with ``WAL_DIR TARGET_URL`` as arguments; one pass per
    line on stdin (``compact``, or ``compact {"endpoint": days, …}`` with retention), one JSON result per pass on stdout; ends at the end of its input (also
    when the server died)."""
    directory, url = (argv if argv is not None else sys.argv[1:])[:2]
    with contextlib.suppress(OSError):
        os.nice(_NICE)
    _serve(directory, url, sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
