"""Comparing model versions on the same traffic: real models trained here, served over HTTP by
a real model server with a champion, a challenger on a split and a shadow; ground truth sent to
the server's ``/feedback`` by the ids the client got. Figures are checked against the log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli
from modelyard.config import Settings
from modelyard.monitoring.compare import Comparison
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import EndpointConfig, RouteConfig, ShadowConfig
from modelyard.serving.testing import serve_in_thread

FEATURES = ["a", "b", "c"]
START, END = "2000-01-01", "2100-01-01"


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """y = [a + b > 0], flipped on 5% of the rows: a linear model gets ~95% right, a stump on
    one feature ~70%."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    y = ((X["a"] + X["b"]) > 0).astype(int).to_numpy()
    flip = rng.random(n) < 0.05
    return X, np.where(flip, 1 - y, y)


class Served:
    def __init__(self, home: Path, ids: list[str], true_diff: float) -> None:
        self.home = home
        self.ids = ids
        self.true_diff = true_diff

    def yard(self) -> my.Yard:
        return my.connect(settings=Settings.load({}, home=self.home))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("compare") / "home"
    X, y = _data(600, seed=1)
    with my.connect(settings=Settings.load({}, home=home)) as yard:
        stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
        linear = LogisticRegression().fit(X, y)
        other = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
        champion = yard.models.register(stump, "syn", example=X[:5])
        challenger = yard.models.register(other, "syn", example=X[:5])
        shadow = yard.models.register(linear, "syn", example=X[:5])
        # the true difference of accuracy, on a large fresh sample of the same distribution
        Xb, yb = _data(200_000, seed=99)
        true_diff = float((linear.predict(Xb) == yb).mean() - (stump.predict(Xb) == yb).mean())
        endpoint = EndpointConfig(
            name="syn", routes=[RouteConfig(name="main", model=champion.ref, weight=80),
                                RouteConfig(name="challenger", model=challenger.ref, weight=20)],
            shadows=[ShadowConfig(name="next", model=shadow.ref)])
        serve, y_serve = _data(500, seed=2)
        ids: list[str] = []
        with serve_in_thread(create_app(yard, [endpoint])) as url, \
                httpx.Client(base_url=url, timeout=30) as client:
            for start in range(0, len(serve), 5):
                rows = serve.iloc[start:start + 5].to_dict(orient="records")
                resp = client.post("/predict/syn", json={"records": rows})
                assert resp.status_code == 200, resp.text
                ids += resp.json()["ids"]
            r = client.post("/feedback", json={"items": [
                {"prediction_id": pid, "label": int(label)} for pid, label in zip(ids, y_serve)]})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 60
            while True:  # shadow records are written after the answer: wait for all of them
                logged = yard.predictions.query("syn", START, END)
                if logged.filter(logged["shadow"]).height == len(ids) \
                        or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        yard.datasets.add("syn-train", pl_frame(X))
    yield Served(home, ids, true_diff)


def pl_frame(X: pd.DataFrame) -> Any:
    import polars as pl

    return pl.from_pandas(X)


def _by_hand(yard: my.Yard) -> dict[str, Any]:
    """Agreement and the paired difference computed directly from the log and the labels."""
    log = yard.predictions.query("syn", START, END)
    rows = log.select("id", "route", "shadow", "request_id", "output.prediction").to_dicts()
    main = {r["id"]: r["output.prediction"] for r in rows if r["route"] == "main"}
    shadow = [r for r in rows if r["shadow"]]
    pairs = [(r["output.prediction"], main[r["request_id"]], r["request_id"])
             for r in shadow if r["request_id"] in main]
    labels = {pid: yard.monitoring.get_feedback(pid).label for _, _, pid in pairs}
    b = sum(1 for s, m, pid in pairs if s == labels[pid] and m != labels[pid])
    c = sum(1 for s, m, pid in pairs if s != labels[pid] and m == labels[pid])
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["route"]] = counts.get(r["route"], 0) + 1
    return {"agreement": np.mean([s == m for s, m, _ in pairs]), "compared": len(pairs),
            "diff": (b - c) / len(pairs), "counts": counts,
            "shadow_classes": sorted(str(r["output.prediction"]) for r in shadow)}


