"""Executors: where training, searches, backtests, batch scoring (and pipelines) run.

    from modelyard.automation.executors import open_executor

    with open_executor() as ex:                          # local processes, one per core
        results = ex.map(fn, [(1, "a"), (2, "b")])       # fn(*item) on the workers, in order
    with open_executor("dask://10.0.0.5:8786") as ex:    # an existing Dask cluster
        model = ex.share(model)                          # sent to the workers once
        ex.map(evaluate, [(model, w) for w in windows], progress=bar.advance)
        with ex.joblib_backend():                        # scikit-learn's n_jobs=-1 on the cluster
            GridSearchCV(..., n_jobs=-1).fit(X, y)
    with open_executor("dask") as ex: ...                # a LocalCluster on this machine
    with open_executor("serial") as ex: ...              # one task at a time, in this process

The interface (:class:`Executor`) is deliberately small: ``submit`` one call, ``map`` many,
``share`` a value many tasks read, ``joblib_backend`` for libraries that parallelise through
joblib, and ``close``. Code that needs more of a cluster (``xgboost.dask``, ``lightgbm.dask``,
``dask.dataframe``) asks ``isinstance(ex, DaskExecutor)`` and uses ``ex.client`` — the real
integrations, not a re-implementation (see :mod:`modelyard.automation.distributed`).

Tasks are plain module-level functions and picklable arguments; they run in other processes
(or on other machines), so they must not reach for the yard: the caller reads what they need
(file paths, frames, models) and writes what they return. A task that raises makes ``map``
and ``result()`` raise the same exception (the remaining tasks are cancelled).

Dask is optional (``pip install 'modelyard[dask]'``): nothing here imports it until a Dask
executor is opened. A scheduler that does not answer within ``timeout`` seconds is an error
naming the address, raised before the caller has written anything.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidParameter

__all__ = [
    "DEFAULT_TIMEOUT",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "SerialExecutor",
    "TaskFuture",
    "cpu_count",
    "open_executor",
    "parse_executor",
]

DEFAULT_TIMEOUT = 10.0
_DASK_PORT = 8786
_ADDRESS = re.compile(r"^(?:dask|tcp|tls)://([^/:\s]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?/?$")


@runtime_checkable
class TaskFuture(Protocol):
    """What ``submit`` returns (a ``concurrent.futures.Future`` or a ``distributed.Future``)."""

    def result(self, timeout: float | None = None) -> Any: ...

    def done(self) -> bool: ...


@runtime_checkable
class Executor(Protocol):
    """Runs tasks somewhere (module docstring). ``kind``: ``"local"``, ``"serial"`` or
    ``"dask"``; ``workers``: how many tasks run at once."""

    kind: str
    workers: int

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> TaskFuture:
        """Run ``fn(*args)`` on a worker; ``args`` may hold values from :meth:`share`."""
        ...

    def map(self, fn: Callable[..., Any], items: Iterable[Sequence[Any]], *,
            progress: Callable[[int], None] | None = None) -> list[Any]:
        """``[fn(*item) for item in items]``, run on the workers, results in item order;
        ``progress(1)`` is called as each task finishes."""
        ...

    def share(self, value: Any) -> Any:
        """A handle to ``value`` to pass to many tasks: sent to the workers once."""
        ...

    def joblib_backend(self) -> contextlib.AbstractContextManager[Any]:
        """A context in which joblib (scikit-learn's ``n_jobs``) runs on these workers."""
        ...

    def describe(self) -> str:
        """One line: what runs the tasks ("local: 2 processes", "dask tcp://…: 4 workers")."""
        ...

    def close(self) -> None: ...


def cpu_count() -> int:
    """The cores this process may use (its CPU affinity, else the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _gather(futures: list[Any], progress: Callable[[int], None] | None,
            as_completed: Callable[[list[Any]], Iterator[Any]]) -> list[Any]:
    """Results in order; the first failure cancels the rest and is raised as it was."""
    index = {id(f): i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    try:
        for future in as_completed(futures):
            out[index[id(future)]] = future.result()
            if progress is not None:
                progress(1)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return out


class _Base:
    kind = "base"
    workers = 1

    def map(self, fn: Callable[..., Any], items: Iterable[Sequence[Any]], *,
            progress: Callable[[int], None] | None = None) -> list[Any]:
        futures = [self.submit(fn, *item) for item in items]  # type: ignore[attr-defined]
        return _gather(futures, progress, _completed)

    def share(self, value: Any) -> Any:
        return value

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"  # type: ignore[attr-defined]


def _completed(futures: list[Future[Any]]) -> Iterator[Future[Any]]:
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_EXCEPTION)
        # failures first, so a broken task is reported before its slower siblings finish
        yield from sorted(done, key=lambda f: f.exception() is None)


class SerialExecutor(_Base):
    """Every task in this process, one after the other (debugging, tiny jobs, tests of the
    logic around tasks)."""

    kind = "serial"
    workers = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller by result(), as a pool does
            future.set_exception(exc)
        return future

    def joblib_backend(self) -> contextlib.AbstractContextManager[Any]:
        import joblib

        return joblib.parallel_config(backend="sequential")

    def describe(self) -> str:
        return "serial: this process"

    def close(self) -> None:
        return None


class LocalExecutor(_Base):
    """A pool of ``workers`` processes on this machine (default: one per core), started on
    the first task and kept until :meth:`close`. Processes come from a fork server, so a
    parent with threads (a Dask client, a server) forks nothing it holds."""

    kind = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise InvalidParameter(f"workers must be a positive number of processes. Got "
                                   f"{workers!r} instead.", field="workers")
        self.workers = int(workers) if workers is not None else cpu_count()
        self._pool: ProcessPoolExecutor | None = None

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        try:
            return self._ensure().submit(fn, *args)
        except BrokenProcessPool as exc:
            self._pool = None
            raise RuntimeError(f"a worker process of the local executor died ({exc}); "
                               "the pool was restarted, run the work again.") from exc

    def joblib_backend(self) -> contextlib.AbstractContextManager[Any]:
        import joblib

        return joblib.parallel_config(backend="loky", n_jobs=self.workers)

    def describe(self) -> str:
        return f"local: {self.workers} process{'es' if self.workers != 1 else ''}"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise InvalidParameter(
            "the dask executor needs dask.distributed: pip install 'modelyard[dask]'. "
            f"Got: {exc}.", field="executor") from exc
    return distributed


class DaskExecutor(_Base):
    """Tasks on a Dask cluster through ``client`` (a ``distributed.Client``).

    Build it with :func:`open_executor` (``"dask://host:8786"`` or ``"dask"`` for a
    ``LocalCluster``), or around a client you already have: ``DaskExecutor(client)`` (then
    closing the executor leaves the client open). ``workers`` counts worker threads.
    """

    kind = "dask"

    def __init__(self, client: Any, *, cluster: Any = None, owns_client: bool = False) -> None:
        self.client = client
        self.cluster = cluster
        self._owns_client = owns_client
        self._shared: dict[int, tuple[Any, Any]] = {}

    @property
    def workers(self) -> int:  # type: ignore[override]
        info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) \
            else self.client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def map(self, fn: Callable[..., Any], items: Iterable[Sequence[Any]], *,
            progress: Callable[[int], None] | None = None) -> list[Any]:
        distributed = _import_distributed()
        futures = [self.submit(fn, *item) for item in items]
        return _gather(futures, progress,
                       lambda fs: distributed.as_completed(fs, loop=self.client.loop))

    def share(self, value: Any) -> Any:
        """The value scattered to every worker once (a ``distributed.Future``); the same
        object shared twice gives the same handle."""
        known = self._shared.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        [future] = self.client.scatter([value], broadcast=True, hash=False)
        self._shared[id(value)] = (value, future)
        return future

    def joblib_backend(self) -> contextlib.AbstractContextManager[Any]:
        import joblib

        return joblib.parallel_config(backend="dask", client=self.client)

    def describe(self) -> str:
        what = "LocalCluster" if self.cluster is not None else "cluster"
        return f"dask {what} {self.address}: {self.workers} worker thread(s)"

    def close(self) -> None:
        self._shared.clear()
        if self._owns_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _takes_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def _parse_address(spec: str) -> str:
    m = _ADDRESS.match(spec)
    if not m:
        raise InvalidParameter(
            "executor must be 'local', 'local:N', 'serial', 'dask' or a Dask scheduler address "
            f"such as 'dask://host:8786'. Got {spec!r} instead.", field="executor")
    host, port = m.group(1), int(m.group(2) or _DASK_PORT)
    if not 0 < port < 65536:
        raise InvalidParameter(f"the Dask scheduler port must be 1-65535. Got {port} in "
                               f"{spec!r}.", field="executor")
    scheme = "tls" if spec.startswith("tls://") else "tcp"
    return f"{scheme}://{host}:{port}"


def _connect(address: str, timeout: float) -> Any:
    distributed = _import_distributed()
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InvalidParameter(
            f"could not reach the Dask scheduler at {address} within {timeout:g} s: expected "
            f"a running scheduler there (`dask scheduler`). Got: {exc}", field="executor",
        ) from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise InvalidParameter(
            f"the Dask scheduler at {address} has no workers: expected at least one within "
            f"{timeout:g} s (`dask worker {address}`).", field="executor") from exc
    return client


def _local_cluster(workers: int | None) -> DaskExecutor:
    distributed = _import_distributed()
    n = workers or cpu_count()
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    return DaskExecutor(client, cluster=cluster, owns_client=True)


def parse_executor(spec: str | None) -> tuple[str, int | str | None]:
    """``(kind, argument)`` of an executor spec, checked without opening anything:
    ``("local", processes or None)``, ``("serial", None)``, ``("dask", None)`` (a
    LocalCluster) or ``("dask", "tcp://host:port")``."""
    text = (spec or "local").strip()
    if text in ("local", "serial", "dask"):
        return text, None
    if text.startswith("local:"):
        count = text.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise InvalidParameter(f"executor 'local:N' needs a positive number of processes. "
                                   f"Got {spec!r} instead.", field="executor")
        return "local", int(count)
    return "dask", _parse_address(text)


def open_executor(spec: str | Executor | None = None, *, workers: int | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Executor:
    """An executor from a spec: ``None``/``"local"`` (processes, one per core, or
    ``workers``), ``"local:4"``, ``"serial"``, ``"dask"`` (a LocalCluster of ``workers``
    processes, default one per core) or a scheduler address ``"dask://host:8786"`` (also
    ``tcp://``, ``tls://``; the port defaults to 8786), reached within ``timeout`` seconds.
    An :class:`Executor` is returned as it is."""
    if spec is not None and not isinstance(spec, str):
        if isinstance(spec, Executor):
            return spec
        raise InvalidParameter(f"executor must be a spec such as 'local' or 'dask://host:8786' "
                               f"or an Executor. Got {type(spec).__name__} instead.",
                               field="executor")
    kind, arg = parse_executor(spec)
    if kind == "local":
        return LocalExecutor(arg if isinstance(arg, int) else workers)
    if kind == "serial":
        return SerialExecutor()
    if arg is None:
        return _local_cluster(workers)
    return DaskExecutor(_connect(str(arg), timeout), owns_client=True)
