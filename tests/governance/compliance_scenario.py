"""The yard the trace and card tests look at, built as a user would: a dataset with event
time, two training runs on a window of it, a champion and a challenger with aliases, a
journal, a validation report with per-slice figures, and a model server answering over HTTP
with the champion and shadowing the challenger."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard as my
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import parse_endpoints
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread

#: a column name and texts that would run as code if a page put them in unescaped
HOSTILE = "</script><script>alert(1)</script>"
HOSTILE_TEXT = "</script> | **bold** [x](javascript:alert(1)) <b>not bold</b>"
FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "worst_concave_points",
            "worst_area", "worst_texture"]
SUITE = textwrap.dedent('''
    holdout: {dataset: cancer, start: "2025-08-01", end: "2026-01-01"}
    label: target
    checks:
      - {type: metric, metric: accuracy, min: 0.8}
      - {type: metric, metric: accuracy, name: by-band, min: 0.5, segment_by: band, min_rows: 5}
''')
ENDPOINT = {"name": "cancer", "routes": [{"name": "champion", "model": "cancer@production"}],
            "shadows": [{"name": "challenger", "model": "cancer@challenger"}]}


def cancer_frame() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True).frame
    data.columns = [c.replace(" ", "_") for c in data.columns]
    data = data[[*FEATURES, "target"]].copy()
    data.insert(0, "ts", pd.date_range("2025-01-01", periods=len(data), freq="12h", tz="UTC"))
    data["band"] = pd.cut(data["mean_radius"], [0, 13, 17, 100],
                          labels=["small", "medium", "large"]).astype(str)
    data[HOSTILE] = "x"  # not a feature: shown in the card's training data, never run
    return data


@dataclass
class Scenario:
    yard: my.Yard
    frame: pd.DataFrame
    champion: Any
    challenger: Any
    report: Any
    run_id: str
    ids: list[str] = field(default_factory=list)

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        return self.frame[FEATURES].iloc[start:start + n].to_dict(orient="records")


def serve(scenario: Scenario) -> Any:
    """A model server over the scenario's yard (a context manager yielding its URL)."""
    endpoints = parse_endpoints([ENDPOINT])
    app = create_app(scenario.yard, endpoints, ServerOptions(compact_interval=3600,
                                                             poll_interval=0.2))
    return serve_in_thread(app)


def build(home: Path) -> Scenario:
    yard = my.connect(settings=my.Settings.load({}, home=home))
    frame = cancer_frame()
    dv = yard.datasets.add("cancer", frame, time_column="ts")
    yard.datasets.describe("cancer", HOSTILE, description=HOSTILE_TEXT, unit="<i>u</i>")
    yard.datasets.describe("cancer", "mean_radius", description="Mean radius of the nuclei",
                           unit="mm", sensitivity="medical")
    train = dv.window("2025-01-01", "2025-08-01")
    X = train.to_pandas()[FEATURES]
    y = train.to_pandas()["target"]
    with yard.start_run(experiment="cancer", datasets=[train]) as run:
        run.log_params({"n_estimators": 20, "max_depth": 2})
        gbm = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
        run.log_metrics({"accuracy": float(gbm.score(X, y))})
        champion = run.log_model(gbm, name="cancer", example=X.head(5))
    with yard.start_run(experiment="cancer", datasets=[train]) as run2:
        linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
        challenger = run2.log_model(linear, name="cancer", example=X.head(5))
    yard.models.set_alias("cancer", "production", champion.version, reason="beats the baseline")
    yard.models.set_alias("cancer", "challenger", challenger.version, reason="shadow it first")
    yard.models.journal("cancer", "Depth 2 keeps it explainable to the committee.")
    yard.validation.set_suite("cancer", yaml=SUITE)
    report = yard.validation.run(champion.ref)
    scenario = Scenario(yard, frame, champion, challenger, report, run.id)
    with serve(scenario) as url:
        reply = httpx.post(f"{url}/predict/cancer", json={"records": scenario.rows(0, 3)},
                           timeout=60)
        reply.raise_for_status()
        scenario.ids = reply.json()["ids"]
    yard.predictions.compact()  # what the server left open: everything is in Parquet now
    yard.monitoring.configure("cancer", reference="dataset:cancer", window="1d")
    yard.monitoring.run("cancer", window="1d")
    yard.models.journal("cancer", "Written after the predictions: not in force for them.")
    return scenario
