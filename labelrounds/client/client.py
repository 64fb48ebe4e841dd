"""`SuperviselyClient`: the async client of the Supervisely public API v3, every typed method in one object."""

from __future__ import annotations

from labelrounds.client.endpoints.annotations import AnnotationEndpoints
from labelrounds.client.endpoints.dataset_contents import DatasetContentEndpoints
from labelrounds.client.endpoints.images import ImageEndpoints
from labelrounds.client.endpoints.jobs import JobEndpoints
from labelrounds.client.endpoints.labeling_queues import LabelingQueueEndpoints
from labelrounds.client.endpoints.organization import OrganizationEndpoints
from labelrounds.client.endpoints.projects import ProjectEndpoints
from labelrounds.client.endpoints.users import UserEndpoints
from labelrounds.client.endpoints.webhooks import WebhookEndpoints


class SuperviselyClient(
    UserEndpoints,
    OrganizationEndpoints,
    ProjectEndpoints,
    ImageEndpoints,
    DatasetContentEndpoints,
    AnnotationEndpoints,
    JobEndpoints,
    LabelingQueueEndpoints,
    WebhookEndpoints,
):
    """Async client over one pooled connection, with a concurrency limit, retries and typed replies.

    Use it as an async context manager::

        async with SuperviselyClient(ConnectionSettings.from_env()) as api:
            jobs = await api.list_jobs(team_id)
    """
