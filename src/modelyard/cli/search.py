"""``modelyard search FACTORY --data DATASET --label COL --space space.yaml``: a hyperparameter
search in a new run, trials as child runs, on an executor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InvalidParameter
from ._context import open_yard
from ._render import console, print_json, print_table
from .score import EXECUTOR_HELP, split_names

__all__ = ["register"]


def _space(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidParameter(f"--space must be a readable YAML file. Got {path}: {exc}",
                               field="space") from exc
    if not isinstance(data, dict):
        raise InvalidParameter(f"--space {path} must hold a mapping of parameter -> values. "
                               f"Got {type(data).__name__} instead.", field="space")
    return data


def _estimator(factory: str, code_path: Path | None) -> Any:
    from ..tracking.environment import import_entry_point

    made = import_entry_point(factory, str(code_path.resolve()) if code_path else None)
    estimator = made() if callable(made) and not hasattr(made, "get_params") else made
    if not hasattr(estimator, "get_params") or not hasattr(estimator, "fit"):
        raise InvalidParameter(
            f"{factory} must name a scikit-learn estimator or a function returning one. Got "
            f"{type(estimator).__name__} instead.", field="factory")
    return estimator


def register(app: typer.Typer) -> None:
    """Add ``search`` to ``app``."""

    @app.command("search")
    def search_cmd(
        ctx: typer.Context,
        factory: Annotated[str, typer.Argument(help=(
            "'module:name' of a scikit-learn estimator, or of a function returning one "
            "(unfitted)."))],
        data: Annotated[str, typer.Option(help="The dataset version to search on: 'loans' "
                                               "(the latest) or 'loans/3'.")],
        label: Annotated[str, typer.Option(help="The column to predict.")],
        space: Annotated[Path, typer.Option(help=(
            "YAML: parameter -> list of values, or {dist: uniform|loguniform|randint|choice, "
            "low, high}."))],
        trials: Annotated[int | None, typer.Option(
            min=1, help="Random draws (default: every combination of the listed values).")
        ] = None,
        cv: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 3,
        scoring: Annotated[str | None, typer.Option(
            help="A scikit-learn scorer, e.g. accuracy, roc_auc, neg_log_loss.")] = None,
        features: Annotated[str | None, typer.Option(
            help="Feature columns, comma-separated (default: all but the label and time).")
        ] = None,
        experiment: Annotated[str | None, typer.Option(
            help="Experiment of the search run (default: the dataset's name).")] = None,
        register_as: Annotated[str | None, typer.Option(
            "--register", help="Register the best estimator as a version of this model.")
        ] = None,
        executor: Annotated[str, typer.Option(help=EXECUTOR_HELP)] = "local",
        seed: Annotated[int, typer.Option(help="Seed of the random draws.")] = 0,
        code_path: Annotated[Path | None, typer.Option(
            help="Folder to import FACTORY from (default: the current one).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the trials as JSON.")
                           ] = False,
    ) -> None:
        """Search hyperparameters of a scikit-learn estimator on a dataset version, each trial
        a child run, on local processes or Dask; optionally register the best.

        Runs GridSearchCV (every value listed) or RandomizedSearchCV (--trials) through
        joblib on the executor."""
        from ..automation.executors import open_executor

        estimator = _estimator(factory, code_path or Path.cwd())
        grid = _space(space)
        with open_yard(ctx) as yard, open_executor(executor) as ex:
            view = yard.datasets.get(data)
            what = f"searching {trials or 'every combination'} x {cv} folds on {ex.describe()}"
            with console(stderr=True).status(what), yard.start_run(
                    experiment=experiment or view.name, name=f"search-{factory}") as run:
                result = run.search(estimator, grid, data=view, label=label,
                                    features=split_names(features), n_trials=trials, cv=cv,
                                    scoring=scoring, executor=ex, register=register_as,
                                    random_state=seed)
            run_id = run.id
        rows = sorted(result.trials, key=lambda t: t.rank)
        if as_json:
            print_json({"run_id": run_id, "scoring": result.scoring,
                        "best": result.best.__dict__ if result.best else None,
                        "model_version": result.model_version.ref if result.model_version
                        else None, "trials": [t.__dict__ for t in rows]})
            return
        print_table(["rank", f"cv {result.scoring}", "± std", "params", "run"],
                    [(t.rank, f"{t.score:.4f}", f"{t.score_std:.4f}",
                      ", ".join(f"{k}={v}" for k, v in t.params.items()), t.run_id)
                     for t in rows], title=f"search run {run_id}")
        if result.model_version is not None:
            typer.echo(f"registered {result.model_version.ref} (best: {result.best_params})")