def test_a_shadow_is_compared_with_the_champion_on_the_same_requests(served: Served) -> None:
    with served.yard() as yard:
        c = yard.monitoring.compare("syn", start=START, end=END, reference="dataset:syn-train")
        hand = _by_hand(yard)
    assert isinstance(c, Comparison)
    assert c.champion is not None and c.champion.startswith("main: syn/1")
    assert c.task == "classification"
    assert c.requests == len(served.ids)
    assert {v.route: v.requests for v in c.versions} == hand["counts"]
    assert [v.role for v in c.versions] == ["champion", "challenger", "shadow"]
    nxt = c.version("next")
    assert nxt.agreement == pytest.approx(hand["agreement"], abs=1e-12)
    assert nxt.compared == hand["compared"]
    # distributions side by side on shared classes
    assert nxt.predictions.kind == "categorical"
    assert nxt.predictions.labels == c.version("main").predictions.labels
    shown = dict(zip(nxt.predictions.labels, nxt.predictions.counts))
    assert sum(shown.values()) == len(hand["shadow_classes"])
    assert shown["1"] == hand["shadow_classes"].count("1")
    # the paired difference: the shadow (a linear model) is clearly better than the stump
    d = nxt.versus_champion
    assert d is not None and d.paired and d.metric == "accuracy"
    assert d.n == hand["compared"]  # the labelled requests the champion answered
    assert nxt.n_labeled == len(served.ids)  # the labels follow every request it saw
    assert d.difference == pytest.approx(hand["diff"], abs=1e-12)
    assert d.low is not None and d.high is not None
    assert d.low <= served.true_diff <= d.high
    assert d.low > 0 and d.verdict == "candidate better"
    assert d.p_value is not None and d.p_value < 0.001
    # a challenger on the split answered other requests: an unpaired comparison
    ch = c.version("challenger").versus_champion
    assert ch is not None and not ch.paired and ch.n == c.version("challenger").requests
    # latency, errors and drift per version
    for v in c.versions:
        assert v.latency.p50_ms is not None and v.latency.p99_ms is not None
        assert v.error_rate is None
        assert v.drift is not None and {f.feature for f in v.drift.features} >= set(FEATURES)
    assert "answered predictions only" in c.errors


def test_the_champion_can_be_named_and_a_wrong_name_is_refused(served: Served) -> None:
    with served.yard() as yard:
        c = yard.monitoring.compare("syn", start=START, end=END, champion="challenger",
                                    drift=False)
        assert c.version("challenger").role == "champion"
        assert c.version("main").versus_champion is not None
        # the shadow is paired with the challenger's answers only
        assert c.version("next").compared == c.version("challenger").requests
        with pytest.raises(my.InvalidParameter, match="champion must name a route.*'mian'"):
            yard.monitoring.compare("syn", start=START, end=END, champion="mian", drift=False)


def test_a_sample_of_whole_requests_keeps_memory_bounded(served: Served) -> None:
    with served.yard() as yard:
        full = yard.monitoring.compare("syn", start=START, end=END, drift=False)
        small = yard.monitoring.compare("syn", start=START, end=END, drift=False, max_rows=300)
    assert full.sampled is None
    assert small.sampled is not None and small.sampled <= 300
    # counts use every row; the pairing uses whole requests of the sample
    assert [v.requests for v in small.versions] == [v.requests for v in full.versions]
    nxt = small.version("next")
    assert 0 < nxt.compared < full.version("next").compared
    assert nxt.versus_champion is not None and nxt.versus_champion.n == nxt.compared


