"""The SDK's info calls, image pagination, and every `labeling_job.get_list` filter, plus removal in batches.

Reads SERVER_ADDRESS, API_TOKEN (the admin's), TEAM_ID, WORKSPACE_ID, PROJECT_ID, USER_ID and USER_LOGIN from the
environment through the SDK's own getters. The project must have at least two datasets.
"""

from __future__ import annotations

import supervisely as sly
from sdk_output import emit

UNKNOWN_ID = 999_999_999
BATCH_SIZE = 55  # more than the SDK's batch of 50 for `jobs.bulk.remove`
REVIEWER_ROLE_ID = 6  # the sandbox's reviewer role; the SDK's DefaultRole only names ids 1-4


def ids_of(jobs: list) -> list[int]:
    """The ids of a list of job infos."""
    return [job.id for job in jobs]


def catalog(api: sly.Api, team_id: int, workspace_id: int, project_id: int, user_id: int, login: str) -> None:
    """Team, workspace, role, user, project and dataset info calls."""
    emit("teams", api.team.get_list())
    emit("team", api.team.get_info_by_id(team_id))
    emit("team.unknown", api.team.get_info_by_id(UNKNOWN_ID))
    emit("workspaces", api.workspace.get_list(team_id))
    emit("workspace", api.workspace.get_info_by_id(workspace_id))
    emit("roles", api.role.get_list())
    emit("user", api.user.get_info_by_id(user_id))
    emit("user.teams", api.user.get_teams(user_id))
    emit("user.unknown", api.user.get_info_by_id(UNKNOWN_ID))
    emit("members", api.user.get_team_members(team_id))
    emit("member.by_login", api.user.get_member_info_by_login(team_id, login))
    emit("me", api.user.get_my_info())
    emit("project", api.project.get_info_by_id(project_id))
    emit("project.unknown", api.project.get_info_by_id(UNKNOWN_ID))
    emit("projects", api.project.get_list(workspace_id))


def walk_images(api: sly.Api, dataset_id: int) -> list[int]:
    """List a dataset's images through the SDK's pager and emit how the server paged them."""
    first_page = api.post("images.list", {"datasetId": dataset_id}).json()
    emit("images.first_page", {key: first_page[key] for key in ("total", "perPage", "pagesCount")}
         | {"entities": len(first_page["entities"])})
    images = api.image.get_list(dataset_id)
    ids = [image.id for image in images]
    emit("images.walk", {
        "count": len(ids),
        "ascending": ids == sorted(ids),
        "unique": len(set(ids)) == len(ids),
        "first": images[0],
        "last": images[-1],
        "names_with_mime_extension": sum(image.name.endswith("." + image.ext) for image in images),
    })
    emit("image.info", api.image.get_info_by_id(ids[0]))
    emit("image.unknown", api.image.get_info_by_id(UNKNOWN_ID))
    filtered = api.image.get_list(
        dataset_id, filters=[{"field": "id", "operator": "in", "value": ids[:3]}], limit=2
    )
    emit("images.filtered_limited", [image.id for image in filtered])
    return ids


def create_crew(api: sly.Api, team_id: int) -> dict[str, sly.api.user_api.UserInfo]:
    """Two annotators and one reviewer, members of the team."""
    crew = {}
    for login, role_id in (("ls_labeler_1", 3), ("ls_labeler_2", 3), ("ls_reviewer", REVIEWER_ROLE_ID)):
        user = api.user.create(login=login, password=f"{login}-pass", is_restricted=True)
        api.user.add_to_team(user.id, team_id, role_id)
        crew[login] = user
    emit("crew.roles", {login: api.user.get_team_role(user.id, team_id) for login, user in crew.items()})
    return crew


