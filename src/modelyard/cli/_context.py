"""Where the CLI works (global options) and how it fails (one line on stderr).

``modelyard --home DIR | --db URL [--artifacts URL] | --remote URL [--token T] COMMAND …``:
the root callback builds one :class:`~modelyard.config.Settings` from these options and the
``MODELYARD_*`` environment (read once, here) and keeps it on the click context; a command
gets it with :func:`settings_of` or opens the yard with :func:`open_yard`.

:class:`ModelyardGroup` is the root command class: a :class:`~modelyard.errors.ModelyardError`
or a usage error becomes ``error: …`` on stderr and a non-zero exit (1 for bad input the
domain refused, 2 for a command line that does not parse), never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

# Typer >= 0.20 carries its own copy of click; its exceptions live here.
from typer._click.core import Command, Context, HelpFormatter
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup

from ..errors import InvalidParameter, ModelyardError

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["CliState", "ModelyardGroup", "build_state", "command_group", "open_yard", "settings_of"]


@dataclass(frozen=True)
class CliState:
    """What the global options chose: the settings every command of this invocation uses.

    The settings are built on first use, so ``modelyard COMMAND --help`` costs no settings."""

    options: Mapping[str, Any]
    environ: Mapping[str, str] | None = None

    @cached_property
    def settings(self) -> Settings:
        from ..config import Settings

        return Settings.load(self.environ, **self.options)

    @property
    def is_remote(self) -> bool:
        return (self.settings.database_url or "").startswith(("http://", "https://"))


def build_state(
    home: Path | None = None,
    db: str | None = None,
    artifacts: str | None = None,
    remote: str | None = None,
    token: str | None = None,
    environ: dict[str, str] | None = None,
) -> CliState:
    """Settings from the global options over the environment (default: the process's)."""
    if db and remote:
        raise InvalidParameter(
            f"--db and --remote name two different yards; give one. Got --db {db!r} and "
            f"--remote {remote!r}.",
            field="remote",
        )
    if remote and not remote.startswith(("http://", "https://")):
        raise InvalidParameter(
            f"--remote must be a server URL such as http://127.0.0.1:8080. Got {remote!r} instead.",
            field="remote",
        )
    options = {"home": home, "database_url": remote or db, "artifacts_url": artifacts,
               "token": token}
    return CliState(options, environ)


def _state(ctx: typer.Context | None) -> CliState:
    if ctx is None:  # the command's own context, when the caller has none at hand
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)  # type: ignore[assignment]
    found = ctx.find_object(CliState) if ctx is not None else None
    if found is None:  # a command run without the root callback (tests of a sub-app)
        found = build_state()
        if ctx is not None:
            ctx.obj = found
    return found


def settings_of(ctx: typer.Context | None, *, home: Path | None = None) -> Settings:
    """The settings of this invocation (``ctx``: the command's ``typer.Context``); ``home`` (a
    command's own ``--home``) overrides the global one."""
    settings = _state(ctx).settings
    if home is not None:
        settings = settings.model_copy(update={"home": home})
    return settings


def open_yard(ctx: typer.Context | None, *, home: Path | None = None) -> Any:
    """The yard the global options point at (local, PostgreSQL or a remote server). On a
    remote yard, blob transfers that take more than a second show a progress bar."""
    import modelyard as my

    yard = my.connect(settings=settings_of(ctx, home=home))
    if getattr(yard.backend, "is_remote", False):
        from ._render import transfer_progress

        yard.backend.blobs.progress = transfer_progress
    return yard


def command_group(parent: typer.Typer, name: str, help: str) -> typer.Typer:
    """A ``modelyard NAME …`` group under ``parent`` (help shown when called without a command)."""
    group = typer.Typer(help=help, no_args_is_help=True)
    parent.add_typer(group, name=name)
    return group


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class ModelyardGroup(TyperGroup):
    """The root command: errors as one ``error: …`` line on stderr, never a traceback.

    Its commands load lazily: ``lazy_commands`` maps a command name to ``("module:attr",
    "one-line help")`` and the module is imported only when that command runs (or its own
    ``--help`` is asked); ``modelyard --help`` lists the names with the help given here.
    ``attr`` is a ``typer.Typer`` (mounted as the group NAME) or a ``register(app)`` function
    that adds commands to ``app`` (the one called NAME is taken; one call serves every name
    it adds).
    """

    lazy_commands: Mapping[str, tuple[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, TyperGroup] = {}
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx),
                *(name for name in self.lazy_commands if name not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_commands:
            return command
        spec, help_line = self.lazy_commands[cmd_name]
        if self._listing:  # `modelyard --help`: the name and its line, nothing imported
            return TyperCommand(cmd_name, help=help_line, short_help=help_line)
        return self._load(spec).get_command(ctx, cmd_name)

    def _load(self, spec: str) -> TyperGroup:
        """The commands that ``spec`` adds, built once per spec."""
        group = self._loaded.get(spec)
        if group is None:
            module, _, attr = spec.partition(":")
            target = getattr(importlib.import_module(module), attr)
            holder = typer.Typer()
            if isinstance(target, typer.Typer):
                names = [n for n, (s, _) in self.lazy_commands.items() if s == spec]
                for name in names:
                    holder.add_typer(target, name=name)
            else:
                target(holder)
            group = self._loaded[spec] = typer.main.get_group(holder)
        return group

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            typer.echo(f"error: {_one_line(exc.message)}", err=True)
            raise typer.Exit(1) from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()  # the help text, as click would
            sys.exit(exc.exit_code)
        except UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            typer.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)
            sys.exit(2)
        except ClickException as exc:
            typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted.", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)
