"""`labelrounds receiver serve`: run the webhook receiver (uvicorn, loopback by default)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import SecretStr

from deployments.names import RECEIVER_SECRET_ENV

receiver_app = typer.Typer(no_args_is_help=True, add_completion=False)


def load_secret(secret_block: str | None) -> SecretStr:
    """The shared secret: the named Prefect Secret block, else $LABELROUNDS_RECEIVER_SECRET.

    Raises:
        ValueError: neither gives a non-empty secret (the value is never shown).
    """
    if secret_block is not None:
        from prefect.blocks.system import Secret

        value = Secret.load(secret_block, _sync=True).get()  # type: ignore[call-arg,union-attr]
        source = f"Secret block {secret_block!r}"
    else:
        value = os.environ.get(RECEIVER_SECRET_ENV, "")
        source = f"environment variable {RECEIVER_SECRET_ENV}"
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source} must hold a non-empty secret")
    return SecretStr(value)


@receiver_app.command("serve")
def serve_receiver(
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback unless a proxy or tunnel forwards.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8090,
    credentials_block: Annotated[
        str | None, typer.Option(help="SuperviselyCredentials block; default: SERVER_ADDRESS/API_TOKEN.")
    ] = None,
    secret_block: Annotated[
        str | None,
        typer.Option(help=f"Prefect Secret block with the shared secret; default: ${RECEIVER_SECRET_ENV}."),
    ] = None,
) -> None:
    """Receive Supervisely webhooks and emit `labelrounds.job.completed` and `labelrounds.round.ready` until Ctrl-C."""
    import uvicorn

    from deployments.receiver import WEBHOOK_PATH, create_receiver_app
    from labelrounds.client import ConfigurationError
    from tasks.credentials import connection_settings
    from tasks.round_events import announce_completion

    try:
        secret = load_secret(secret_block)
        settings = connection_settings(credentials_block)
    except (ConfigurationError, ValueError) as error:
        typer.echo(f"receiver: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"labelrounds receiver on http://{host}:{port}{WEBHOOK_PATH}")
    uvicorn.run(
        create_receiver_app(secret, settings, announce_completion), host=host, port=port, log_level="info"
    )
