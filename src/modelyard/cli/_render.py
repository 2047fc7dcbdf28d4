"""Output helpers shared by the CLI modules: rich tables, ``--json``, progress bars.

    from ._render import print_json, print_table, transfer_progress

``--json`` output is the entities' own JSON (pydantic ``mode="json"``): what the REST API
returns, so a script can use either. Tables go to stdout; progress goes to stderr and appears
only for a transfer still running after a second.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
import typer
from pydantic_core import to_jsonable_python

__all__ = [
    "JSON_OPTION",
    "console",
    "count_progress",
    "format_time",
    "print_json",
    "print_table",
    "short",
    "transfer_progress",
]

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


_PIPE_WIDTH = 200  # output to a file or a pipe is not folded to 80 columns


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out.width = max(out.width, _PIPE_WIDTH)
    return out


def print_json(value: Any) -> None:
    """Print entities (pydantic models, lists, dicts …) as indented JSON on stdout."""
    data = orjson.dumps(to_jsonable_python(value), option=orjson.OPT_INDENT_2)
    typer.echo(data.decode())


def format_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def short(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """A rich table on stdout (or the ``empty`` line when there are no rows)."""
    from rich.table import Table

    rows = list(rows)
    out = console()
    if not rows:
        out.print(f"[dim]{empty}[/dim]" if out.is_terminal else empty)
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=i == 0)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


@contextlib.contextmanager
def transfer_progress(
    description: str, total: int | None, *, delay: float = 1.0, output: Any = None
) -> Iterator[Callable[[int], None]]:
    """A :class:`~modelyard.client.blobs.ProgressHook`: a rich progress bar on stderr (or the
    rich console ``output``) for a transfer still running after ``delay`` seconds; short ones
    print nothing."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    started = time.monotonic()
    done = 0
    progress: Progress | None = None
    task: Any = None

    def advance(n: int) -> None:
        nonlocal done, progress, task
        done += n
        if progress is None:
            if time.monotonic() - started < delay:
                return
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=output if output is not None else console(stderr=True),
            )
            progress.start()
            task = progress.add_task(description, total=total, completed=done)
        else:
            progress.update(task, completed=done)

    try:
        yield advance
    finally:
        if progress is not None:
            progress.stop()


class _Counter:
    """The ``advance`` of :func:`count_progress`: call it with a count; ``set_total(n)``
    sets the bar's total once the work knows it."""

    def __init__(self, description: str, total: int | None, unit: str, delay: float,
                 output: Any) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.delay = delay
        self.output = output
        self.started = time.monotonic()
        self.done = 0
        self.progress: Any = None
        self.task: Any = None

    def set_total(self, total: int) -> None:
        self.total = total
        if self.progress is not None:
            self.progress.update(self.task, total=total)

    def __call__(self, n: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.done += n
        if self.progress is None:
            if time.monotonic() - self.started < self.delay:
                return
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn(self.unit), TimeElapsedColumn(), TimeRemainingColumn(),
                console=self.output if self.output is not None else console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=self.total,
                                               completed=self.done)
        else:
            self.progress.update(self.task, completed=self.done)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextlib.contextmanager
def count_progress(
    description: str, total: int | None = None, *, unit: str = "rows", delay: float = 1.0,
    output: Any = None,
) -> Iterator[_Counter]:
    """Like :func:`transfer_progress`, for things counted (rows, steps, trials): ``advance(n)``
    moves a bar on stderr that appears once the work has taken ``delay`` seconds;
    ``advance.set_total(n)`` gives the total when it is known only later."""
    counter = _Counter(description, total, unit, delay, output)
    try:
        yield counter
    finally:
        counter.stop()
