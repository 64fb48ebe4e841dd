"""Deploy every flow to a Prefect server: work pool, API concurrency limit, credentials, deployments.

Run as `labelrounds deploy` (or `python -m deployments.deploy`). Every step is an upsert, so deploying again
updates the pool limit, the blocks and the deployments in place. With a receiver URL it also registers the
webhook receiver on Supervisely (one `labeling_job.completed` webhook per team, found by URL and updated),
saves the receiver's shared secret as a Secret block and creates (or updates) the automation that resumes a
suspended round when the receiver announces it ready (`deployments.automations`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from uuid import UUID

from prefect import Flow
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.workers.process import ProcessWorker
from pydantic import SecretStr

from deployments.automations import (
    ensure_automation,
    ensure_notification_automations,
    resume_ready_rounds_automation,
)
from deployments.definitions import (
    REPO_DIR,
    WATCH_INTERVAL_SECONDS,
    DeploymentDefinition,
    deployment_definitions,
)
from deployments.names import (
    API_LIMIT,
    CREDENTIALS_BLOCK,
    NO_PROGRESS_WINDOW,
    PASSWORD_SECRET,
    POOL_LIMIT,
    POOL_NAME,
    RECEIVER_SECRET_BLOCK,
    RECEIVER_SECRET_ENV,
)
from deployments.notify_checks import parse_window, resolve_notification_blocks
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.webhook_setup import RegisteredWebhook, ensure_receiver_webhook, require_http_url
from tasks.credentials import PASSWORD_ENV, SuperviselyCredentials
from tasks.retrying import API_TAG


@dataclass(frozen=True)
class DeployOptions:
    """How to deploy: names, limits, and whether the schedules start active."""

    pool: str = POOL_NAME
    pool_limit: int = POOL_LIMIT
    api_limit: int = API_LIMIT
    credentials_block: str = CREDENTIALS_BLOCK
    password_secret: str = PASSWORD_SECRET
    schedules_active: bool = True
    only: tuple[str, ...] = ()
    receiver_url: str | None = None
    receiver_teams: tuple[int, ...] = ()  # empty: every team the credentials administer or manage
    receiver_secret_block: str = RECEIVER_SECRET_BLOCK
    watch_interval: int = WATCH_INTERVAL_SECONDS  # seconds between watcher passes
    notify_blocks: tuple[str, ...] = ()  # notification blocks (NAME or TYPE/NAME) told of every round event
    no_progress_window: str = NO_PROGRESS_WINDOW


@dataclass(frozen=True)
class DeployResult:
    """What `deploy_all` created or updated."""

    pool: str
    api_tag: str
    deployments: dict[str, UUID]
    credentials_block: str
    password_secret: str | None
    webhooks: tuple[RegisteredWebhook, ...] = ()
    automations: dict[str, UUID] = field(default_factory=dict)


async def ensure_pool(name: str, limit: int) -> None:
    """Create or update the `process` work pool with its concurrency limit (flow runs at once over all workers)."""
    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
                concurrency_limit=limit,
                description="labelrounds flow runs; the limit caps the rounds running at once.",
            ),
            overwrite=True,
        )


async def ensure_api_limit(limit: int) -> None:
    """Create or update the task concurrency limit on the API tag (tasks calling the Supervisely API at once)."""
    async with get_client() as client:
        await client.create_concurrency_limit(tag=API_TAG, concurrency_limit=limit)


async def save_credentials(block_name: str, settings: ConnectionSettings) -> None:
    """Save the server address and token as a SuperviselyCredentials block (the token is stored encrypted)."""
    block = SuperviselyCredentials(server_address=settings.server_address, api_token=settings.api_token)
    await block.save(block_name, overwrite=True)


async def save_password_secret(secret_name: str, password: SecretStr) -> None:
    """Save the annotators' password as a Prefect Secret block."""
    await Secret(value=password).save(secret_name, overwrite=True)


