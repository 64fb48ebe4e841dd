"""`labelrounds sandbox …` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import SecretStr

from labelrounds.sandbox.defaults import ADMIN_TOKEN_ENV, DEFAULT_ADMIN_LOGIN, LOOPBACK

if TYPE_CHECKING:
    from labelrounds.sandbox.seed import SeedSpec

sandbox_app = typer.Typer(no_args_is_help=True, add_completion=False)
_Parsed = TypeVar("_Parsed")


def _parse_seed(text: str) -> SeedSpec:
    """Typer callback: a seed name, or a clear usage error."""
    from labelrounds.sandbox.seed import SeedSpec

    try:
        return SeedSpec.parse(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _parse_spec(parse: Callable[[str], _Parsed], text: str | None, option: str) -> _Parsed | None:
    """A compact `--crew`/`--faults` spec, or a usage error naming the option and the problem."""
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


@sandbox_app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback unless you mean to expose it.")
    ] = LOOPBACK,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free port).")] = 8089,
    db: Annotated[Path, typer.Option(help="SQLite file; reopened with its state when it exists.")] = Path(
        "sandbox.db"
    ),
    seed: Annotated[
        str,
        typer.Option(
            help="lemons | lemons:D (datasets ds1..dsD of the six lemons) | empty | synthetic:DxN "
            "(used only for a new database)."
        ),
    ] = "lemons",
    admin_login: Annotated[
        str, typer.Option(help="Login of the seeded instance admin.")
    ] = DEFAULT_ADMIN_LOGIN,
    admin_token: Annotated[
        str | None,
        typer.Option(
            envvar=ADMIN_TOKEN_ENV, show_envvar=True, help="The admin's API token (random if unset)."
        ),
    ] = None,
    admin_password: Annotated[
        str | None,
        typer.Option(
            envvar="LABELROUNDS_SANDBOX_ADMIN_PASSWORD",
            show_envvar=True,
            help="The admin's password for POST /api/account (none if unset).",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="Log every request line (never headers or tokens).")
    ] = False,
    crew: Annotated[
        str | None,
        typer.Option(
            help="Run simulated labelers and reviewers, e.g. 'speed=0,reject=0.3,seed=7' ('' for the defaults). "
            "Keys: speed, label, review (seconds waited per image), skill (0..1: share of truth objects drawn; "
            "expected F1), pace (simulated seconds per image, reported by jobs.stats), reject (0..1), "
            "min-f1 (reject images scoring under it against the truth), max-rejections, poll, seed, logins (a+b), "
            "mode (http, instant). speed, label, review, skill and pace also take values per login: "
            "'skill=labeler_1:0.95+labeler_2:0.7', a bare value for everyone else ('pace=40s+labeler_3:90s')."
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Inject faults, e.g. 'jobs.add:drop=0.02,write:5xx=0.1,*:latency=0.05@200ms,seed=7'. "
            "Rules METHODS:KIND=RATE[@DURATION], METHODS a method, a glob or 'write'; KIND latency, 429, 500, "
            "502, 503, 5xx or drop; webhook deliveries: webhook:drop=R, webhook:delay=R@D, webhook:dup=R; "
            "settings seed=N, crew=on."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(hidden=True)] = False,
    ready_file: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Serve the Supervisely-compatible sandbox until interrupted."""
    # Imported here, not at the top: every `labelrounds` command loads this module, and the server's imports
    # (FastAPI, the handlers) would add seconds to commands that never start a sandbox.
    from labelrounds.sandbox.app import create_app
    from labelrounds.sandbox.crew import Crew, CrewConfig
    from labelrounds.sandbox.faults import STATS_PATH, FaultInjector, FaultPlan
    from labelrounds.sandbox.server import (
        bind_socket,
        open_sandbox,
        socket_url,
        uvicorn_server,
        write_ready_file,
    )

    seed_spec = _parse_seed(seed)
    crew_config = _parse_spec(CrewConfig.parse, crew, "--crew")
    fault_plan = _parse_spec(FaultPlan.parse, faults, "--faults")
    try:
        sock = bind_socket(host, port)  # before the database, so a busy port writes nothing
    except OSError as error:
        typer.echo(f"Cannot listen on {host}:{port}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    opened = open_sandbox(
        db,
        seed_spec,
        admin_login=admin_login,
        admin_token=SecretStr(admin_token) if admin_token else None,
        admin_password=SecretStr(admin_password) if admin_password else None,
    )
    url = socket_url(sock)
    summary = opened.summary
    if not quiet:
        state = f"reopened {db} (seed ignored)" if opened.reopened else f"new {db}, seed {seed}"
        typer.echo(f"labelrounds sandbox listening on {url}  ({state})")
        typer.echo(
            f"  admin login: {summary.admin_login} (user {summary.admin_id}), team {summary.team_id}, "
            f"workspace {summary.workspace_id}, project {summary.project_id}, datasets {list(summary.dataset_ids)}"
        )
        typer.echo(f"  SERVER_ADDRESS={url}")
        # The one place a token is printed on purpose: it is the user's own local sandbox.
        typer.echo(f"  API_TOKEN={summary.admin_token.get_secret_value()}")
        if crew_config is not None:
            typer.echo(f"  crew: {crew_config.to_spec()}")
        if fault_plan is not None:
            typer.echo(f"  faults: {fault_plan.to_spec()}")
        typer.echo(f"  request and fault counts: GET {url}{STATS_PATH} (admin token)")
        typer.echo("Press Ctrl+C to stop.")
    if ready_file is not None:
        write_ready_file(ready_file, url, summary)
    simulated_crew = Crew(crew_config) if crew_config is not None else None
    traffic = FaultInjector(fault_plan, crew=simulated_crew)
    app = create_app(opened.store, base_url=url, crew=simulated_crew, faults=traffic)
    server = uvicorn_server(app, access_log=access_log)
    try:
        server.run(sockets=[sock])
    finally:
        opened.store.close()


if __name__ == "__main__":
    typer.main.get_group(sandbox_app)()  # a group even with one command, so `serve` is a subcommand
