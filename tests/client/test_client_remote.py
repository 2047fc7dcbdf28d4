"""The same SDK code over HTTP: a remote yard gives what the local one gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import modelyard as my
from modelyard.client.remote import RemoteBackend
from modelyard.errors import (
    AlreadyExists,
    FilterSyntaxError,
    InvalidParameter,
    NotFound,
)

LiveServer = Any


def test_connect_to_a_url_gives_a_remote_backend(server: LiveServer, remote_yard: my.Yard) -> None:
    assert isinstance(remote_yard.backend, RemoteBackend)
    assert remote_yard.backend.url == server.url
    assert repr(remote_yard) == f"<Yard {server.url}>"
    assert remote_yard.backend.health()["status"] == "ok"


def test_tracking_sdk_over_http_matches_local_reads(
    server: LiveServer, remote_yard: my.Yard
) -> None:
    with remote_yard.start_run(experiment="loans", name="first") as run:
        run.log_params({"max_depth": 6, "lr": 0.1})
        for step in range(3):
            run.log_metrics({"auc": 0.8 + step * 0.05, "loss": 1.0 / (step + 1)}, step=step)
        run.set_tags({"team": "risk"})
    with remote_yard.start_run(experiment="loans", name="second") as run:
        run.log_params({"max_depth": 3})
        run.log_metrics({"auc": 0.7})
    local = server.yard

    query = "metrics.auc > 0.85 and params.max_depth = '6'"
    found = remote_yard.runs.search(query)
    assert [r.name for r in found] == ["first"]
    assert found == local.runs.search(query)
    assert found[0].status == "FINISHED" and found[0].params == {"max_depth": "6", "lr": "0.1"}
    assert remote_yard.runs.get(run.id) == local.runs.get(run.id)
    assert remote_yard.runs.metric_history(found[0].id, "auc") == local.runs.metric_history(
        found[0].id, "auc"
    )
    assert [m.step for m in remote_yard.runs.metric_history(found[0].id, "auc")] == [0, 1, 2]
    assert remote_yard.experiments.list() == local.experiments.list()


def test_a_failing_run_is_marked_failed_over_http(remote_yard: my.Yard) -> None:
    with pytest.raises(ZeroDivisionError), remote_yard.start_run(experiment="e") as run:
        1 / 0  # noqa: B018
    got = remote_yard.runs.get(run.id)
    assert got.status == "FAILED" and "ZeroDivisionError" in (got.error or "")


def test_artifacts_upload_and_download_over_http(remote_yard: my.Yard, tmp_path: Path) -> None:
    src = tmp_path / "report.txt"
    src.write_text("all good\n")
    with remote_yard.start_run(experiment="e") as run:
        run.log_artifact(src)
    [art] = remote_yard.runs.artifacts(run.id)
    out = remote_yard.runs.download_artifact(run.id, art.path, tmp_path / "back.txt")
    assert out.read_text() == "all good\n"


def test_registry_sdk_over_http_register_alias_load_predict(
    server: LiveServer, remote_yard: my.Yard
) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    with remote_yard.start_run(experiment="iris") as run:
        mv = run.log_model(model, name="iris", example=X[:5])
    assert mv.version == 1 and mv.run_id == run.id
    remote_yard.models.set_alias("iris", "production", mv.version, reason="first")
    remote_yard.models.journal("iris", "chosen because it is the only one", version=1)

    loaded = remote_yard.models.load("iris@production")
    local_loaded = server.yard.models.load("iris@production")
    np.testing.assert_array_equal(loaded.predict(X[:10]), local_loaded.predict(X[:10]))
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))

    local = server.yard.models
    assert remote_yard.models.resolve("iris@production") == local.resolve("iris@production")
    assert remote_yard.models.aliases("iris") == local.aliases("iris")
    assert remote_yard.models.alias_history("iris") == local.alias_history("iris")
    assert remote_yard.models.journal_entries("iris") == local.journal_entries("iris")
    assert remote_yard.models.list() == local.list()


def test_a_signature_mismatch_is_reported_the_same_way(remote_yard: my.Yard) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    remote_yard.models.register(LogisticRegression(max_iter=500).fit(X, y), "iris", example=X[:5])
    loaded = remote_yard.models.load("iris/1")
    with pytest.raises(my.SchemaMismatch):
        loaded.predict(pd.DataFrame({"nope": [1.0]}))


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda y: y.runs.get("0" * 32), NotFound, "run_id"),
        (lambda y: y.models.resolve("nobody/1"), NotFound, None),
        (lambda y: y.runs.search("metrics.auc >>> 1"), FilterSyntaxError, None),
        (
            lambda y: y.experiments.create("dup") and y.experiments.create("dup"),
            AlreadyExists,
            None,
        ),
        (lambda y: y.backend.registry.set_alias("m", "a", version=-1), InvalidParameter, None),
    ],
)
def test_server_errors_come_back_as_the_same_class(
    yard: my.Yard, remote_yard: my.Yard, call: Any, error: type[Exception], field: str | None
) -> None:
    with pytest.raises(error) as local_exc:
        call(yard)
    with pytest.raises(error) as remote_exc:
        call(remote_yard)
    assert type(remote_exc.value) is type(local_exc.value)
    assert remote_exc.value.message == local_exc.value.message  # type: ignore[attr-defined]
    assert remote_exc.value.field == local_exc.value.field  # type: ignore[attr-defined]
    if field is not None:
        assert remote_exc.value.field == field  # type: ignore[attr-defined]