def receiver_secret() -> SecretStr:
    """The receiver's shared secret from $LABELROUNDS_RECEIVER_SECRET; `ValueError` when it is unset or empty."""
    value = os.environ.get(RECEIVER_SECRET_ENV, "")
    if not value:
        raise ValueError(
            f"a receiver URL needs the shared secret in the environment variable {RECEIVER_SECRET_ENV}"
        )
    return SecretStr(value)


async def register_receiver(
    settings: ConnectionSettings, url: str, secret: SecretStr, team_ids: tuple[int, ...]
) -> tuple[RegisteredWebhook, ...]:
    """Register the receiver's webhook on each team (default: every team the credentials administer or manage)."""
    async with SuperviselyClient(settings) as api:
        teams = team_ids or tuple(
            team.id for team in await api.list_teams() if team.role in ("admin", "manager")
        )
        if not teams:
            raise ValueError("the credentials administer or manage no team to register the receiver on")
        return tuple([await ensure_receiver_webhook(api, team_id, url, secret) for team_id in teams])


async def apply_deployment(definition: DeploymentDefinition, pool: str) -> UUID:
    """Create or update one deployment from this repository's source (no image: the worker runs it in place)."""
    flow = await Flow.afrom_source(source=str(REPO_DIR), entrypoint=definition.entrypoint)
    deployment = await flow.ato_deployment(**definition.options(), work_pool_name=pool)
    return await deployment.aapply(work_pool_name=pool)


async def deploy_all(options: DeployOptions, settings: ConnectionSettings | None = None) -> DeployResult:
    """Create the pool, the limit, the credentials (from `settings`, else the environment) and the deployments.

    Args:
        options: names, limits, schedules, and which deployments (`only`; empty: all).
        settings: the Supervisely connection to store in the credentials block; None reads SERVER_ADDRESS and
            API_TOKEN from the environment (or local.env, ~/supervisely.env).

    Raises:
        ValueError: an unknown deployment name in `options.only`, no connection settings found, a receiver URL
            that is not http(s) or without its secret, a `--notify` block that does not exist or cannot notify,
            a bad no-progress window (all before anything is written).
    """
    definitions = deployment_definitions(
        options.credentials_block,
        options.password_secret,
        options.schedules_active,
        options.schedules_active,
        options.watch_interval,
    )
    known = {definition.name for definition in definitions}
    unknown = sorted(set(options.only) - known)
    if unknown:
        raise ValueError(f"unknown deployment(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    secret = None
    if options.receiver_url is not None:
        require_http_url(options.receiver_url)
        secret = receiver_secret()
    window = parse_window(options.no_progress_window)
    notify_targets = await resolve_notification_blocks(options.notify_blocks)
    settings = settings or ConnectionSettings.from_env()
    password = os.environ.get(PASSWORD_ENV)
    await ensure_pool(options.pool, options.pool_limit)
    await ensure_api_limit(options.api_limit)
    await save_credentials(options.credentials_block, settings)
    if password:
        await save_password_secret(options.password_secret, SecretStr(password))
    chosen = [definition for definition in definitions if not options.only or definition.name in options.only]
    ids = {definition.name: await apply_deployment(definition, options.pool) for definition in chosen}
    webhooks: tuple[RegisteredWebhook, ...] = ()
    automations: dict[str, UUID] = {}
    if options.receiver_url is not None and secret is not None:
        await Secret(value=secret).save(options.receiver_secret_block, overwrite=True)
        webhooks = await register_receiver(settings, options.receiver_url, secret, options.receiver_teams)
        resume = resume_ready_rounds_automation()
        automations[resume.name] = await ensure_automation(resume)
    automations.update(await ensure_notification_automations(notify_targets, window))
    return DeployResult(
        pool=options.pool,
        api_tag=API_TAG,
        deployments=ids,
        credentials_block=options.credentials_block,
        password_secret=options.password_secret if password else None,
        webhooks=webhooks,
        automations=automations,
    )
