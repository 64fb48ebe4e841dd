"""The "Labeling Jobs automation" tutorial's SDK call sequence, run as the tutorial does, emitting what it prints.

The ids and the login are hard-coded the way the tutorial hard-codes them; the server and the token come from
SERVER_ADDRESS and API_TOKEN through `sly.Api()`. Runs with the official SDK (its own virtualenv).
"""

from __future__ import annotations

import supervisely as sly
from lemons_meta import describe_meta, prepare_lemons_meta
from sdk_output import emit

TEAM_ID = 8
PROJECT_ID = 13487
USER_ID = 7
USER_LOGIN = "cxnt"

LABELERS = {"labeler_1": "11111abc", "labeler_2": "22222abc"}
README = "annotation manual for fruits in markdown format here (optional)"
DESCRIPTION = "short description is here (optional)"


def ensure_labeler(api: sly.Api, login: str, password: str) -> sly.api.user_api.UserInfo:
    """Look the labeler up by login and create it (restricted) when missing."""
    found = api.user.get_info_by_login(login=login)
    emit(f"{login}.lookup", found)
    if found is not None:
        return found
    created = api.user.create(login=login, password=password, is_restricted=True)
    emit(f"{login}.created", created)
    return created


def ensure_annotator(api: sly.Api, user: sly.api.user_api.UserInfo) -> None:
    """Add the user to the team as an annotator unless it already has a role there."""
    role = api.user.get_team_role(user.id, TEAM_ID)
    emit(f"{user.login}.team_role_before", role)
    if role is None:
        api.user.add_to_team(user.id, TEAM_ID, api.role.DefaultRole.ANNOTATOR)
    emit(f"{user.login}.team_role_after", api.user.get_team_role(user.id, TEAM_ID))


def main() -> None:
    """Run the tutorial's calls in the tutorial's order."""
    api = sly.Api()
    emit("sdk.version", sly.__version__)

    emit("prepare_project", describe_meta(prepare_lemons_meta(api, PROJECT_ID)))

    labeler_1, labeler_2 = (ensure_labeler(api, login, password) for login, password in LABELERS.items())
    for labeler in (labeler_1, labeler_2):
        ensure_annotator(api, labeler)

    project_meta = sly.ProjectMeta.from_json(api.project.get_meta(PROJECT_ID))
    emit("project_meta", describe_meta(project_meta))

    datasets = api.dataset.get_list(PROJECT_ID)
    emit("datasets", datasets)

    lemon_jobs = api.labeling_job.create(
        name="labeler1_lemons_task",
        dataset_id=datasets[0].id,
        user_ids=[labeler_1.id],
        readme=README,
        description=DESCRIPTION,
        classes_to_label=["lemon"],
    )
    emit("create.labeler1_lemons_task", lemon_jobs)
    api.labeling_job.stop(lemon_jobs[0].id)

    kiwi_jobs = api.labeling_job.create(
        name="labeler2_kiwi_task_with_complex_settings",
        dataset_id=datasets[0].id,
        user_ids=[labeler_2.id],
        readme=README,
        description=DESCRIPTION,
        classes_to_label=["kiwi"],
        objects_limit_per_image=10,
        tags_to_label=["size", "origin"],
        tags_limit_per_image=20,
    )
    emit("create.labeler2_kiwi_task_with_complex_settings", kiwi_jobs)

    emit("list.team", api.labeling_job.get_list(TEAM_ID))
    me = api.user.get_info_by_login(USER_LOGIN)
    emit("me", me)
    emit("list.created_by_me", api.labeling_job.get_list(TEAM_ID, created_by_id=me.id))
    emit(
        "list.created_by_me_assigned_to_labeler_2",
        api.labeling_job.get_list(TEAM_ID, created_by_id=me.id, assigned_to_id=labeler_2.id),
    )
    jobs = api.labeling_job.get_list(TEAM_ID)
    emit("list.active", jobs)

    emit("status.second_to_last", api.labeling_job.get_status(jobs[-2].id))
    emit("status.last", api.labeling_job.get_status(jobs[-1].id))

    api.labeling_job.archive(jobs[0].id)
    emit("archived", jobs[0].id)
    emit("list.after_archive", api.labeling_job.get_list(TEAM_ID))
    emit("list.show_disabled", api.labeling_job.get_list(TEAM_ID, show_disabled=True))


if __name__ == "__main__":
    main()
