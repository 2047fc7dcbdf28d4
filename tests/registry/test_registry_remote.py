"""The same ``yard.models`` SDK over HTTP (``modelyard server`` on loopback), both backends."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

import modelyard as my
from modelyard.errors import InvalidParameter, NotFound, SchemaMismatch


def test_register_load_alias_and_journal_over_http(remote_yard: my.Yard) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.iloc[:60, :4]
    model = LinearRegression().fit(X, y.iloc[:60])
    mv = remote_yard.models.register(model, "loans", example=X[:5], tags={"data": "diabetes"})
    assert mv.ref == "loans/1" and mv.signature is not None
    alias = remote_yard.models.set_alias("loans", "production", 1, reason="first")
    assert alias.version == 1
    loaded = remote_yard.models.load("loans@production")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    with pytest.raises(SchemaMismatch, match="Column 'bmi' is missing"):
        loaded.predict(X.drop(columns=["bmi"]))
    remote_yard.models.journal("loans", "Baseline for the 2026 review.", version=1)
    assert [e.text for e in remote_yard.models.journal_entries("loans", version=1)] == [
        "Baseline for the 2026 review."]
    remote_yard.models.delete_alias("loans", "production", reason="drill")
    assert [e.new_version for e in remote_yard.models.alias_history("loans")] == [1, None]


def test_errors_cross_http_with_their_class_and_message(remote_yard: my.Yard) -> None:
    with pytest.raises(NotFound, match="No registered model named 'ghost'"):
        remote_yard.models.get("ghost/2")
    with pytest.raises(InvalidParameter, match="'name@alias'"):
        remote_yard.backend.registry.resolve(ref="ghost@")


def test_a_model_logged_to_a_run_registers_later_over_http(remote_yard: my.Yard) -> None:
    """``log_to_run`` (what autolog does) and ``register_from_run`` work on a shared server."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    with remote_yard.start_run(experiment="diabetes") as run:
        remote_yard.models.log_to_run(run.id, model, example=X[:5])
    assert remote_yard.models.versions_of_run(run.id) == []
    mv = remote_yard.models.register_from_run(run.id, "diabetes-lin")
    assert (mv.ref, mv.run_id) == ("diabetes-lin/1", run.id)
    np.testing.assert_allclose(remote_yard.models.load(mv.ref).predict(X[:5]),
                               model.predict(X[:5]))
