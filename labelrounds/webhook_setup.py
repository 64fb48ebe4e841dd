"""Register the receiver's webhook on Supervisely, idempotently: one `labeling_job.completed` webhook per team
and receiver URL, updated in place when it exists (found by its URL), added otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from labelrounds.client import SuperviselyClient
from labelrounds.client.models.webhooks import LABELING_JOB_COMPLETED
from labelrounds.job_notices import SECRET_HEADER

#: How often and how far apart Supervisely retries a delivery the receiver did not accept.
RECEIVER_RETRIES = 5
RECEIVER_RETRY_DELAY = 10


def require_http_url(url: str) -> str:
    """Return `url` if it is an absolute http(s) URL with a host, else raise `ValueError` naming it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise ValueError(f"receiver URL {url!r} is not an absolute http:// or https:// URL with a host")
    return url


@dataclass(frozen=True)
class RegisteredWebhook:
    """The webhook a team has for the receiver after `ensure_receiver_webhook`."""

    team_id: int
    webhook_id: int
    created: bool


async def ensure_receiver_webhook(
    api: SuperviselyClient, team_id: int, url: str, secret: SecretStr
) -> RegisteredWebhook:
    """Make team `team_id` post job completions to `url` with the secret header; rerunning changes nothing.

    Every existing webhook of the team with this URL and action is updated (secret, retries); one is added when
    there is none.

    Args:
        api: a client of a team admin or manager.
        team_id: the team whose jobs the receiver hears about.
        url: the receiver's public URL.
        secret: the shared secret the receiver checks.
    """
    require_http_url(url)
    headers = {SECRET_HEADER: secret}
    existing = [
        webhook
        for webhook in await api.list_webhooks(team_id)
        if webhook.url == url and webhook.action == LABELING_JOB_COMPLETED
    ]
    for webhook in existing:
        await api.update_webhook(
            webhook.id, headers=headers, retries_count=RECEIVER_RETRIES, retries_delay=RECEIVER_RETRY_DELAY
        )
    if existing:
        return RegisteredWebhook(team_id, existing[0].id, created=False)
    webhook_id = await api.add_webhook(
        team_id,
        url,
        LABELING_JOB_COMPLETED,
        headers=headers,
        retries_count=RECEIVER_RETRIES,
        retries_delay=RECEIVER_RETRY_DELAY,
    )
    return RegisteredWebhook(team_id, webhook_id, created=True)
