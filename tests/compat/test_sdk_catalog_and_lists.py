"""The official SDK's info calls, its pager over images and jobs (small server pages, so every listing spans
several), every `labeling_job.get_list` filter, archive, remove and `remove_batch` of more than 50 jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labelrounds.sandbox.registry import PageSizes
from labelrounds.sandbox.server import SandboxServer

from .sdk_runner import SdkInterpreter, SdkRun, run_sdk_script
from .server_state import ServerState

# Images keep the sandbox's real default page (20,000) and each dataset holds one image more, so the SDK's
# image walk takes two requests; jobs and the other lists get small pages so that every listing spans several.
IMAGES_PER_DATASET = PageSizes().images + 1
SMALL_PAGES = PageSizes(jobs=4, other=2)


@pytest.fixture(scope="module")
def compat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A fresh sandbox with two datasets one image larger than an images page, and small other pages."""
    db_path = tmp_path_factory.mktemp("small-pages") / "sandbox.db"
    seed = f"synthetic:2x{IMAGES_PER_DATASET}"
    with SandboxServer(seed=seed, db_path=db_path, page_sizes=SMALL_PAGES) as server:
        yield server


@pytest.fixture(scope="module")
def catalog_run(sdk: SdkInterpreter, compat_server: SandboxServer,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[SdkRun, dict[str, str]]:
    """Run catalog_and_lists.py once; the tests below read its observations."""
    with ServerState(compat_server) as state:
        variables = state.world_variables()
    run = run_sdk_script(sdk, "catalog_and_lists.py", tmp_path_factory.mktemp("catalog"), compat_server,
                         variables=variables, skip_https_probe=True)
    return run, variables


@pytest.fixture()
def run(catalog_run: tuple[SdkRun, dict[str, str]]) -> SdkRun:
    """The observations of the catalog script."""
    return catalog_run[0]


@pytest.fixture()
def ids(catalog_run: tuple[SdkRun, dict[str, str]]) -> dict[str, Any]:
    """The world's ids as the script got them (TEAM_ID, ... as ints, USER_LOGIN as text)."""
    return {name: value if name == "USER_LOGIN" else int(value) for name, value in catalog_run[1].items()}


def test_team_workspace_and_role_info(run: SdkRun, ids: dict[str, Any]) -> None:
    assert [team["id"] for team in run["teams"]] == [ids["TEAM_ID"]]
    team = run["team"]
    assert team["id"] == ids["TEAM_ID"] and team["name"] and team["role"] == "admin"
    assert run["team.unknown"] is None
    assert [ws["id"] for ws in run["workspaces"]] == [ids["WORKSPACE_ID"]]
    workspace = run["workspace"]
    assert (workspace["id"], workspace["team_id"]) == (ids["WORKSPACE_ID"], ids["TEAM_ID"]) and workspace["name"]
    roles = {role["id"]: role["role"] for role in run["roles"]}
    assert {1: "admin", 2: "developer", 3: "annotator", 4: "viewer"}.items() <= roles.items()


def test_user_and_member_info(run: SdkRun, ids: dict[str, Any]) -> None:
    user = run["user"]
    assert (user["id"], user["login"]) == (ids["USER_ID"], ids["USER_LOGIN"])
    assert [(m["id"], m["role"]) for m in run["user.teams"]] == [(ids["TEAM_ID"], "admin")]
    assert run["user.unknown"] is None
    assert ids["USER_LOGIN"] in [member["login"] for member in run["members"]]
    member = run["member.by_login"]
    assert (member["id"], member["role"]) == (ids["USER_ID"], "admin")
    assert run["me"]["login"] == ids["USER_LOGIN"]
    membership = {"id": ids["TEAM_ID"], "name": run["team"]["name"]}
    assert run["crew.roles"] == {
        "ls_labeler_1": membership | {"role_id": 3, "role": "annotator"},
        "ls_labeler_2": membership | {"role_id": 3, "role": "annotator"},
        "ls_reviewer": membership | {"role_id": 6, "role": "reviewer"},
    }


def test_project_and_dataset_info(run: SdkRun, ids: dict[str, Any]) -> None:
    project = run["project"]
    assert (project["id"], project["workspace_id"]) == (ids["PROJECT_ID"], ids["WORKSPACE_ID"]) and project["name"]
    assert project["images_count"] == 2 * IMAGES_PER_DATASET
    assert run["project.unknown"] is None
    assert [p["id"] for p in run["projects"]] == [ids["PROJECT_ID"]]
    datasets = run["datasets"]
    assert len(datasets) == 2 and datasets[0]["id"] < datasets[1]["id"]
    assert all(d["project_id"] == ids["PROJECT_ID"] and d["images_count"] == IMAGES_PER_DATASET for d in datasets)
    assert run["dataset"]["id"] == datasets[0]["id"] and run["dataset"]["name"] == datasets[0]["name"]


def test_images_walk_several_pages_in_id_order(run: SdkRun, ids: dict[str, Any]) -> None:
    first_page = run["images.first_page"]
    assert first_page["total"] == IMAGES_PER_DATASET
    assert (first_page["perPage"], first_page["pagesCount"]) == (IMAGES_PER_DATASET - 1, 2)
    assert first_page["entities"] == first_page["perPage"]
    walk = run["images.walk"]
    assert walk["count"] == IMAGES_PER_DATASET and walk["ascending"] and walk["unique"]
    assert walk["names_with_mime_extension"] == IMAGES_PER_DATASET
    first = walk["first"]
    assert first["dataset_id"] == ids["DATASET_ID"] and first["mime"].startswith("image/")
    assert run["image.info"]["id"] == first["id"] and run["image.info"]["name"] == first["name"]
    assert run["image.unknown"] is None
    assert len(run["images.filtered_limited"]) == 2


def test_several_users_in_one_create_split_the_images(run: SdkRun) -> None:
    first, second = run["split.jobs"]
    assert [first["name"], second["name"]] == ["split", "split (#2)"]
    assert [first["assigned_to_login"], second["assigned_to_login"]] == ["ls_labeler_1", "ls_labeler_2"]
    first_ids, second_ids = ([e["id"] for e in job["entities"]] for job in (first, second))
    assert (len(first_ids), len(second_ids)) == (3, 2) and max(first_ids) < min(second_ids)


def test_every_get_list_filter(run: SdkRun) -> None:
    created = run["jobs.created"]
    mine, reviewed, elsewhere = created["mine"], created["reviewed"], created["elsewhere"]
    split_1, split_2 = created["split"]
    everything = [mine, reviewed, split_1, split_2, elsewhere]
    assert [job["id"] for job in run["list.all"]] == everything
    assert all(job["entities"] is None and job["status"] for job in run["list.all"])
    assert run["list.created_by"] == everything
    assert run["list.created_by_labeler"] == []
    assert run["list.assigned_to"] == [reviewed, split_2]
    assert run["list.reviewer"] == [reviewed]
    assert run["list.project"] == everything
    assert run["list.unknown_project"] == []
    assert run["list.dataset"] == [elsewhere]
    assert run["list.exclude_statuses"] == [reviewed, split_1, split_2, elsewhere]
    assert run["list.combined"] == [mine]
    assert run["list.not_in_queue"] == everything
    assert run["list.queue"] == []
    with_entities = {int(job_id): entities for job_id, entities in run["list.with_entities"].items()}
    assert sorted(with_entities) == everything
    assert [len(with_entities[job_id]) for job_id in everything] == [3, 3, 3, 2, 2]
    assert all("reviewStatus" in e for entities in with_entities.values() for e in entities)


def test_archive_hides_a_job_unless_disabled_ones_are_shown(run: SdkRun) -> None:
    reviewed = run["jobs.created"]["reviewed"]
    assert reviewed not in run["list.after_archive"]
    assert run["list.show_disabled"][str(reviewed)] is True
    assert run["archived.info"]["disabled"] is True


def test_remove_and_remove_batch_of_more_than_50(run: SdkRun, state: ServerState) -> None:
    removed_split = run["jobs.created"]["split"][1]
    assert run["removed.info"] is None
    batch = run["batch.created"]
    assert len(batch) == 55 and len(set(batch)) == 55
    assert run["batch.after_remove"] == [None] * 55
    remaining = run["list.after_remove_batch"]
    assert removed_split not in remaining and not set(batch) & set(remaining)
    assert all(state.status_of("jobs.info", id=job_id) == 404 for job_id in [removed_split, batch[0], batch[-1]])
