"""A labeling queue's life through the official SDK: the admin creates it, two labelers (logged in with their
passwords) take images first come first served and submit them, the admin reviews (one image rejected, back to
the queue, taken again), and every counter the SDK reads is emitted for the pytest side to check.

Reads SERVER_ADDRESS, API_TOKEN (the admin's), TEAM_ID, DATASET_ID and USER_ID from the environment through the
SDK's own getters. Taking images is the sandbox's `labeling-queues.entities.take` (the labeling tool's part on a
real instance), sent through the SDK's own `Api.post`.
"""

from __future__ import annotations

import supervisely as sly
from sdk_output import emit, emit_outcome

LABELER_PASSWORDS = {"lq_labeler_1": "lq-pass-1", "lq_labeler_2": "lq-pass-2"}
QUEUE_NAME = "lemon queue"


def create_labelers(api: sly.Api, team_id: int) -> dict[str, sly.Api]:
    """Create the two labelers as annotators of the team and log each in with its password."""
    sessions = {}
    for login, password in LABELER_PASSWORDS.items():
        user = api.user.create(login=login, password=password, is_restricted=True)
        api.user.add_to_team(user.id, team_id, api.role.DefaultRole.ANNOTATOR)
        sessions[login] = sly.Api.from_credentials(sly.env.server_address(), login, password)
    emit("labelers", {login: session.user.get_my_info().id for login, session in sessions.items()})
    return sessions


def take(session: sly.Api, queue_id: int, count: int) -> tuple[int, list[int]]:
    """Take up to `count` images from the queue into the caller's job: (job id, image ids)."""
    reply = session.post("labeling-queues.entities.take", {"id": queue_id, "count": count}).json()
    return reply["jobId"], [entity["id"] for entity in reply["entities"]]


def submit(session: sly.Api, job_id: int) -> None:
    """Mark the job's images that are being labeled as done and send the job to review."""
    for entity in session.labeling_job.get_info_by_id(job_id).entities:
        if entity["reviewStatus"] == "none":
            session.labeling_job.set_entity_review_status(job_id, entity["id"], "done")
    session.labeling_job.set_status(job_id, "on_review")


def review(api: sly.Api, job_id: int, rejected: set[int]) -> None:
    """Accept every image on review in the job except those in `rejected`, then complete the review."""
    for entity in api.labeling_job.get_info_by_id(job_id).entities:
        if entity["reviewStatus"] == "done":
            verdict = "rejected" if entity["id"] in rejected else "accepted"
            api.labeling_job.set_entity_review_status(job_id, entity["id"], verdict)
    api.labeling_job.set_status(job_id, "completed")


def emit_counts(api: sly.Api, step: str, queue_id: int) -> None:
    """Emit the queue's info and its entity count per status, as the SDK reads them."""
    emit(f"{step}.info", api.labeling_queue.get_info_by_id(queue_id))
    emit(
        f"{step}.by_status",
        {
            status: api.labeling_queue.get_entities_count_by_status(queue_id, status=status)
            for status in ("null", "none", "done", "accepted")
        },
    )


def main() -> None:
    """Create a queue, label and review all of it through two labelers, then close it."""
    team_id, dataset_id, manager_id = sly.env.team_id(), sly.env.dataset_id(), sly.env.user_id()
    api = sly.Api.from_env()
    emit("sdk.version", sly.__version__)
    sessions = create_labelers(api, team_id)
    labeler_ids = [session.user.get_my_info().id for session in sessions.values()]

    queue_id = api.labeling_queue.create(
        name=QUEUE_NAME, user_ids=labeler_ids, reviewer_ids=[manager_id], dataset_id=dataset_id,
        readme="label every lemon", description="lemons queue", classes_to_label=["lemon"],
        objects_limit_per_image=5, allow_review_own_annotations=True,
    )
    emit("queue.id", queue_id)
    emit_outcome("queue.duplicate", lambda: api.labeling_queue.create(
        name=QUEUE_NAME, user_ids=labeler_ids, reviewer_ids=[manager_id], dataset_id=dataset_id))
    emit_counts(api, "created", queue_id)
    emit("list.by_dataset", [queue.id for queue in api.labeling_queue.get_list(team_id, dataset_id=dataset_id)])
    emit("list.by_name", [queue.id for queue in api.labeling_queue.get_list(team_id, names=[QUEUE_NAME])])
    emit("status.created", api.labeling_queue.get_status(queue_id))
    emit("jobs.of_queue", api.labeling_job.get_list(team_id, queue_ids=[queue_id]))
    emit("jobs.outside_queues", [job.id for job in api.labeling_job.get_list(team_id, is_part_of_queue=False)])

    (first, first_session), (second, second_session) = sessions.items()
    taken: dict[str, list[int]] = {first: [], second: []}
    jobs: dict[str, int] = {}
    for login, session, count in ((first, first_session, 2), (second, second_session, 3), (first, first_session, 5)):
        jobs[login], images = take(session, queue_id, count)
        taken[login] += images
    emit("taken", taken)
    emit("take.empty", take(second_session, queue_id, 1)[1])
    emit_counts(api, "taken", queue_id)

    for login, session in sessions.items():
        submit(session, jobs[login])
    emit_counts(api, "submitted", queue_id)
    rejected = taken[second][0]
    review(api, jobs[first], set())
    review(api, jobs[second], {rejected})
    emit("rejected", rejected)
    emit_counts(api, "reviewed", queue_id)
    emit("pending.entities", api.labeling_queue.get_entities_all_pages(queue_id, status="null"))

    jobs[first], retaken = take(first_session, queue_id, 1)
    emit("retaken", retaken)
    submit(first_session, jobs[first])
    review(api, jobs[first], set())
    emit_counts(api, "done", queue_id)
    emit("status.done", api.labeling_queue.get_status(queue_id))
    emit("entities.paged", api.labeling_queue.get_entities_all_pages(queue_id, per_page=4))
    emit("jobs.final", api.labeling_job.get_list(team_id, queue_ids=[queue_id], with_entities=True))
    emit("queue.meta", [obj_class.name for obj_class in api.labeling_queue.get_project_meta(queue_id).obj_classes])

    api.labeling_queue.set_status(queue_id, "stopped")
    emit("status.stopped", api.labeling_queue.get_status(queue_id))
    emit_outcome("labeler.set_status", lambda: first_session.labeling_queue.set_status(queue_id, "completed"))


if __name__ == "__main__":
    main()
