"""``modelyard scheduler``: the process that runs the retrain policies."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta

import typer

from ._context import open_yard

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``scheduler`` to ``app``."""

    @app.command("scheduler")
    def scheduler(
        ctx: typer.Context,
        interval: float = typer.Option(5.0, "--interval", min=0.01,
                                       help="Seconds between ticks when nothing is due."),
        workers: int = typer.Option(1, "--workers", min=1, max=64,
                                    help="Jobs run at once by this process."),
        lease: float = typer.Option(120.0, "--lease", min=0.5,
                                    help="Seconds a claimed job stays ours without a heartbeat."),
        name: str | None = typer.Option(None, "--name",
                                        help="This scheduler's name in leases (default "
                                        "host:pid:random)."),
        once: bool = typer.Option(False, "--once", help="Run one tick and exit."),
    ) -> None:
        """Run the retrain policies: plan due jobs, claim them with leases, run the loop.
        Several schedulers may share one database; each due job runs once."""
        from ..automation.scheduler import Scheduler

        with open_yard(ctx) as yard:
            sched = Scheduler.for_yard(yard, owner=name, workers=workers,
                                       lease=timedelta(seconds=lease))
            if once:
                for job in sched.tick():
                    typer.echo(f"{job.id} {job.policy} {job.status} {job.stage}")
                return
            stop = threading.Event()

            def _stop(*_: object) -> None:
                stop.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, _stop)
            typer.echo(f"scheduler {sched.owner} running (every {interval:g} s, "
                       f"{workers} worker{'s' if workers > 1 else ''})", err=True)

            def report(jobs: list) -> None:  # type: ignore[type-arg]
                for job in jobs:
                    typer.echo(f"{job.id} {job.policy} {job.status} {job.stage}", err=True)

            sched.run_forever(stop, interval=interval, on_tick=report)
        typer.echo("scheduler stopped", err=True)
