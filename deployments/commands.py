"""The `labelrounds deploy` and `labelrounds serve` commands (typer), thin over deployments.deploy and .serve."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from deployments.names import (
    API_LIMIT,
    CREDENTIALS_BLOCK,
    NO_PROGRESS_WINDOW,
    PASSWORD_SECRET,
    POOL_LIMIT,
    POOL_NAME,
    RECEIVER_SECRET_ENV,
    SERVE_LIMIT,
    WATCH_INTERVAL_SECONDS,
)

console = Console()


def deploy(
    pool: Annotated[str, typer.Option(help="Work pool (type process) to create or update.")] = POOL_NAME,
    pool_limit: Annotated[int, typer.Option(min=1, help="Flow runs at once in the pool (all workers).")] = POOL_LIMIT,
    api_limit: Annotated[
        int, typer.Option(min=1, help="Tasks tagged supervisely-api at once (over all runs).")
    ] = API_LIMIT,
    credentials_block: Annotated[
        str, typer.Option(help="SuperviselyCredentials block to save from SERVER_ADDRESS/API_TOKEN.")
    ] = CREDENTIALS_BLOCK,
    password_secret: Annotated[
        str, typer.Option(help="Secret block saved from LABELROUNDS_ANNOTATOR_PASSWORD when that is set.")
    ] = PASSWORD_SECRET,
    schedules: Annotated[
        bool, typer.Option(help="Whether the weekly round and the watcher start on their schedules.")
    ] = True,
    only: Annotated[list[str] | None, typer.Option(help="Deploy only these deployments (repeatable).")] = None,
    receiver_url: Annotated[
        str | None,
        typer.Option(
            help="Public URL of the webhook receiver (labelrounds receiver serve): registers it on Supervisely; "
            f"the shared secret comes from ${RECEIVER_SECRET_ENV}."
        ),
    ] = None,
    watch_interval: Annotated[
        int,
        typer.Option(
            min=10,
            help="Seconds between watcher passes; with --receiver-url, 3600 leaves the watcher only lost deliveries.",
        ),
    ] = WATCH_INTERVAL_SECONDS,
    receiver_team: Annotated[
        list[int] | None,
        typer.Option(help="Team to register the receiver on (repeatable); default: every team you manage."),
    ] = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            help="Notification block (NAME or TYPE/NAME, e.g. slack-webhook/team) told of every round's start, "
            "cycle ends, stall, deadline at risk, finish, failure and no progress (repeatable)."
        ),
    ] = None,
    no_progress_window: Annotated[
        str, typer.Option(help="With --notify: alert when a round made no progress for this long (24h, 90m, PT1H).")
    ] = NO_PROGRESS_WINDOW,
) -> None:
    """Create the work pool, the API concurrency limit, the credentials block and every deployment."""
    from deployments.deploy import DeployOptions, deploy_all
    from labelrounds.client import ConfigurationError

    options = DeployOptions(
        pool=pool,
        pool_limit=pool_limit,
        api_limit=api_limit,
        credentials_block=credentials_block,
        password_secret=password_secret,
        schedules_active=schedules,
        only=tuple(only or ()),
        receiver_url=receiver_url,
        receiver_teams=tuple(receiver_team or ()),
        watch_interval=watch_interval,
        notify_blocks=tuple(notify or ()),
        no_progress_window=no_progress_window,
    )
    try:
        result = asyncio.run(deploy_all(options))
    except (ConfigurationError, ValueError) as error:
        console.print(f"[red]deploy: {error}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    for name, deployment_id in result.deployments.items():
        console.print(f"deployment [bold]{name}[/bold] {deployment_id}")
    console.print(
        f"pool {result.pool} (limit {pool_limit}), task limit {result.api_tag}={api_limit}, "
        f"credentials block {result.credentials_block}"
        + (f", password secret {result.password_secret}" if result.password_secret else "")
    )
    for webhook in result.webhooks:
        verb = "registered" if webhook.created else "updated"
        console.print(f"receiver webhook {webhook.webhook_id} {verb} on team {webhook.team_id}")
    for name, automation_id in result.automations.items():
        console.print(f"automation [bold]{name}[/bold] {automation_id}")
    console.print(f"start a worker: prefect worker start --pool {result.pool}")


def serve(
    limit: Annotated[int, typer.Option(min=1, help="Flow runs at once in this process.")] = SERVE_LIMIT,
    credentials_block: Annotated[
        str | None, typer.Option(help="Credentials block for the runs; default: this process's environment.")
    ] = None,
    password_secret: Annotated[
        str | None, typer.Option(help="Secret block with annotator passwords; default: the environment.")
    ] = None,
    weekly: Annotated[bool, typer.Option(help="Start the weekly round on its schedule.")] = False,
    receiver_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help=f"Also run the webhook receiver on this port (secret: ${RECEIVER_SECRET_ENV})."
        ),
    ] = None,
    receiver_host: Annotated[
        str, typer.Option(help="Address the receiver binds; loopback unless a proxy or tunnel forwards.")
    ] = "127.0.0.1",
    receiver_secret_block: Annotated[
        str | None,
        typer.Option(help=f"Prefect Secret block with the receiver's secret; default: ${RECEIVER_SECRET_ENV}."),
    ] = None,
) -> None:
    """Serve every flow from this process until Ctrl-C (no work pool, no worker needed)."""
    from deployments.serve import ReceiverOptions, serve_all

    receiver = None
    if receiver_port is not None:
        from deployments.receiver_commands import load_secret
        from labelrounds.client import ConfigurationError
        from tasks.credentials import connection_settings

        try:
            secret = load_secret(receiver_secret_block)
            settings = connection_settings(credentials_block)
        except (ConfigurationError, ValueError) as error:
            console.print(f"[red]serve: {error}[/red]", soft_wrap=True)
            raise typer.Exit(2) from None
        receiver = ReceiverOptions(secret=secret, settings=settings, port=receiver_port, host=receiver_host)
    serve_all(credentials_block, password_secret, limit, weekly, receiver)
