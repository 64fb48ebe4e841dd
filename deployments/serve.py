"""Serve every flow from this process (`labelrounds serve`): no work pool, no worker, the simplest local use.

With a receiver port it also runs the webhook receiver (`deployments.receiver`) in the same process, as a uvicorn
server task beside the served flows, on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prefect import aserve, serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import load_flow_from_entrypoint
from pydantic import SecretStr

from deployments.definitions import DeploymentDefinition, deployment_definitions
from deployments.names import SERVE_LIMIT
from deployments.receiver import WEBHOOK_PATH, create_receiver_app
from labelrounds.client import ConnectionSettings
from labelrounds.sandbox.server import bind_socket, socket_url, uvicorn_server
from tasks.round_events import announce_completion


@dataclass(frozen=True)
class ReceiverOptions:
    """Where the in-process receiver listens and what it checks with (resolved before anything starts)."""

    secret: SecretStr
    settings: ConnectionSettings
    port: int
    host: str = "127.0.0.1"


def served_deployment(definition: DeploymentDefinition) -> RunnerDeployment:
    """A deployment of the flow loaded into this process, runs started as subprocesses of it."""
    flow = load_flow_from_entrypoint(definition.absolute_entrypoint)
    return flow.to_deployment(**definition.options())


async def serve_with_receiver(
    deployments: list[RunnerDeployment], receiver: ReceiverOptions, limit: int
) -> None:
    """Serve the deployments and the receiver in this event loop until interrupted; either ending ends both."""
    sock = bind_socket(receiver.host, receiver.port)
    server = uvicorn_server(create_receiver_app(receiver.secret, receiver.settings, announce_completion))
    print(f"labelrounds receiver on {socket_url(sock)}{WEBHOOK_PATH}", flush=True)  # noqa: T201 - the CLI's output
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock])),
        asyncio.create_task(aserve(*deployments, limit=limit)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        for pending in tasks:
            if not pending.done() and pending is not tasks[0]:
                pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sock.close()


def serve_all(
    credentials_block: str | None = None,
    password_secret: str | None = None,
    limit: int = SERVE_LIMIT,
    weekly_active: bool = False,
    receiver: ReceiverOptions | None = None,
) -> None:
    """Serve every deployment until interrupted (Ctrl-C); the runs connect as the environment says by default.

    Args:
        credentials_block: SuperviselyCredentials block the runs use by default; None: SERVER_ADDRESS and
            API_TOKEN of this process's environment (or local.env, ~/supervisely.env).
        password_secret: Secret block with the annotators' passwords; None: LABELROUNDS_ANNOTATOR_PASSWORD.
        limit: flow runs at once in this process.
        weekly_active: start the weekly round on its schedule (the watcher always runs on its interval).
        receiver: run the webhook receiver beside the flows; None: no receiver.
    """
    definitions = deployment_definitions(
        credentials_block, password_secret, weekly_active, watcher_active=True
    )
    deployments = [served_deployment(definition) for definition in definitions]
    if receiver is None:
        serve(*deployments, limit=limit)
    else:
        asyncio.run(serve_with_receiver(deployments, receiver, limit))
