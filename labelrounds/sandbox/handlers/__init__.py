"""API method handlers; importing this package registers every method in `registry.API_METHODS`."""

from labelrounds.sandbox.handlers import (
    annotations,
    dataset_contents,
    images,
    instance,
    jobs,
    labeling_queues,
    projects,
    review,
    teams,
    users,
    webhooks,
)

__all__ = [
    "annotations",
    "dataset_contents",
    "images",
    "instance",
    "jobs",
    "labeling_queues",
    "projects",
    "review",
    "teams",
    "users",
    "webhooks",
]
