"""A labeling job's whole life through the official SDK: a manager (the admin) and a labeler logged in with its
password, each acting with its own token; every observation is emitted for the pytest side to check.

Reads SERVER_ADDRESS, API_TOKEN (the admin's), TEAM_ID, PROJECT_ID, DATASET_ID, USER_ID and USER_LOGIN from the
environment through the SDK's own getters.
"""

from __future__ import annotations

import supervisely as sly
from lemons_meta import describe_meta, prepare_lemons_meta
from sdk_output import emit, emit_outcome
from supervisely.api.module_api import WaitingTimeExceeded

LABELER_PASSWORDS = {"rw_labeler_1": "rw-pass-1", "rw_labeler_2": "rw-pass-2"}


def create_annotators(api: sly.Api, team_id: int) -> list[sly.api.user_api.UserInfo]:
    """Create the two labelers of this script and make them annotators of the team."""
    labelers = []
    for login, password in LABELER_PASSWORDS.items():
        user = api.user.create(login=login, password=password, is_restricted=True)
        api.user.add_to_team(user.id, team_id, api.role.DefaultRole.ANNOTATOR)
        labelers.append(user)
    emit("labelers", labelers)
    emit_outcome("user.create_duplicate", lambda: api.user.create(login="rw_labeler_1", password="x-pass-9"))
    return labelers


def wait_outcome(api: sly.Api, step: str, job_id: int, target: str, attempts: int) -> None:
    """Wait (short attempts) for a job status and emit whether it was reached.

    `target` must be a member of `api.labeling_job.Status`: the SDK compares with `is`.
    """
    try:
        api.labeling_job.wait(job_id, target, wait_attempts=attempts, wait_attempt_timeout_sec=1)
    except WaitingTimeExceeded:
        emit(step, "WaitingTimeExceeded")
    else:
        emit(step, "reached")


def log_in(login: str, password: str) -> sly.Api:
    """Log in with login and password the way a person without the web UI does (`Api.from_credentials`)."""
    return sly.Api.from_credentials(sly.env.server_address(), login, password)


def emit_login_refused(step: str, login: str, password: str) -> None:
    """Try to log in with a wrong password and emit what the SDK raised."""
    try:
        log_in(login, password)
    except RuntimeError as error:
        emit(step, str(error))
    else:
        emit(step, "logged in")


def labeler_session(api: sly.Api, labeler: sly.api.user_api.UserInfo, meta: sly.ProjectMeta, *, team_id: int,
                    project_id: int, dataset_id: int, job_id: int, foreign_job_id: int) -> None:
    """Log in as the labeler with its password, then do what a labeler may do and try what it may not."""
    emit_login_refused("labeler.wrong_password", labeler.login, "not-the-password")
    labeler_api = log_in(labeler.login, LABELER_PASSWORDS[labeler.login])
    emit("labeler.me", labeler_api.user.get_my_info())
    emit("labeler.token_differs", labeler_api.token != api.token)
    emit("labeler.jobs_visible", [job.id for job in labeler_api.labeling_job.get_list(team_id)])
    emit_outcome("labeler.foreign_job_info", lambda: labeler_api.labeling_job.get_info_by_id(foreign_job_id))

    emit_outcome("labeler.set_in_progress", lambda: labeler_api.labeling_job.set_status(job_id, "in_progress"))
    emit("labeler.status_opened", labeler_api.labeling_job.get_status(job_id))
    entities = labeler_api.labeling_job.get_info_by_id(job_id).entities
    for entity in entities:
        labeler_api.labeling_job.set_entity_review_status(job_id, entity["id"], "done")
    emit("labeler.entities_after_done", labeler_api.labeling_job.get_info_by_id(job_id).entities)
    emit_outcome(
        "labeler.accept_own_image",
        lambda: labeler_api.labeling_job.set_entity_review_status(job_id, entities[0]["id"], "accepted"),
    )

    emit_outcome("labeler.create_user", lambda: labeler_api.user.create(login="sneaky", password="sneaky-1"))
    emit_outcome(
        "labeler.create_job",
        lambda: labeler_api.labeling_job.create(name="sneaky job", dataset_id=dataset_id, user_ids=[labeler.id]),
    )
    emit_outcome(
        "labeler.update_meta",
        lambda: labeler_api.project.update_meta(project_id, meta),
    )
    emit_outcome("labeler.submit", lambda: labeler_api.labeling_job.set_status(job_id, "on_review"))


