"""``modelyard`` — the root command. Each command loads its module only when it runs.

To add a command group: write ``app = typer.Typer(help="…", no_args_is_help=True)`` in a module
of ``cli/`` and add one line to :data:`COMMANDS` below. ``modelyard --help`` lists the table
without importing anything, so a command's heavy imports (pandas, sklearn, fastapi …) cost only
that command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._context import ModelyardGroup, build_state

__all__ = ["COMMANDS", "app", "main"]

#: command name -> ("module:attr", the one line ``modelyard --help`` shows for it). ``attr`` is
#: a ``typer.Typer`` (the group ``modelyard NAME …``) or a ``register(app)`` function that adds
#: commands to ``app``. ``tests/cli/test_cli_registry.py`` checks each line against the command.
COMMANDS: dict[str, tuple[str, str]] = {
    "version": ("modelyard.cli.core:register", "Print the modelyard version."),
    "init": ("modelyard.cli.core:register",
             "Create the yard (its folder, database schema and artifact store) and say where."),
    "server": ("modelyard.cli.core:register",
               "Run the REST API (and the dashboard) over this yard's database and artifacts."),
    "lineage": ("modelyard.cli.lineage:register",
                "Data versions -> run -> model version -> aliases, or a dataset version's models."),
    "trace": ("modelyard.cli.trace:register",
              ("Prediction -> model version (digest) -> run, code, environment -> training data; "
               "validation, alias moves, journal, audit records and the explanation of that very "
               "prediction, computed with that exact version.")),
    "explain": ("modelyard.cli.explain:register",
                ("Reproduce the prediction with the exact model version (exit 1 with the "
                 "difference when it does not), then attribute it: exact TreeSHAP for tree "
                 "models, permutation SHAP against a training sample otherwise.")),
    "card": ("modelyard.cli.card:register",
             ("A model card from stored facts: purpose and owner, training data, metrics overall "
              "and by slice, validation, global explanation, lineage, serving, drift and "
              "performance history, journal, alias history.")),
    "card-edit": ("modelyard.cli.card:register",
                  "Set the editable fields of a model's card (kept as tags 'card.<field>')."),
    "retrain": ("modelyard.cli.lineage:register",
                ("Re-run the training recorded for a model version on its data as known at a date, "
                 "and register the result (linked to the original).")),
    "score": ("modelyard.cli.score:register",
              ("Score Parquet files or a dataset version with a model version into Parquet "
               "(predictions, probabilities, prediction ids), on local processes or Dask; "
               "resumable by partition.")),
    "search": ("modelyard.cli.search:register",
               ("Search hyperparameters of a scikit-learn estimator on a dataset version, each "
                "trial a child run, on local processes or Dask; optionally register the "
                "best.")),
    "backtest": ("modelyard.cli.backtest:register",
                 ("Replay retraining policies over history with dataset time travel and compare "
                  "them: metric per window, retrains, compute time; a table and an HTML "
                  "report.")),
    "serve": ("modelyard.cli.serve:register",
              ("Serve models over HTTP: POST /predict/<endpoint>, the Open Inference Protocol "
               "(/v2/models/<endpoint>/infer), /metrics, /healthz, /readyz; with --grpc-port, the "
               "Open Inference Protocol over gRPC as well.")),
    "build": ("modelyard.cli.serve:register",
              ("Write a deployable bundle: the model, pinned requirements, a Dockerfile running "
               "`modelyard serve`, Kubernetes manifests (StatefulSet + Service, KServe).")),
    "demo": ("modelyard.cli.demo:register",
             ("Run the whole lifecycle on a year of generated loan applications: data "
              "versions, candidates through the validation gate, a model server with a shadow, "
              "drift, an alert, an automatic retrain with a canary, a backtest, a trace and the "
              "audit log.")),
    "db": ("modelyard.cli.core:register", "The metadata database."),
    "runs": ("modelyard.cli.runs:register",
             "Training runs: list, search, show, download artifacts."),
    "models": ("modelyard.cli.models:register",
               "The model registry: models, versions, aliases and the journal."),
    "datasets": ("modelyard.cli.datasets:register",
                 "Versioned datasets with event time, time travel and profiles."),
    "endpoints": ("modelyard.cli.endpoints:app",
                  "Endpoints stored for model servers: list, show, delete."),
    "predictions": ("modelyard.cli.predictions:predictions_app", "The prediction log."),
    "erase": ("modelyard.cli.erase:register",
              ("Erase every logged prediction made for a request key, and its feedback labels, "
               "from the log's segments and Parquet; recorded in the audit log (who, when, how "
               "many; never the key).")),
    "monitor": ("modelyard.cli.monitor:monitor_app",
                "Drift, data quality, performance and alerts of served models."),
    "tokens": ("modelyard.cli.tokens:register",
               "API tokens of users (shown once, stored only as hashes)."),
    "users": ("modelyard.cli.users:register",
              "Users and their roles: viewer, editor, approver, admin."),
    "validate": ("modelyard.cli.validate:register",
                 ("Run the model's validation suite on REF and store the report (exit 1 if it "
                  "failed).")),
    "suites": ("modelyard.cli.validate:register",
               "Validation suites: what a version must pass."),
    "reports": ("modelyard.cli.validate:register", "Validation reports (immutable)."),
    "protection": ("modelyard.cli.validate:register",
                   "Protected aliases: they move only to a version that passed."),
    "scheduler": ("modelyard.cli.scheduler:register",
                  ("Run the retrain policies: plan due jobs, claim them with leases, run the "
                   "loop. Several schedulers may share one database; each due job runs once.")),
    "jobs": ("modelyard.cli.jobs:jobs_app",
             "The jobs of the retrain policies: why, status, outcome."),
    "policies": ("modelyard.cli.policies:policies_app",
                 "Retrain policies: what to train, when, and how to ship it."),
    "pipelines": ("modelyard.cli.pipelines:pipelines_app",
                  "Pipelines: steps that re-run only what changed; runs, cache hits and miss "
                  "reasons."),
    "audit": ("modelyard.cli.audit:audit_app",
              "The tamper-evident audit log: verify it, read it, export it, sign its head."),
}


class _Root(ModelyardGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="modelyard",
    help="Track, version, register, serve and monitor machine-learning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Root,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        "--home", help="The yard's folder (SQLite + artifacts). Env: MODELYARD_HOME; "
        "default ./.modelyard.")] = None,
    db: str | None = typer.Option(
        None, "--db", help="A database URL, e.g. postgresql+psycopg://user@host/db. "
        "Env: MODELYARD_DATABASE_URL."),
    artifacts: str | None = typer.Option(
        None, "--artifacts", help="Artifact store: a folder or fsspec URL (s3://bucket/yard). "
        "Env: MODELYARD_ARTIFACTS_URL."),
    remote: str | None = typer.Option(
        None, "--remote", help="A modelyard server, e.g. http://127.0.0.1:8080."),
    token: str | None = typer.Option(
        None, "--token", help="Bearer token for --remote. Env: MODELYARD_TOKEN."),
) -> None:
    """Track, version, register, serve and monitor machine-learning models."""
    ctx.obj = build_state(home, db, artifacts, remote, token)


def main() -> None:
    """Console entry point: errors become one line on stderr and a non-zero exit
    (see ``_context.ModelyardGroup``)."""
    app()
