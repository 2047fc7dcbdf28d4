"""Adaptive micro-batching: concurrent requests predicted in one call, each answered (and
logged, and failed) on its own; rows counted, not requests; cancellation never hangs a batch;
shadows keep working; PyTorch models on a chosen device."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Histogram

import modelyard as my
from modelyard.errors import InvalidParameter
from modelyard.serving.batching import BatchPolicy, MicroBatcher
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.models import load_handle

from .conftest import ServerFactory, eventually, iris_rows


def _burst(url: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return list(await asyncio.gather(*(client.post(url, json=b) for b in bodies)))

    return asyncio.run(go())


def _batch_calls(metrics: str, route: str = "main") -> tuple[float, float]:
    """(model calls, rows) of a route from the batch-size histogram."""
    def value(kind: str) -> float:
        m = re.search(rf'modelyard_batch_rows_{kind}{{[^}}]*route="{route}"[^}}]*}} (\S+)',
                      metrics)
        return float(m.group(1)) if m else 0.0

    return value("count"), value("sum")


def test_concurrent_requests_share_a_call_and_keep_their_own_ids_and_records(
        model_server: ServerFactory, serving_yard: my.Yard, iris: Any) -> None:
    rows = iris_rows(iris, 12, start=40)
    ep = {"name": "iris", "routes": [{"model": "iris/1"}],
          "batching": {"max_delay_ms": 1000, "max_batch_rows": 6}}
    with model_server(ep) as url:
        answers = _burst(f"{url}/predict/iris", [{"records": [r]} for r in rows])
        calls, predicted = _batch_calls(httpx.get(f"{url}/metrics").text)
    assert [a.status_code for a in answers] == [200] * 12
    expected = serving_yard.models.load("iris/1").predict(pd.DataFrame(rows)).tolist()
    assert [a.json()["predictions"][0] for a in answers] == expected
    ids = [a.json()["ids"][0] for a in answers]
    assert len(set(ids)) == 12
    assert predicted == 12 and calls < 12  # gathered (full batches of 6 go at once)
    for i, pid in enumerate(ids):
        rec = serving_yard.predictions.get(pid)
        assert rec.inputs == rows[i] and rec.outputs["prediction"] == expected[i]
        assert rec.request_id == pid


def test_a_bad_row_fails_only_its_own_request(model_server: ServerFactory,
                                              colors_model: str) -> None:
    ep = {"name": "colors", "routes": [{"model": colors_model}],
          "batching": {"max_delay_ms": 1000, "max_batch_rows": 8}}
    bodies = [{"records": [{"color": "purple" if i == 5 else "red", "size": float(i)}]}
              for i in range(8)]
    with model_server(ep) as url:
        answers = _burst(f"{url}/predict/colors", bodies)
    assert [a.status_code for a in answers] == [200] * 5 + [500] + [200] * 2
    assert "error_id" in answers[5].json()


def test_rows_are_counted_not_requests(model_server: ServerFactory, iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}],
          "batching": {"max_delay_ms": 1000, "max_batch_rows": 4}}
    with model_server(ep) as url:
        answers = _burst(f"{url}/predict/iris",
                         [{"records": iris_rows(iris, 3, start=3 * i)} for i in range(6)])
        text = httpx.get(f"{url}/metrics").text
    assert all(len(a.json()["predictions"]) == 3 for a in answers)
    over = re.search(r'modelyard_batch_rows_bucket{[^}]*le="4.0"[^}]*route="main"[^}]*} (\S+)',
                     text)
    calls, rows = _batch_calls(text)
    assert rows == 18 and over is not None and float(over.group(1)) == calls  # none above 4


def test_batching_off_predicts_each_request_alone(model_server: ServerFactory,
                                                  iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}], "batching": False}
    with model_server(ep) as url:
        _burst(f"{url}/predict/iris", [{"records": [r]} for r in iris_rows(iris, 6)])
        assert _batch_calls(httpx.get(f"{url}/metrics").text) == (6.0, 6.0)


def test_shadows_are_batched_and_logged_too(model_server: ServerFactory, serving_yard: my.Yard,
                                            iris: Any) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}],
          "shadows": [{"name": "tree", "model": "iris/2"}],
          "batching": {"max_delay_ms": 500, "max_batch_rows": 8}}
    with model_server(ep) as url:
        answers = _burst(f"{url}/predict/iris", [{"records": [r]} for r in iris_rows(iris, 8)])
        ids = {a.json()["ids"][0] for a in answers}
        eventually(lambda: _batch_calls(httpx.get(f"{url}/metrics").text, "tree")[1] == 8,
                   "the shadow's 8 rows")
    now = serving_yard.clock.now()
    df = serving_yard.predictions.query("iris", now - pd.Timedelta(minutes=5), now)
    shadow = df.filter(df["shadow"])
    assert set(shadow["request_id"].to_list()) == ids


def _handle_and_histogram(yard: my.Yard) -> tuple[Any, Histogram]:
    return load_handle(yard, "iris/1"), Histogram("rows", "rows", registry=CollectorRegistry())


def _observed(hist: Histogram) -> float:
    return next(s.value for m in hist.collect() for s in m.samples if s.name == "rows_sum")


def test_a_cancelled_request_is_left_out_and_never_hangs_the_batch(serving_yard: my.Yard,
                                                                  iris: Any) -> None:
    handle, hist = _handle_and_histogram(serving_yard)
    policy = BatchPolicy(max_delay_ms=20, max_batch_rows=64, automatic=False)
    rows = iris_rows(iris, 3, start=60)

    async def scenario() -> tuple[list[Any], Any]:
        batcher = MicroBatcher()
        futures = [batcher.submit(handle, handle.prepare_records([r]), policy, hist)
                   for r in rows]
        futures[1].cancel()  # its client went away while it waited
        done = await asyncio.wait_for(asyncio.gather(futures[0], futures[2]), 30)
        lonely = batcher.submit(handle, handle.prepare_records(rows[:1]), policy, hist)
        lonely.cancel()  # every request of a batch cancelled: the queue still drains
        again = await asyncio.wait_for(
            batcher.submit(handle, handle.prepare_records(rows[:1]), policy, hist), 30)
        return list(done), again

    done, again = asyncio.run(scenario())
    expected = serving_yard.models.load("iris/1").predict(pd.DataFrame(rows)).tolist()
    assert [d[0][0] for d in done] == [expected[0], expected[2]]
    assert again[0] == [expected[0]]
    assert _observed(hist) == 3  # 2 rows in the first batch, none of the cancelled, 1 after


def test_a_request_larger_than_a_batch_is_predicted_alone(serving_yard: my.Yard,
                                                         iris: Any) -> None:
    handle, hist = _handle_and_histogram(serving_yard)
    policy = BatchPolicy(max_delay_ms=5, max_batch_rows=4, automatic=False)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher()
        big = batcher.submit(handle, handle.prepare_records(iris_rows(iris, 10)), policy, hist)
        small = batcher.submit(handle, handle.prepare_records(iris_rows(iris, 2)), policy, hist)
        return list(await asyncio.wait_for(asyncio.gather(big, small), 30))

    big, small = asyncio.run(scenario())
    assert len(big[0]) == 10 and len(small[0]) == 2 and len(big[1]) == 10


def test_batching_settings_are_checked() -> None:
    with pytest.raises(InvalidParameter, match="max_delay") as err:
        parse_endpoints([{"name": "a", "routes": [{"model": "a/1"}],
                          "batching": {"max_delay": 2}}])
    assert "batching" in (err.value.field or "")
    with pytest.raises(InvalidParameter, match="device must be cpu, cuda"):
        parse_endpoints([{"name": "a", "routes": [{"model": "a/1"}], "device": "gpu0"}])


def test_a_device_is_refused_for_a_model_that_cannot_move(model_server: ServerFactory) -> None:
    ep = {"name": "iris", "routes": [{"model": "iris/1"}], "device": "cuda"}
    with model_server(ep, ready=False) as url:
        problems = eventually(lambda: httpx.get(f"{url}/readyz").json()["problems"].get("iris"),
                              "the load to fail")
    assert "runs on the CPU only" in problems["main"]


def test_a_pytorch_model_is_batched_on_its_device(model_server: ServerFactory,
                                                 serving_yard: my.Yard, iris: Any) -> None:
    import torch

    from .torch_models import IrisNet

    X, _ = iris
    torch.manual_seed(0)
    net = IrisNet(hidden=16, n_out=1)
    serving_yard.models.register(net, "irisnet", example=X[:5],
                                 init_kwargs={"hidden": 16, "n_out": 1})
    ep = {"name": "irisnet", "routes": [{"model": "irisnet/1"}], "device": "cpu",
          "batching": {"max_delay_ms": 1000, "max_batch_rows": 8}}
    rows = iris_rows(iris, 8, start=90)
    with model_server(ep) as url:
        answers = _burst(f"{url}/predict/irisnet", [{"records": [r]} for r in rows])
        calls, predicted = _batch_calls(httpx.get(f"{url}/metrics").text)
    with torch.no_grad():
        want = net(torch.tensor(pd.DataFrame(rows).to_numpy(np.float32))).reshape(-1).numpy()
    got = np.array([a.json()["predictions"][0] for a in answers])
    assert np.allclose(got, want, atol=1e-6)
    assert predicted == 8 and calls < 8