def review(api: sly.Api, job_id: int) -> None:
    """Review as the job's reviewer: accept the first image, reject the second, reject the rest as unmarked."""
    first, second, *_ = api.labeling_job.get_info_by_id(job_id).entities
    api.labeling_job.set_entity_review_status(job_id, first["id"], "accepted")
    api.labeling_job.set_entity_review_status(job_id, second["id"], "rejected")
    api.labeling_job.reject_annotations(job_id, mode="unmarked")
    emit("review.entities", api.labeling_job.get_info_by_id(job_id).entities)
    emit("review.stats", api.labeling_job.get_stats(job_id))
    api.labeling_job.set_status(job_id, "completed")


def main() -> None:
    """Create labelers and jobs, walk one job through every status, then rework, clone and edit jobs."""
    team_id, project_id, dataset_id = sly.env.team_id(), sly.env.project_id(), sly.env.dataset_id()
    manager_id = sly.env.user_id()
    api = sly.Api.from_env()
    emit("sdk.version", sly.__version__)
    status = api.labeling_job.Status

    meta = prepare_lemons_meta(api, project_id)
    emit("prepare_project", describe_meta(meta))
    labeler_1, labeler_2 = create_annotators(api, team_id)
    image_ids = [image.id for image in api.image.get_list(dataset_id)]

    [job] = api.labeling_job.create(
        name="review me", dataset_id=dataset_id, user_ids=[labeler_1.id], classes_to_label=["lemon"],
        images_ids=image_ids[:4], reviewer_id=manager_id, readme="read me", description="four images",
    )
    emit("job.created", job)
    [whole_dataset_job] = api.labeling_job.create(
        name="whole dataset", dataset_id=dataset_id, user_ids=[labeler_2.id], classes_to_label=["kiwi"],
        tags_to_label=["size", "origin"], objects_limit_per_image=10, tags_limit_per_image=20,
    )
    emit("whole_dataset_job.created", whole_dataset_job)

    emit("status.created", api.labeling_job.get_status(job.id))
    labeler_session(api, labeler_1, meta, team_id=team_id, project_id=project_id, dataset_id=dataset_id,
                    job_id=job.id, foreign_job_id=whole_dataset_job.id)
    emit("status.submitted", api.labeling_job.get_status(job.id))
    wait_outcome(api, "wait.on_review", job.id, status.ON_REVIEW, attempts=2)
    wait_outcome(api, "wait.completed_too_early", job.id, status.COMPLETED, attempts=1)

    review(api, job.id)
    emit("status.reviewed", api.labeling_job.get_status(job.id))
    wait_outcome(api, "wait.completed", job.id, status.COMPLETED, attempts=2)
    emit("job.reviewed", api.labeling_job.get_info_by_id(job.id))

    restarted = api.labeling_job.restart(job.id)
    emit("restart.response", restarted)
    emit("restart.job", api.labeling_job.get_info_by_id(restarted[0]["id"]))
    emit("restart.original_status", api.labeling_job.get_status(job.id))
    emit("restart.nothing_rejected_ignored",
         api.labeling_job.restart(whole_dataset_job.id, ignore_no_rejected_error=True))
    emit_outcome("restart.nothing_rejected", lambda: api.labeling_job.restart(whole_dataset_job.id))

    api.labeling_job.stop(whole_dataset_job.id)
    emit("status.stopped", api.labeling_job.get_status(whole_dataset_job.id))
    stopped_labeler = log_in(labeler_2.login, LABELER_PASSWORDS[labeler_2.login])
    emit_outcome("stopped.labeler_opens",
                 lambda: stopped_labeler.labeling_job.set_status(whole_dataset_job.id, "in_progress"))

    [clone] = api.labeling_job.clone(job.id, new_title="review me again")
    emit("clone.job", clone)
    api.labeling_job.set_status(clone.id, "in_progress")
    emit("clone.status_set_by_manager", api.labeling_job.get_status(clone.id))
    wait_outcome(api, "wait.clone_in_progress", clone.id, status.IN_PROGRESS, attempts=2)
    emit_outcome("clone.set_unknown_status", lambda: api.labeling_job.set_status(clone.id, "sleeping"))

    api.labeling_job.set_custom_data(clone.id, {"round": "r1"})
    api.labeling_job.set_custom_data(clone.id, {"cycle": 2})
    emit("custom_data.merged", api.labeling_job.get_custom_data(clone.id))
    api.labeling_job.set_custom_data(clone.id, {"replaced": True}, update=False)
    emit("custom_data.replaced", api.labeling_job.get_custom_data(clone.id))

    reassigned = api.labeling_job.set_assignees(clone.id, annotator_id=labeler_2.id, reviewer_id=manager_id)
    emit("set_assignees", reassigned)
    emit("job_project_meta", describe_meta(api.labeling_job.get_project_meta(clone.id)))
    emit("job.unknown_id", api.labeling_job.get_info_by_id(999_999_999))


if __name__ == "__main__":
    main()
