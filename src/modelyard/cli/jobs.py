"""``modelyard jobs list|show``: the history of the retrain policies' jobs."""

from __future__ import annotations

from typing import Any

import typer

from ._context import open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table, short

__all__ = ["jobs_app"]

jobs_app = typer.Typer(help="The jobs of the retrain policies: why, status, outcome.",
                       no_args_is_help=True)


def _outcome(job: Any) -> str:
    if job.rollback:
        return f"rolled back to {job.rollback.get('to')}"
    if job.deploy.get("mode") in ("alias", "canary"):
        return f"{job.deploy['mode']} {job.deploy.get('canary_status', '')}".strip()
    return ""


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    policy: str | None = typer.Option(None, "--policy", "-p", help="Only this policy's."),
    status: str | None = typer.Option(None, "--status", help="Only jobs in this status."),
    limit: int = typer.Option(50, "-n", "--limit", min=1, help="At most this many."),
    json: bool = JSON_OPTION,
) -> None:
    """Jobs, newest first."""
    with open_yard(ctx) as yard:
        found = yard.automation.jobs(policy=policy, status=status, limit=limit)
    if json:
        print_json(found)
        return
    print_table(
        ["job", "policy", "trigger", "due", "status", "stage", "version", "report", "outcome"],
        ([j.id, j.policy, j.trigger, format_time(j.due_at), j.status, j.stage, j.model_version,
          short(j.report_id, 14), _outcome(j)] for j in found),
        empty="no jobs",
    )


@jobs_app.command("show")
def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="The job's id."),
    json: bool = JSON_OPTION,
) -> None:
    """One job: why it fired, its times, decisions, logs and error."""
    with open_yard(ctx) as yard:
        job = yard.automation.job(job_id)
    if json:
        print_json(job)
        return
    import orjson

    def plain(value: Any) -> str:
        return orjson.dumps(value).decode() if value else ""

    print_table(["field", "value"], [
        ["id", job.id], ["policy", job.policy], ["trigger", job.trigger],
        ["why", plain(job.reason)], ["due", format_time(job.due_at)], ["status", job.status],
        ["stage", job.stage], ["attempt", f"{job.attempt} of {job.max_attempts}"],
        ["created", format_time(job.created_at)], ["started", format_time(job.started_at)],
        ["finished", format_time(job.finished_at)], ["model version", job.model_version],
        ["validation report", job.report_id], ["deploy", plain(job.deploy)],
        ["rollback", plain(job.rollback)], ["notified", plain(job.notified)],
    ], title=f"job {job.id}")
    if job.logs:
        typer.echo("logs:")
        typer.echo(job.logs.rstrip())
    if job.error:
        typer.echo("error:")
        typer.echo(job.error.rstrip())
