"""``modelyard backtest MODEL --from … --to … --every 1w --policy …``: replay retraining
policies over history and compare them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._context import open_yard
from ._render import count_progress, print_json, print_table
from .score import EXECUTOR_HELP

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to ``app``."""

    @app.command("backtest")
    def backtest_cmd(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help=(
            "The model whose recorded training is replayed: 'loans', 'loans@production', "
            "'loans/3'."))],
        start: Annotated[str, typer.Option("--from", help="First step (ISO date or time).")],
        end: Annotated[str, typer.Option("--to", help="End of the last window (exclusive).")],
        policy: Annotated[list[str], typer.Option(help=(
            "A policy YAML file, or 'never', 'every:4w', 'cron:0 3 1 * *', 'drift:0.3', "
            "'performance:accuracy<0.85', 'data:5000'. Repeat to compare."))],
        every: Annotated[str, typer.Option(help="Step length: '1w', '1d', '30d'.")] = "1w",
        label: Annotated[str | None, typer.Option(
            help="Column of realised labels (default: the model's validation suite's).")
        ] = None,
        metric: Annotated[str | None, typer.Option(
            help="accuracy, precision, recall, f1, roc_auc, log_loss, mae, rmse or r2 "
                 "(default: accuracy, or rmse for a regressor).")] = None,
        train_window: Annotated[str | None, typer.Option(
            help="History each training reads (default: as the model's recorded training).")
        ] = None,
        dataset: Annotated[str | None, typer.Option(
            help="Dataset to evaluate on (default: the training dataset).")] = None,
        knowledge: Annotated[str, typer.Option(help=(
            "'as_of': train on what was known at each step (dataset time travel); 'event': "
            "on every row with an earlier event time."))] = "as_of",
        executor: Annotated[str, typer.Option(help=EXECUTOR_HELP)] = "local",
        html: Annotated[Path | None, typer.Option(
            help="Also write the HTML report here.")] = None,
        save: Annotated[bool, typer.Option(
            "--save/--no-save", help="Store the result as a run (experiment 'backtests').")
        ] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")
                           ] = False,
    ) -> None:
        """Replay retraining policies over history with dataset time travel and compare
        them: metric per window, retrains, compute time; a table and an HTML report.

        Each step decides with the policy whether to retrain as of that date, then evaluates
        the model in use on the next window's realised labels. Trainings that policies share
        run once; the steps run in parallel on the executor."""
        with open_yard(ctx) as yard, count_progress("backtest", unit="steps") as advance:
            result = yard.backtest(
                model, start=start, end=end, every=every, policies=policy, label=label,
                metric=metric, train_window=train_window, dataset=dataset,
                knowledge=knowledge, executor=executor, save=save, progress=advance)
        if html is not None:
            result.to_html(html)
        if as_json:
            print_json(result.model_dump(mode="json"))
            return
        print_table(["policy", f"mean {result.metric}", f"worst {result.metric}", "retrains",
                     "trainings", "compute s"], result.table(),
                    title=f"{result.model}: {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d} "
                          f"every {result.every}")
        typer.echo(f"{result.trainings_run} trainings run for {result.trainings_requested} "
                   f"asked ({result.saved_seconds:.1f} s saved by sharing), "
                   f"{result.evaluations_run} evaluations, {result.wall_seconds:.1f} s on "
                   f"{result.executor}"
                   + (f"; run {result.run_id}" if result.run_id else "")
                   + (f"; report {html}" if html else ""))
