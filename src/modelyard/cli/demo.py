"""``modelyard demo``: a year of a lender's loan applications through the whole product.

Data versions backfilled month by month → two candidate models through the validation gate →
``modelyard serve`` (champion + shadow) over HTTP → months of traffic replayed, outcomes
arriving weeks later → monitoring finds the drift and opens an alert → ``modelyard scheduler``
retrains, validates, canaries and promotes → a backtest of retraining policies → one
prediction traced and explained → the audit chain verified → reports and the model card. The
story itself is :mod:`modelyard.examples.story`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

MARKER = ".modelyard-demo"  # a folder holding it was made by the demo: a new run may empty it


def register(app: typer.Typer) -> None:
    """Add ``modelyard demo``."""

    @app.command()
    def demo(
        home: Annotated[Path, typer.Option(
            "--home", help="The demo's own yard; emptied first if an earlier demo made it.")
        ] = Path(".modelyard-demo"),
        quick: Annotated[bool, typer.Option(
            "--quick", help="Smaller data (700 applications a month): a shorter run.")] = False,
        per_month: Annotated[int | None, typer.Option(
            "--per-month", min=200, max=200_000,
            help="Loan applications a month (default 2000; 700 with --quick).")] = None,
        serve: Annotated[bool, typer.Option(
            "--serve", help="Keep the model server and the REST server with the dashboard up "
                            "until Ctrl-C.")] = False,
        port: Annotated[int, typer.Option(
            "--port", min=1, max=65535, help="The dashboard's port.")] = 8080,
    ) -> None:
        """Run the whole lifecycle on a year of generated loan applications: data versions,
        candidates through the validation gate, a model server with a shadow, drift, an
        alert, an automatic retrain with a canary, a backtest, a trace and the audit log."""
        from ..examples.story import StoryOptions

        options = StoryOptions.quick() if quick else StoryOptions()
        if per_month is not None:
            options.per_month = per_month
        from rich.console import Console
        from rich.markup import escape

        from ..examples.processes import DemoError

        try:
            run_demo(home, options, serve=serve, port=port)
        except DemoError as exc:
            Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from exc


def prepare_home(home: Path) -> Path:
    """The demo's folder, empty: made, or emptied when an earlier demo made it; a folder
    with anything else in it is refused (the demo never deletes a yard it did not make)."""
    home = home.resolve()
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise typer.BadParameter(
                f"--home {str(home)!r} holds files the demo did not make; give an empty or "
                "new folder.", param_hint="--home")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by `modelyard demo`; the next demo run empties it\n")
    return home


def run_demo(home: Path, options: Any, *, serve: bool = False, port: int = 8080) -> dict[str, Any]:
    """Run the story in ``home`` (emptied first, see :func:`prepare_home`); returns its facts.
    With ``serve``, the model server and ``modelyard server`` stay up until Ctrl-C."""
    from rich.console import Console
    from threadpoolctl import threadpool_limits

    import modelyard as my

    from ..config import Settings
    from ..examples.story import Story

    console = Console()
    home = prepare_home(home)
    started = time.perf_counter()
    console.print(f"[bold]modelyard demo[/bold] — a year of loan applications; yard at {home}")
    yard = my.connect(settings=Settings.load({}, home=home))  # not the user's MODELYARD_* yard
    story = Story(yard, home, options, console=console)
    try:
        import sklearn.ensemble  # noqa: F401 - loads OpenMP, so that the limit applies to it

        with threadpool_limits(limits=1):  # see examples/processes.py: one OpenMP thread
            facts = story.run()
        facts["seconds"] = time.perf_counter() - started
        console.print(f"[bold]done in {facts['seconds']:.0f} s.[/bold]")
        if serve:
            _serve(story, console, port)
        else:
            console.print("Browse it all with the dashboard:")
            story.command(story.cli("server", "--port", str(port)))
            console.print(f"then open http://127.0.0.1:{port}/ui/ "
                          "(or run the demo with --serve)")
        facts["dashboard"] = f"http://127.0.0.1:{port}/ui/"
    finally:
        story.close()
        yard.close()
    return facts


def _serve(story: Any, console: Any, port: int) -> None:
    server = story.start(["server", "--port", str(port)], "server")
    server.wait_http(f"http://127.0.0.1:{port}/healthz")
    console.print(f"dashboard: http://127.0.0.1:{port}/ui/  (REST API: "
                  f"http://127.0.0.1:{port}/docs)")
    console.print(f"model server: {story.model_url}/predict/loans  "
                  f"(Open Inference Protocol: {story.model_url}/v2/models/loans/infer)")
    console.print("Both stay up until Ctrl-C.")
    try:
        while all(p.proc.poll() is None for p in (server, story.model_server)):
            time.sleep(0.5)
        console.print("[red]a server stopped[/red]; see the logs in "
                      f"{story.home / 'logs'}")
    except KeyboardInterrupt:
        console.print("stopping the servers…")
