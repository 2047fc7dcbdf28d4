"""``modelyard demo``: the whole lifecycle on generated loan data, in about a minute.

data versions (time travel) → training runs (lineage) → registry (aliases, journal) → model
server (champion + shadow challenger, durable prediction log) → ground truth → monitoring
(drift, performance, an alert, an HTML report) → trace of one prediction → retrain as of a
past date that reproduces the production model exactly.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    """Add ``modelyard demo``."""

    @app.command()
    def demo(
        home: Path = typer.Option(
            None, "--home", help="Where the demo yard lives (default: $MODELYARD_HOME or ./.modelyard)."
        ),
        requests: int = typer.Option(300, min=10, max=100_000, help="Requests sent to the model server."),
    ) -> None:
        """Run the whole lifecycle on generated data: datasets, runs, registry, serving,
        monitoring, trace and a reproducible retrain."""
        from ..config import Settings

        settings = Settings.load(None, home=home)
        run_demo(settings, n_requests=requests)


def run_demo(settings: Any, *, n_requests: int = 300) -> dict[str, Any]:
    import httpx
    import numpy as np
    from rich.console import Console

    import modelyard as my

    from ..automation.retrain import retrain, run_training
    from ..examples.loans import FEATURES, generate
    from ..serving.app import create_app
    from ..serving.endpoints import EndpointConfig, RouteConfig, ShadowConfig
    from ..serving.options import ServerOptions
    from ..serving.testing import serve_in_thread

    console = Console()
    yard = my.connect(settings=settings)
    console.print(f"[bold]modelyard demo[/bold] — yard at {settings.home.resolve()}")

    # 1. data versions ----------------------------------------------------------------------
    console.rule("1 · dataset versions with event time")
    offset = len(yard.datasets.versions("loans")) if _exists(yard, "loans") else 0
    jan = generate(4000, start="2026-01-01", days=31, seed=1 + offset)
    feb = generate(4000, start="2026-02-01", days=28, seed=2 + offset)
    v1 = yard.datasets.add("loans", jan, time_column="ts",
                           description="Generated consumer loans; default = 1 if the loan defaulted")
    yard.datasets.describe("loans", "income", description="Yearly gross income", unit="USD",
                           owner="credit-risk", sensitivity="confidential")
    known_in_january = yard.clock.now()
    v2 = yard.datasets.append("loans", feb)
    shared = len({f.digest for f in v1.fragments} & {f.digest for f in v2.fragments})
    console.print(f"loans v{v1.version}: {v1.n_rows} rows; v{v2.version}: {v2.n_rows} rows "
                  f"({shared} fragment(s) shared, only the new rows stored)")
    then = yard.datasets.as_of("loans", known_in_january)
    console.print(f"as_of({known_in_january:%H:%M:%S}) → {then.to_arrow().num_rows} rows, as known then")

    # 2. training runs ------------------------------------------------------------------------
    console.rule("2 · training runs (entry point, params, data windows, code commit)")
    window = ("2026-01-01", "2026-03-01")
    champion = run_training(
        yard, "modelyard.examples.loans:train", model_name="loans",
        data={"train": yard.datasets.view("loans", as_of=known_in_january,
                                          window_start=window[0], window_end=window[1])},
        params={"max_depth": 3, "learning_rate": 0.1, "seed": 7},
    )
    challenger = run_training(
        yard, "modelyard.examples.loans:train", model_name="loans",
        data={"train": yard.datasets.window("loans", *window)},
        params={"max_depth": 5, "learning_rate": 0.05, "seed": 7},
    )
    for mv in (champion, challenger):
        run = yard.runs.get(mv.run_id)
        console.print(f"{mv.ref}: run {run.id[:12]} val_auc={run.metrics['val_auc']:.3f} "
                      f"trained on {run.metrics['n_train']:.0f} rows")
    yard.models.set_alias("loans", "production", champion.version, reason="first model")
    yard.models.set_alias("loans", "challenger", challenger.version, reason="more data")
    yard.models.journal("loans", "Depth 3 keeps the model explainable to the credit committee.",
                        version=champion.version)
    best = yard.runs.search("metrics.val_auc > 0.5", experiment="loans",
                            order_by=["metrics.val_auc DESC"])
    console.print(f"runs.search('metrics.val_auc > 0.5') → {len(best)} runs; best {best[0].id[:12]}")

    # 3. serving ------------------------------------------------------------------------------
    console.rule("3 · model server: champion answers, challenger in shadow, every prediction logged")
    endpoint = EndpointConfig(
        name="loans", routes=[RouteConfig(name="champion", model="loans@production")],
        shadows=[ShadowConfig(name="challenger", model="loans@challenger")],
    )
    march = generate(max(n_requests, 10) * 5, start="2026-03-01", days=30, drift=0.7, seed=99)
    records = march[FEATURES].to_dict(orient="records")
    ids: list[str] = []
    with serve_in_thread(create_app(yard, [endpoint], ServerOptions(compact_interval=3600))) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(0, len(records), 5):
                reply = client.post("/predict/loans", json={"records": records[i:i + 5]})
                reply.raise_for_status()
                ids.extend(reply.json()["ids"])
            meta = client.get("/v2/models/loans").json()  # a V2 client reads the tensor types
            row = march.iloc[0]
            v2_reply = client.post("/v2/models/loans/infer", json={"inputs": [
                {"name": t["name"], "shape": [1], "datatype": t["datatype"],
                 "data": [row[t["name"]].item() if hasattr(row[t["name"]], "item") else row[t["name"]]]}
                for t in meta["inputs"]]})
            v2_reply.raise_for_status()
    yard.predictions.compact()  # the server compacts on shutdown; this catches any leftover
    console.print(f"{len(ids)} predictions answered, each logged durably before its answer "
                  f"(ids are UUIDv7), plus one over the Open Inference Protocol")

    # 4. ground truth + monitoring -------------------------------------------------------------
    console.rule("4 · ground truth arrives; monitoring finds the drift")
    labels = [int(v) for v in march["default"].tolist()]
    yard.monitoring.feedback(ids, labels[:len(ids)])  # one batch: checked against the models' classes
    yard.monitoring.configure("loans", window="1d")
    yard.monitoring.alert_rule("loans-drift", metric="drift_share", op=">", threshold=0.3,
                               endpoint="loans", cooldown="1h")
    result = yard.monitoring.run("loans", window="1d")
    for g in result.groups:
        drifted = [f.feature for f in g.drift.features if f.drifted]
        perf = ", ".join(f"{k}={v:.3f}" for k, v in sorted(g.performance.items())
                         if k in ("accuracy", "roc_auc"))
        console.print(f"model v{g.model_version} ({'shadow ' if g.shadow else ''}{g.route}): "
                      f"{g.n_rows} rows, drift share {g.drift.drift_share:.2f} "
                      f"(drifted: {', '.join(drifted) or 'none'}); {perf}")
    alerts = yard.monitoring.alerts(state="open", endpoint="loans")
    for alert in alerts:
        console.print(f"[red]ALERT[/red] {alert.message}")
    reports = settings.home.resolve() / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    report_path = reports / "loans-monitor.html"
    yard.monitoring.report("loans", window="1d", path=str(report_path))
    console.print(f"report: {report_path}")

    # 5. trace ----------------------------------------------------------------------------------
    console.rule("5 · trace one prediction to model, run, data and code")
    record = yard.predictions.get(ids[0])
    console.print(f"prediction {record.id}: {record.outputs} by {record.model_name}/{record.model_version}")
    console.print(yard.lineage(f"{record.model_name}/{record.model_version}").to_text())

    # 6. reproducible retrain ----------------------------------------------------------------------
    console.rule("6 · retrain production as of when its data was known: same data, same model")
    reproduced = retrain(yard, "loans@production", as_of=known_in_january)
    test = march[FEATURES].head(200)
    same = bool(np.array_equal(
        yard.models.load(champion.ref).predict_proba(test),
        yard.models.load(reproduced.ref).predict_proba(test)))
    console.print(f"{reproduced.ref} reproduces {reproduced.source_version}: identical predictions = {same}")

    console.rule("done")
    # a command printed for pasting stands alone on its line, exactly as it runs
    # (tests/cli/test_printed_commands.py runs it)
    console.print("Browse it all with the dashboard:")
    console.print(f"  modelyard --home {shlex.quote(str(settings.home))} server",
                  markup=False, highlight=False, soft_wrap=True)
    console.print("then open http://127.0.0.1:8080/ui/")
    yard.close()
    return {"ids": ids, "alerts": len(alerts), "reproduced": same, "report": str(report_path),
            "champion": champion.ref, "challenger": challenger.ref}


def _exists(yard: Any, name: str) -> bool:
    from ..errors import NotFound

    try:
        yard.datasets.info(name)
        return True
    except NotFound:
        return False
