"""``modelyard policies set|list|show|enable|disable|run|delete``: retrain policies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._context import open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table

__all__ = ["policies_app"]

policies_app = typer.Typer(help="Retrain policies: what to train, when, and how to ship it.",
                           no_args_is_help=True)


@policies_app.command("set")
def set_policy(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A YAML policy with its 'name'.")],
    disabled: bool = typer.Option(False, "--disabled", help="Save it without running it."),
    json: bool = JSON_OPTION,
) -> None:
    """Create or replace a policy from a YAML file (checked now: cron, time zones, that the
    entry point imports from the file's folder or its code_path)."""
    import yaml

    from ..errors import InvalidParameter

    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidParameter(f"cannot read the policy {str(file)!r}: {exc}",
                               field="file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise InvalidParameter(f"{str(file)!r} must be a mapping with a 'name'.", field="name")
    name = data.pop("name")
    data.setdefault("code_path", str(file.resolve().parent))
    with open_yard(ctx) as yard:
        policy = yard.automation.policy(name, data, enabled=not disabled)
    if json:
        print_json(policy)
        return
    typer.echo(f"policy {policy.name} saved (revision {policy.revision}, "
               f"{'enabled' if policy.enabled else 'disabled'})")


@policies_app.command("list")
def list_policies(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="Only this model's."),
    json: bool = JSON_OPTION,
) -> None:
    """Policies with their triggers and deploy mode."""
    with open_yard(ctx) as yard:
        found = yard.automation.policies(model=model)
    if json:
        print_json(found)
        return
    print_table(
        ["policy", "model", "action", "enabled", "triggers", "deploy", "updated"],
        ([p.name, p.spec.model, p.spec.action, "yes" if p.enabled else "no",
          ", ".join(t.type for t in p.spec.triggers),
          p.spec.deploy.mode + (f" {p.spec.deploy.endpoint}" if p.spec.deploy.endpoint else ""),
          format_time(p.updated_at)] for p in found),
        empty="no policies",
    )


@policies_app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The policy's name."),
    json: bool = JSON_OPTION,
) -> None:
    """A policy's spec (as YAML), its cursors and its last jobs."""
    import yaml

    with open_yard(ctx) as yard:
        policy = yard.automation.get(name)
        jobs = yard.automation.jobs(policy=name, limit=10)
    if json:
        print_json({**policy.model_dump(mode="json"), "jobs": jobs})
        return
    typer.echo(f"# policy {policy.name} ({'enabled' if policy.enabled else 'disabled'}, "
               f"revision {policy.revision})")
    typer.echo(yaml.safe_dump(policy.spec.model_dump(mode="json", exclude_defaults=True),
                              sort_keys=False).rstrip())
    print_table(["job", "trigger", "due", "status", "version"],
                ([j.id, j.trigger, format_time(j.due_at), j.status, j.model_version]
                 for j in jobs), title="last jobs", empty="no jobs yet")


@policies_app.command("enable")
def enable(ctx: typer.Context, name: str = typer.Argument(..., help="The policy's name.")) -> None:
    """Run the policy again."""
    with open_yard(ctx) as yard:
        yard.automation.enable(name)
    typer.echo(f"policy {name} enabled")


@policies_app.command("disable")
def disable(ctx: typer.Context,
            name: str = typer.Argument(..., help="The policy's name.")) -> None:
    """Stop planning jobs for the policy."""
    with open_yard(ctx) as yard:
        yard.automation.disable(name)
    typer.echo(f"policy {name} disabled")


@policies_app.command("run")
def run(ctx: typer.Context, name: str = typer.Argument(..., help="The policy's name."),
        reason: str | None = typer.Option(None, "--reason", help="Why (kept on the job).")
        ) -> None:
    """Queue a job of the policy now (a scheduler runs it)."""
    with open_yard(ctx) as yard:
        job = yard.automation.run_now(name, reason=reason)
    typer.echo(f"job {job.id} queued")


@policies_app.command("delete")
def delete(ctx: typer.Context, name: str = typer.Argument(..., help="The policy's name.")
           ) -> None:
    """Delete a policy (its job history stays)."""
    with open_yard(ctx) as yard:
        yard.automation.delete(name)
    typer.echo(f"policy {name} deleted")