def list_with_every_filter(api: sly.Api, team_id: int, project_id: int, user_id: int,
                           first_dataset_id: int, second_dataset_id: int, image_ids: list[int]) -> None:
    """Create jobs that differ in each filtered field, then list them with each filter of `get_list`."""
    crew = create_crew(api, team_id)
    labeler_1, labeler_2, reviewer = crew["ls_labeler_1"].id, crew["ls_labeler_2"].id, crew["ls_reviewer"].id
    job = api.labeling_job
    [mine] = job.create("mine", first_dataset_id, [labeler_1], images_ids=image_ids[:3], reviewer_id=user_id)
    [reviewed] = job.create("reviewed by ls_reviewer", first_dataset_id, [labeler_2],
                            images_ids=image_ids[3:6], reviewer_id=reviewer)
    split = job.create("split", first_dataset_id, [labeler_1, labeler_2], images_ids=image_ids[6:11])
    second_dataset_images = api.image.get_list(second_dataset_id, limit=2)
    [elsewhere] = job.create("second dataset", second_dataset_id, [labeler_1],
                             images_ids=[image.id for image in second_dataset_images])
    job.set_status(mine.id, "completed")
    emit("jobs.created", {"mine": mine.id, "reviewed": reviewed.id, "split": ids_of(split),
                          "elsewhere": elsewhere.id})
    emit("split.jobs", split)

    emit("list.all", job.get_list(team_id))
    emit("list.created_by", ids_of(job.get_list(team_id, created_by_id=user_id)))
    emit("list.created_by_labeler", ids_of(job.get_list(team_id, created_by_id=labeler_1)))
    emit("list.assigned_to", ids_of(job.get_list(team_id, assigned_to_id=labeler_2)))
    emit("list.reviewer", ids_of(job.get_list(team_id, reviewer_id=reviewer)))
    emit("list.project", ids_of(job.get_list(team_id, project_id=project_id)))
    emit("list.unknown_project", ids_of(job.get_list(team_id, project_id=UNKNOWN_ID)))
    emit("list.dataset", ids_of(job.get_list(team_id, dataset_id=second_dataset_id)))
    emit("list.exclude_statuses", ids_of(job.get_list(team_id, exclude_statuses=["completed"])))
    emit("list.combined", ids_of(job.get_list(
        team_id, created_by_id=user_id, assigned_to_id=labeler_1, reviewer_id=user_id, project_id=project_id,
        dataset_id=first_dataset_id, exclude_statuses=["pending"], show_disabled=True,
    )))
    emit("list.not_in_queue", ids_of(job.get_list(team_id, is_part_of_queue=False)))
    emit("list.queue", ids_of(job.get_list(team_id, queue_ids=[5])))
    emit("list.with_entities", {info.id: info.entities for info in job.get_list(team_id, with_entities=True)})

    job.archive(reviewed.id)
    emit("list.after_archive", ids_of(job.get_list(team_id)))
    emit("list.show_disabled", {info.id: info.disabled for info in job.get_list(team_id, show_disabled=True)})
    emit("archived.info", job.get_info_by_id(reviewed.id))

    job.remove(split[1].id)
    emit("removed.info", job.get_info_by_id(split[1].id))

    batch = [job.create(f"batch {n}", first_dataset_id, [labeler_2], images_ids=image_ids[:1])[0].id
             for n in range(BATCH_SIZE)]
    emit("batch.created", batch)
    job.remove_batch(batch)
    emit("batch.after_remove", job.get_info_by_ids(batch))
    emit("list.after_remove_batch", ids_of(job.get_list(team_id, show_disabled=True)))


def main() -> None:
    """Run the info calls, the image walk and the job listing."""
    team_id, workspace_id, project_id = sly.env.team_id(), sly.env.workspace_id(), sly.env.project_id()
    user_id, login = sly.env.user_id(), sly.env.user_login()
    api = sly.Api.from_env()
    emit("sdk.version", sly.__version__)

    catalog(api, team_id, workspace_id, project_id, user_id, login)
    datasets = api.dataset.get_list(project_id)
    emit("datasets", datasets)
    emit("dataset", api.dataset.get_info_by_id(datasets[0].id))
    image_ids = walk_images(api, datasets[0].id)
    list_with_every_filter(api, team_id, project_id, user_id, datasets[0].id, datasets[1].id, image_ids)


if __name__ == "__main__":
    main()
