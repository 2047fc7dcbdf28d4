"""``modelyard endpoints list|show|delete``: the endpoints model servers keep in the yard.

An endpoint declared through a model server's API (``PUT /endpoints/NAME``) is stored under
the server's scope (``modelyard serve --scope``, default ``default``) and served by every
server started with that scope until it is deleted. Endpoints of a server's command line are
recorded too (source ``config``), for lineage; deleting such a record changes no server.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import InvalidParameter, NotFound, did_you_mean
from ._context import open_yard
from ._render import JSON_OPTION, format_time, print_json, print_table

__all__ = ["app"]

app = typer.Typer(help="Endpoints stored for model servers: list, show, delete.",
                  no_args_is_help=True)


def _repo(yard: Any) -> Any:
    from ..serving.repository import ServingRepository

    if yard.backend.is_remote:
        raise InvalidParameter("Model-server endpoints live in the yard's database: run this "
                               "with --home or --db, not --remote.", field="remote")
    return ServingRepository(yard.backend.db, yard.clock)


def _get(repo: Any, name: str) -> Any:
    try:
        return repo.get_endpoint(name)
    except NotFound:
        known = [e.name for e in repo.list_endpoints()]
        raise NotFound(f"No stored endpoint named {name!r}; stored: {known or 'none'}."
                       f"{did_you_mean(name, known)}", field="name") from None


def _models(spec: dict[str, Any]) -> str:
    refs = [r.get("model", "") for r in spec.get("routes", [])]
    refs += [f"shadow {s.get('model', '')}" for s in spec.get("shadows", [])]
    if spec.get("canary"):
        refs.append(f"canary {spec['canary'].get('model', '')}")
    return ", ".join(refs)


@app.command("list")
def list_endpoints(
    ctx: typer.Context,
    scope: Annotated[str | None, typer.Option(help="Only this scope.")] = None,
    json: bool = JSON_OPTION,
) -> None:
    """List stored endpoints: which scope serves them and where they come from."""
    with open_yard(ctx) as yard:
        stored = _repo(yard).list_endpoints(scope=scope)
    if json:
        print_json(stored)
        return
    print_table(
        ["name", "scope", "source", "models", "serving", "revision", "updated"],
        ([e.name, e.scope, e.source, _models(e.spec),
          ", ".join(f"{k}={v}" for k, v in sorted(e.served.items())), e.revision,
          format_time(e.updated_at)] for e in stored),
        empty="no stored endpoints",
    )


@app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The endpoint.")]) -> None:
    """Print one stored endpoint (its spec, scope, source, what it serves) as JSON."""
    with open_yard(ctx) as yard:
        print_json(_get(_repo(yard), name))


@app.command("delete")
def delete(ctx: typer.Context,
           name: Annotated[str, typer.Argument(help="The endpoint.")]) -> None:
    """Delete a stored endpoint: servers of its scope stop serving it at their next poll,
    and later servers do not load it."""
    with open_yard(ctx) as yard:
        repo = _repo(yard)
        stored = _get(repo, name)
        repo.delete_endpoint(name)
    where = (f"servers of scope {stored.scope!r} stop serving it" if stored.source == "api"
             else "it was a record of a server's configuration; no server changes")
    typer.echo(f"deleted endpoint {name!r} ({where})")
