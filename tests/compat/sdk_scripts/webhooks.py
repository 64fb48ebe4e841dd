"""The SDK's `api.webhook`: create, list, get, update, test and remove a webhook, and a job that completes.

Reads SERVER_ADDRESS, API_TOKEN (the admin's), TEAM_ID, DATASET_ID, USER_ID and CAPTURE_URL (a loopback capture
server the pytest side runs) from the environment.
"""

from __future__ import annotations

import os

import supervisely as sly
from sdk_output import emit, emit_outcome

UNKNOWN_ID = 999_999_999


def main() -> None:
    """Run the scenario and emit what the SDK returned at each step."""
    api = sly.Api.from_env()
    team_id, dataset_id, user_id = sly.env.team_id(), sly.env.dataset_id(), sly.env.user_id()
    capture_url = os.environ["CAPTURE_URL"]
    emit("sdk.version", sly.__version__)
    created = api.webhook.create(
        team_id=team_id,
        url=capture_url,
        action=sly.api.webhook_api.LABELING_JOB_COMPLETED,
        retries_count=2,
        retries_delay=1,
        headers={"x-labelrounds-secret": "from-the-sdk"},
    )
    emit("created", created)
    emit("listed", api.webhook.get_list(team_id))
    emit("listed.filtered", api.webhook.get_list(team_id, filters=[{"field": "url", "operator": "=", "value": "x"}]))
    emit("info", api.webhook.get_info_by_id(created.id))
    emit_outcome("info.unknown.outcome", lambda: api.webhook.get_info_by_id(UNKNOWN_ID))
    emit("updated", api.webhook.update(created.id, retries_count=0, retries_delay=0))
    emit("tested", api.webhook.test(team_id=team_id, webhook_id=created.id, payload={"hello": "sdk"}))
    image_id = api.image.get_list(dataset_id)[0].id
    (job,) = api.labeling_job.create("webhook job", dataset_id, [user_id], reviewer_id=user_id, images_ids=[image_id])
    api.labeling_job.set_status(job.id, "completed")
    emit("job.completed", job.id)
    second = api.webhook.create(team_id=team_id, url=capture_url, action=sly.api.webhook_api.LABELING_QUEUE_COMPLETED)
    api.webhook.remove(second.id)
    emit("listed.after_remove", api.webhook.get_list(team_id))


if __name__ == "__main__":
    main()
