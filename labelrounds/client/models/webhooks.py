"""Team webhooks (`webhooks.*`): where Supervisely posts events such as a labeling job's completion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr

from labelrounds.client.models.base import WireModel

LABELING_JOB_COMPLETED = "labeling_job.completed"
LABELING_QUEUE_JOB_COMPLETED = "labeling_queue.job.completed"
LABELING_QUEUE_COMPLETED = "labeling_queue.completed"
WEBHOOK_ACTIONS = frozenset({LABELING_JOB_COMPLETED, LABELING_QUEUE_JOB_COMPLETED, LABELING_QUEUE_COMPLETED})
"""The actions `api.webhook` of the SDK names."""


def _empty_if_null(value: Any) -> Any:
    return {} if value is None else value


class WebhookMeta(WireModel):
    """A webhook's delivery settings; header values are secrets (a server may mask them)."""

    retries_count: int = 5
    retries_delay: int = 10
    headers: Annotated[dict[str, SecretStr], BeforeValidator(_empty_if_null)] = Field(default_factory=dict)
    follow_redirect: bool = True
    reject_unauthorized: bool = True


class WebhookInfo(WireModel):
    """A webhook (`webhooks.info`, `webhooks.list`, and the reply of `webhooks.add/update`)."""

    id: int
    team_id: int | None = None
    action: str
    url: str
    meta: WebhookMeta = Field(default_factory=WebhookMeta)
    created_at: datetime | None = None
    updated_at: datetime | None = None
