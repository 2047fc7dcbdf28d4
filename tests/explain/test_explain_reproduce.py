"""An explanation reproduces the logged prediction first and refuses, showing the difference,
when the exact model version gives another answer; global importance is stored at
registration, from a reproducible sample of the training data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from explain_models import log_as_served
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app
from modelyard.errors import NotFound, NotReproducible
from modelyard.ids import new_id


def _data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]
    X.columns = [c.replace(" ", "_") for c in X.columns]
    return X, y


def _tampered(yard: my.Yard, ref: str, row: pd.DataFrame) -> str:
    """A logged prediction whose output the model never gave (class and probabilities swapped)."""
    (pid,) = log_as_served(yard, ref, row)
    rec = yard.predictions.get(pid)
    proba = rec.outputs["proba"]
    swapped = dict(zip(proba, reversed(list(proba.values()))))
    (bad,) = yard.predictions.log([{
        "endpoint": rec.endpoint, "route": rec.route, "model_name": rec.model_name,
        "model_version": rec.model_version, "inputs": rec.inputs,
        "outputs": {"prediction": 1 - rec.outputs["prediction"], "proba": swapped}}])
    return bad


def test_a_prediction_the_version_does_not_give_is_refused_with_the_difference(
        local_yard: my.Yard) -> None:
    X, y = _data()
    mv = local_yard.models.register(
        DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), "risk", example=X[:5])
    bad = _tampered(local_yard, mv.ref, X.iloc[[0]])
    with pytest.raises(NotReproducible, match=r"prediction: logged 1, recomputed 0; "
                                              r"proba\[0\]: logged .*, recomputed .*") as err:
        local_yard.explain(bad)
    assert err.value.field == "prediction_id" and mv.digest[:12] in err.value.message
    # the trace still answers, with the refusal in place of the explanation
    trace = local_yard.trace(bad)
    assert trace.explanation is None and "must be reproduced" in (trace.explanation_error or "")


def test_the_cli_refuses_with_one_error_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    yard = my.connect(settings=my.Settings.load({}, home=home))
    X, y = _data()
    mv = yard.models.register(LogisticRegression(max_iter=2000).fit(X, y), "risk", example=X[:5])
    bad = _tampered(yard, mv.ref, X.iloc[[1]])
    (good,) = log_as_served(yard, mv.ref, X.iloc[[2]])
    yard.close()
    runner = CliRunner()
    refused = runner.invoke(app, ["--home", str(home), "explain", bad])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: Prediction ") and refused.stderr.count("\n") == 1
    done = runner.invoke(app, ["--home", str(home), "explain", good, "--top", "3"])
    assert done.exit_code == 0, done.output
    assert "risk/1 · permutation · probability of class 1" in done.stdout
    assert "█" in done.stdout and "3 other features" in done.stdout and "reproduced: max |logged - recomputed|" in done.stdout
    missing = runner.invoke(app, ["--home", str(home), "explain", new_id()])
    assert missing.exit_code == 1 and "No prediction with id" in missing.stderr
    malformed = runner.invoke(app, ["--home", str(home), "explain", "nope"])
    assert malformed.exit_code == 1 and "must be a UUIDv7" in malformed.stderr


def test_the_rest_route_refuses_with_409_naming_the_field(
        local_yard: my.Yard, server_factory) -> None:
    import httpx

    X, y = _data()
    mv = local_yard.models.register(
        DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y), "risk", example=X[:5])
    bad = _tampered(local_yard, mv.ref, X.iloc[[3]])
    srv = server_factory(local_yard)
    reply = httpx.get(f"{srv.url}/api/v1/predictions/{bad}/explanation", timeout=60)
    assert reply.status_code == 409
    body = reply.json()
    assert body["error"] == "not_reproducible" and body["field"] == "prediction_id"
    remote = my.connect(srv.url, settings=my.Settings.load({}, home=local_yard.settings.home))
    with pytest.raises(NotReproducible, match="recomputed"):
        remote.explain(bad)
    remote.close()


def test_importance_is_stored_at_registration_from_the_training_data(yard: my.Yard) -> None:
    X, y = _data()
    dv = yard.datasets.add("risk", X.assign(target=y, note="</script>"))
    with yard.start_run(experiment="risk", datasets=[dv]) as run:
        mv = run.log_model(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
                           name="risk", example=X[:5])
    stored = yard.backend.explain.importance("risk", mv.version)
    assert stored.status == "computed" and stored.method == "shap.TreeExplainer"
    assert stored.digest == mv.digest and stored.target == "1"
    sample = stored.sample
    assert sample is not None and sample.source == "dataset" and sample.dataset == dv.ref
    assert (sample.digest, sample.n_rows, sample.population, sample.seed) == (
        dv.digest, 200, len(X), 0)
    assert next(f.feature for f in stored.features) in X.columns
    assert stored.features == sorted(stored.features, key=lambda f: -f.mean_abs)
    again = yard.backend.explain.compute_importance("risk", mv.version)  # same rows, same result
    assert again.sample.rows_digest == sample.rows_digest and again.features == stored.features


def test_a_version_with_nothing_to_explain_records_why(yard: my.Yard) -> None:
    X, y = _data()
    mv = yard.models.register(LogisticRegression(max_iter=2000).fit(X.to_numpy(), y), "bare")
    stored = yard.backend.explain.importance("bare", mv.version)
    assert stored.status == "unavailable"
    assert "no rows to explain: the model version has no run, and it has no input example" \
        in (stored.reason or "")
    with pytest.raises(NotFound, match="No global importance stored for model bare/9"):
        yard.backend.explain.importance("bare", 9)
