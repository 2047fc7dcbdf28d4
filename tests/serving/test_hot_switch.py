from __future__ import annotations

import threading
from typing import Any

import httpx

import modelyard as my

from .conftest import ServerFactory, eventually, iris_rows


def test_alias_move_switches_under_load_without_a_failed_request(
        model_server: ServerFactory, iris: Any, serving_yard: my.Yard) -> None:
    row = iris_rows(iris, 1)
    stop = threading.Event()
    results: list[list[tuple[int, str]]] = [[] for _ in range(4)]

    def client(out: list[tuple[int, str]]) -> None:
        with httpx.Client() as c:
            while not stop.is_set() and len(out) < 4000:
                try:
                    r = c.post(f"{url}/predict/iris", json={"records": row})
                    out.append((r.status_code, r.json().get("model", "")))
                except httpx.HTTPError as exc:
                    out.append((0, repr(exc)))

    with model_server("iris@production", poll_interval=0.1) as url:
        threads = [threading.Thread(target=client, args=(out,)) for out in results]
        for t in threads:
            t.start()
        eventually(lambda: all(len(out) >= 5 for out in results), "every client to be answered")
        serving_yard.models.set_alias("iris", "production", 2)
        eventually(lambda: all(out and out[-1][1] == "iris/2" for out in results),
                   "every client to be answered by iris/2")
        counts = [len(out) for out in results]
        eventually(lambda: all(len(out) >= n + 5 for out, n in zip(results, counts)),
                   "more answers after the switch")
        stop.set()
        for t in threads:
            t.join()
        described = httpx.get(f"{url}/endpoints/iris").json()
    flat = [x for out in results for x in out]
    assert flat and all(code == 200 for code, _ in flat), {c for c, _ in flat}
    for out in results:  # each client saw v1, then v2, never back
        models = [m for _, m in out]
        first_two = models.index("iris/2")
        assert set(models[:first_two]) == {"iris/1"} and set(models[first_two:]) == {"iris/2"}
    assert described["routes"][0]["serving"] == "iris/2"


def test_a_route_whose_first_load_failed_is_retried(serving_yard: my.Yard, iris: Any) -> None:
    """An alias that does not exist yet: the endpoint is not ready (503), and it becomes ready
    once the alias is set, without a restart."""
    from modelyard.serving.app import create_app
    from modelyard.serving.endpoints import endpoint_from_ref
    from modelyard.serving.options import ServerOptions
    from modelyard.serving.testing import serve_in_thread, wait_ready

    app = create_app(serving_yard, [endpoint_from_ref("iris@staging")],
                     ServerOptions(poll_interval=0.1))
    with serve_in_thread(app, ready=False) as url:
        assert httpx.get(f"{url}/readyz").status_code == 503
        assert httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 1)}
                          ).status_code == 503
        serving_yard.models.set_alias("iris", "staging", 2)
        wait_ready(url, timeout=30)
        r = httpx.post(f"{url}/predict/iris", json={"records": iris_rows(iris, 1)})
        assert r.status_code == 200 and r.json()["model"] == "iris/2"


def test_a_request_during_the_first_load_waits_for_it(serving_yard: my.Yard, iris: Any) -> None:
    """A worker takes connections as soon as it starts (workers share one socket): a request
    for an endpoint still on its first load waits for it instead of answering 503."""
    from modelyard.serving.app import create_app
    from modelyard.serving.endpoints import endpoint_from_ref
    from modelyard.serving.models import load_handle
    from modelyard.serving.options import ServerOptions
    from modelyard.serving.testing import serve_in_thread

    release = threading.Event()

    def slow_loader(yard: Any, ref: str, device: str | None) -> Any:  # the real load, once
        release.wait(60)                                              # the test allows it
        return load_handle(yard, ref, device)

    app = create_app(serving_yard, [endpoint_from_ref("iris@production")], ServerOptions(),
                     loader=slow_loader)
    answers: list[httpx.Response] = []
    with serve_in_thread(app, ready=False) as url:
        assert httpx.get(f"{url}/v2/models/iris/ready").json()["state"] == "loading"
        client = threading.Thread(target=lambda: answers.append(httpx.post(
            f"{url}/predict/iris", json={"records": iris_rows(iris, 1)}, timeout=60)))
        client.start()
        first_load = app.runtime.endpoints["iris"].first_load
        eventually(lambda: first_load._waiters, "the request to wait for the load")  # type: ignore[attr-defined]
        release.set()
        client.join(60)
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["model"] == "iris/1"
