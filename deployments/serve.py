"""Serve every flow from this process (`labelrounds serve`): no work pool, no worker, the simplest local use."""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import load_flow_from_entrypoint

from deployments.definitions import DeploymentDefinition, deployment_definitions
from deployments.names import SERVE_LIMIT


def served_deployment(definition: DeploymentDefinition) -> RunnerDeployment:
    """A deployment of the flow loaded into this process, runs started as subprocesses of it."""
    flow = load_flow_from_entrypoint(definition.absolute_entrypoint)
    return flow.to_deployment(**definition.options())


def serve_all(
    credentials_block: str | None = None,
    password_secret: str | None = None,
    limit: int = SERVE_LIMIT,
    weekly_active: bool = False,
) -> None:
    """Serve every deployment until interrupted (Ctrl-C); the runs connect as the environment says by default.

    Args:
        credentials_block: SuperviselyCredentials block the runs use by default; None: SERVER_ADDRESS and
            API_TOKEN of this process's environment (or local.env, ~/supervisely.env).
        password_secret: Secret block with the annotators' passwords; None: LABELROUNDS_ANNOTATOR_PASSWORD.
        limit: flow runs at once in this process.
        weekly_active: start the weekly round on its schedule (the watcher always runs on its interval).
    """
    definitions = deployment_definitions(credentials_block, password_secret, weekly_active, watcher_active=True)
    serve(*(served_deployment(definition) for definition in definitions), limit=limit)