def test_compare_over_rest_the_remote_client_and_the_cli(
        served: Served, server_factory: Any, tmp_path: Path) -> None:
    with served.yard() as yard:
        local = yard.monitoring.compare("syn", start=START, end=END, drift=False)
        srv = server_factory(yard, auth=True)
        reader = yard.backend.auth.create("reader", "reader")
        r = httpx.get(f"{srv.url}/api/v1/monitoring/compare",
                      params={"endpoint": "syn", "start": START, "end": END, "drift": "false"},
                      headers={"Authorization": f"Bearer {reader}"}, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["champion"] == local.champion
        assert [v["agreement"] for v in body["versions"]] == [
            v.agreement for v in local.versions]
        bad = httpx.get(f"{srv.url}/api/v1/monitoring/compare",
                        params={"endpoint": "syn", "window": "7x"},
                        headers={"Authorization": f"Bearer {reader}"}, timeout=60)
        assert bad.status_code == 422 and "window" in bad.text  # names the field
        with my.connect(srv.url, token=reader,
                        settings=Settings.load({}, home=tmp_path / "client")) as remote:
            got = remote.monitoring.compare("syn", start=START, end=END, drift=False)
        assert isinstance(got, Comparison)
        assert got.version("next").versus_champion == local.version("next").versus_champion
    result = CliRunner().invoke(cli, ["monitor", "compare", "syn", "--start", START, "--end", END,
                                      "--no-drift", "--json", "--home", str(served.home)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["versions"][2]["agreement"] == local.version("next").agreement
    result = CliRunner().invoke(cli, ["monitor", "compare", "syn", "--start", START, "--end", END,
                                      "--home", str(served.home)])
    assert result.exit_code == 0, result.output
    assert "next" in result.output and "candidate better" in result.output
    result = CliRunner().invoke(cli, ["monitor", "compare", "sny", "--home", str(served.home)])
    assert result.exit_code != 0 and "'syn'" in result.output


def test_the_html_report_has_a_comparison_section(served: Served) -> None:
    with served.yard() as yard:
        html = yard.monitoring.report("syn", start=START, end=END)
        body = json.loads(yard.monitoring.report("syn", start=START, end=END, format="json"))
        c = yard.monitoring.compare("syn", start=START, end=END, drift=False)
    assert 'id="comparison"' in html and "Model versions on the same traffic" in html
    nxt = c.version("next")
    assert nxt.agreement is not None and nxt.versus_champion is not None
    assert f"{nxt.agreement * 100:.1f}% of {nxt.compared:,}" in html
    assert "candidate better" in html and "Agresti-Min" in html
    assert '"cmp-pred"' in html and '"cmp-diff"' in html  # the figures' specs
    assert body["comparison"]["champion"] == c.champion


def test_a_regressor_is_compared_by_the_paired_difference_of_absolute_errors(
        local_yard: my.Yard) -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(10, 3, 200)
    champion = truth + rng.normal(0, 2.0, 200)  # errs more
    shadow = truth + rng.normal(0, 0.5, 200)
    ids = local_yard.predictions.log([
        {"endpoint": "price", "route": "main", "model_name": "price", "model_version": 1,
         "latency_ms": 1.0, "inputs": {"x": float(t)}, "outputs": {"prediction": float(p)}}
        for t, p in zip(truth, champion)])
    local_yard.predictions.log([
        {"endpoint": "price", "route": "next", "model_name": "price", "model_version": 2,
         "shadow": True, "request_id": pid, "latency_ms": 1.0, "inputs": {"x": float(t)},
         "outputs": {"prediction": float(p)}} for pid, t, p in zip(ids, truth, shadow)])
    local_yard.monitoring.feedback(ids[:150], [float(t) for t in truth[:150]])
    c = local_yard.monitoring.compare("price", start=START, end=END, drift=False)
    assert c.task == "regression"
    nxt = c.version("next")
    assert nxt.mean_abs_difference == pytest.approx(np.abs(shadow - champion).mean())
    assert nxt.predictions.kind == "numerical" and len(nxt.predictions.edges) == 21
    assert nxt.quantiles["p50"] == pytest.approx(np.quantile(shadow, 0.5), rel=0.05)
    d = nxt.versus_champion
    assert d is not None and d.metric == "mae" and d.paired and d.n == 150
    hand = np.abs(shadow[:150] - truth[:150]) - np.abs(champion[:150] - truth[:150])
    assert d.difference == pytest.approx(hand.mean())
    assert d.high is not None and d.high < 0 and d.verdict == "candidate better"
    assert c.version("main").performance["mae"] == pytest.approx(
        np.abs(champion[:150] - truth[:150]).mean())
