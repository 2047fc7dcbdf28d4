"""Executors: the same tasks on local processes, in this process and on a real Dask cluster;
failures come back as they were raised; a scheduler that does not answer is a clear error."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.automation.executors import (
    DaskExecutor,
    Executor,
    LocalExecutor,
    SerialExecutor,
    open_executor,
)
from modelyard.errors import InvalidParameter


@pytest.fixture(scope="module")
def local_executor() -> Iterator[LocalExecutor]:
    with LocalExecutor(2) as ex:
        yield ex


def _run(ex: Executor) -> tuple[list[Any], int]:
    done = []
    out = ex.map(math.pow, [(2, i) for i in range(6)], progress=done.append)
    return out, sum(done)


def test_map_gives_results_in_order_on_every_executor(local_executor: LocalExecutor,
                                                      dask_executor: DaskExecutor) -> None:
    expected = [2.0 ** i for i in range(6)]
    for ex in (SerialExecutor(), local_executor, dask_executor):
        assert isinstance(ex, Executor)
        assert _run(ex) == (expected, 6), ex.describe()
        assert ex.submit(divmod, 7, 2).result() == (3, 1)


def test_a_failing_task_raises_its_own_error(local_executor: LocalExecutor,
                                             dask_executor: DaskExecutor) -> None:
    for ex in (SerialExecutor(), local_executor, dask_executor):
        with pytest.raises(ValueError, match="invalid literal"):
            ex.map(int, [("1",), ("x",), ("3",)])


def test_shared_values_reach_the_tasks_once(dask_executor: DaskExecutor) -> None:
    big = list(range(10_000))
    handle = dask_executor.share(big)
    assert dask_executor.share(big) is handle
    assert dask_executor.map(len, [(handle,), (handle,)]) == [10_000, 10_000]
    assert SerialExecutor().share(big) is big


def test_joblib_backend_runs_on_the_executor(dask_executor: DaskExecutor) -> None:
    from joblib import Parallel, delayed

    with dask_executor.joblib_backend():
        out = Parallel(n_jobs=-1)(delayed(math.sqrt)(i * i) for i in range(8))
    assert out == [float(i) for i in range(8)]


def test_open_executor_specs(dask_cluster: Any) -> None:
    assert open_executor().kind == "local"
    assert open_executor("local:3").workers == 3
    assert open_executor("serial").kind == "serial"
    port = dask_cluster.scheduler_address.rsplit(":", 1)[1]
    with open_executor(f"dask://127.0.0.1:{port}") as ex:
        assert ex.kind == "dask" and ex.workers == 2
        assert ex.map(abs, [(-1,), (-2,)]) == [1, 2]
        assert "127.0.0.1" in ex.describe()
    for bad in ("local:0", "dask://", "spark://h:1", "dask://host:99999"):
        with pytest.raises(InvalidParameter, match="executor|port"):
            open_executor(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_address_that_does_not_answer_is_an_error_within_the_timeout() -> None:
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(InvalidParameter, match=f"could not reach the Dask scheduler at "
                       f"tcp://127.0.0.1:{port} within 1 s") as info:
        open_executor(f"dask://127.0.0.1:{port}", timeout=1)
    assert info.value.field == "executor"
    assert time.monotonic() - started < 60  # bounded by the timeout, not a hang


def test_the_core_works_without_dask(tmp_path: Any) -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["distributed"] = None   # as if the 'dask' extra were not installed
        sys.modules["dask"] = None
        from modelyard.automation.executors import open_executor
        from modelyard.errors import InvalidParameter
        with open_executor("serial") as ex:
            assert ex.map(abs, [(-1,)]) == [1]
        try:
            open_executor("dask")
        except InvalidParameter as exc:
            print(exc.message)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "pip install 'modelyard[dask]'" in done.stdout
