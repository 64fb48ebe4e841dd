"""The "Labeling Jobs automation" tutorial through the official SDK, against the walkthrough's documented command
(`labelrounds sandbox serve --seed lemons --admin-token ...`), the way a user runs it: with the SDK's https probe,
the tutorial's hard-coded ids, run twice (the second run finds its labelers already there)."""

from __future__ import annotations

from typing import Any

import pytest

from .sdk_runner import AnnouncedServer, SdkInterpreter, SdkRun, run_sdk_script
from .server_state import ServerState

TEAM_ID, PROJECT_ID, USER_ID, USER_LOGIN = 8, 13487, 7, "cxnt"
LEMONS_IMAGES = ["IMG_8144.jpeg", "IMG_4451.jpeg", "IMG_3861.jpeg", "IMG_2084.jpeg", "IMG_1836.jpeg", "IMG_0748.jpeg"]
README = "annotation manual for fruits in markdown format here (optional)"
DESCRIPTION = "short description is here (optional)"

# The LabelingJobInfo fields the tutorial's printed jobs show with a value.
JOB_FIELDS_FILLED = (
    "id", "name", "readme", "description", "team_id", "workspace_id", "workspace_name", "project_id",
    "project_name", "dataset_id", "dataset_name", "created_by_id", "created_by_login", "assigned_to_id",
    "assigned_to_login", "created_at", "status", "disabled", "images_count", "finished_images_count",
    "rejected_images_count", "accepted_images_count", "classes_to_label", "tags_to_label", "images_range",
    "filter_images_by_tags", "include_images_with_tags", "exclude_images_with_tags",
)
DATASET_FIELDS_FILLED = ("id", "name", "description", "size", "project_id", "images_count", "created_at", "updated_at")


def unfilled(info: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """The fields of an info that are None."""
    return [name for name in fields if info[name] is None]


@pytest.fixture(scope="module")
def compat_server(walkthrough_server: AnnouncedServer) -> AnnouncedServer:
    """The sandbox of this module: the walkthrough's command."""
    return walkthrough_server


@pytest.fixture(scope="module")
def tutorial_runs(sdk: SdkInterpreter, compat_server: AnnouncedServer,
                  tmp_path_factory: pytest.TempPathFactory) -> list[SdkRun]:
    """The tutorial sequence run twice against the same sandbox, with the SDK's https probe left on.

    The first run is a fresh `python tutorial_sequence.py` the way a user runs it; the second is forked from the
    session's SDK process (no second SDK import).
    """
    return [
        run_sdk_script(sdk, "tutorial_sequence.py", tmp_path_factory.mktemp(f"tutorial-{attempt}"),
                       compat_server, skip_https_probe=False, fresh_process=attempt == 1)
        for attempt in (1, 2)
    ]


@pytest.fixture()
def first_run(tutorial_runs: list[SdkRun]) -> SdkRun:
    """The tutorial's first run, on the freshly seeded world."""
    return tutorial_runs[0]


def labeler(run: SdkRun, login: str) -> dict[str, Any]:
    """The labeler as the run created it."""
    return run[f"{login}.created"]


def test_prepare_project_puts_classes_and_tags_into_the_meta(first_run: SdkRun, state: ServerState) -> None:
    meta = first_run["project_meta"]
    classes = {cls["name"]: cls for cls in meta["classes"]}
    assert {name: (cls["shape"], cls["color"]) for name, cls in classes.items()} == {
        "kiwi": ("bitmap", [208, 2, 27]), "lemon": ("bitmap", [80, 227, 194])}
    assert all(isinstance(cls["id"], int) for cls in classes.values())
    tags = {tag["name"]: tag for tag in meta["tags"]}
    assert tags["size"]["value_type"] == "oneof_string"
    assert tags["size"]["possible_values"] == ["small", "medium", "large"]
    assert tags["origin"]["value_type"] == "any_string"
    assert all(tag["applicable_to"] == "objectsOnly" for tag in tags.values())
    assert all(sorted(tag["applicable_classes"]) == ["kiwi", "lemon"] for tag in tags.values())
    stored = state.call("projects.meta", id=PROJECT_ID)
    assert sorted(cls["title"] for cls in stored["classes"]) == ["kiwi", "lemon"]
    assert sorted(tag["name"] for tag in stored["tags"]) == ["origin", "size"]


def test_labelers_are_created_and_made_annotators(first_run: SdkRun, state: ServerState) -> None:
    for login in ("labeler_1", "labeler_2"):
        assert first_run[f"{login}.lookup"] is None
        created = labeler(first_run, login)
        assert created["login"] == login and isinstance(created["id"], int) and created["created_at"]
        assert first_run[f"{login}.team_role_before"] is None
        assert first_run[f"{login}.team_role_after"] == {
            "id": TEAM_ID, "name": "my team", "role_id": 3, "role": "annotator"}
        assert state.users_with_login(login) == 1
        teams = state.call("users.info", id=created["id"])["teams"]
        assert [(team["id"], team["role"]) for team in teams] == [(TEAM_ID, "annotator")]


def test_datasets_are_listed_like_the_tutorial_prints_them(first_run: SdkRun, state: ServerState) -> None:
    [dataset] = first_run["datasets"]
    assert unfilled(dataset, DATASET_FIELDS_FILLED) == []
    assert (dataset["name"], dataset["project_id"], dataset["images_count"]) == ("ds1", PROJECT_ID, 6)
    images = state.call("images.list", datasetId=dataset["id"])["entities"]
    assert sorted(image["name"] for image in images) == sorted(LEMONS_IMAGES)
    # The tutorial prints the dataset's size in bytes (size='1277440'): the sum of its images' sizes.
    assert int(dataset["size"]) == sum(image["size"] for image in images)


def check_tutorial_job(job: dict[str, Any], *, name: str, labeler_login: str) -> None:
    """The fields every job of the tutorial shows: names, ids and logins of its world, pending, no progress."""
    assert unfilled(job, JOB_FIELDS_FILLED) == []
    assert (job["name"], job["readme"], job["description"]) == (name, README, DESCRIPTION)
    assert (job["team_id"], job["project_id"], job["project_name"]) == (TEAM_ID, PROJECT_ID, "Lemons (Test)")
    assert (job["workspace_name"], job["dataset_name"]) == ("Testing Workspace", "ds1")
    assert (job["created_by_id"], job["created_by_login"]) == (USER_ID, USER_LOGIN)
    assert job["assigned_to_login"] == labeler_login
    assert (job["images_count"], job["finished_images_count"]) == (6, 0)
    assert (job["rejected_images_count"], job["accepted_images_count"]) == (0, 0)
    assert job["images_range"] == [None, None] and job["filter_images_by_tags"] == []
    assert job["disabled"] is False


def test_created_jobs_show_the_tutorials_fields_and_entities(first_run: SdkRun) -> None:
    [lemons] = first_run["create.labeler1_lemons_task"]
    check_tutorial_job(lemons, name="labeler1_lemons_task", labeler_login="labeler_1")
    assert lemons["assigned_to_id"] == labeler(first_run, "labeler_1")["id"]
    assert lemons["status"] == "pending" and lemons["classes_to_label"] == ["lemon"]
    assert lemons["tags_to_label"] == [] and lemons["objects_limit_per_image"] is None
    assert sorted(entity["name"] for entity in lemons["entities"]) == sorted(LEMONS_IMAGES)
    assert {entity["reviewStatus"] for entity in lemons["entities"]} == {"none"}

    [kiwi] = first_run["create.labeler2_kiwi_task_with_complex_settings"]
    check_tutorial_job(kiwi, name="labeler2_kiwi_task_with_complex_settings", labeler_login="labeler_2")
    assert kiwi["status"] == "pending" and kiwi["classes_to_label"] == ["kiwi"]
    assert kiwi["tags_to_label"] == ["size", "origin"]
    assert (kiwi["objects_limit_per_image"], kiwi["tags_limit_per_image"]) == (10, 20)
    assert len(kiwi["entities"]) == 6 and {entity["reviewStatus"] for entity in kiwi["entities"]} == {"none"}


def test_lists_filters_and_statuses(first_run: SdkRun) -> None:
    [lemons] = first_run["create.labeler1_lemons_task"]
    [kiwi] = first_run["create.labeler2_kiwi_task_with_complex_settings"]
    both = [lemons["id"], kiwi["id"]]
    listed = first_run["list.team"]
    assert [job["id"] for job in listed] == both
    assert [job["status"] for job in listed] == ["stopped", "pending"]
    for job in listed:
        assert unfilled(job, JOB_FIELDS_FILLED) == []
    assert (first_run["me"]["id"], first_run["me"]["login"]) == (USER_ID, USER_LOGIN)
    assert [job["id"] for job in first_run["list.created_by_me"]] == both
    assert [job["id"] for job in first_run["list.created_by_me_assigned_to_labeler_2"]] == [kiwi["id"]]
    assert [job["id"] for job in first_run["list.active"]] == both
    assert first_run["status.second_to_last"] == "stopped"
    assert first_run["status.last"] == "pending"


def test_archive_hides_the_first_job(first_run: SdkRun, state: ServerState) -> None:
    [lemons] = first_run["create.labeler1_lemons_task"]
    [kiwi] = first_run["create.labeler2_kiwi_task_with_complex_settings"]
    assert first_run["archived"] == lemons["id"]
    assert [job["id"] for job in first_run["list.after_archive"]] == [kiwi["id"]]
    shown = {job["id"]: job["disabled"] for job in first_run["list.show_disabled"]}
    assert shown == {lemons["id"]: True, kiwi["id"]: False}
    stored = state.job(lemons["id"])
    assert (stored["status"], stored["disabled"]) == ("stopped", True)


def test_second_run_finds_its_labelers_and_adds_two_jobs(tutorial_runs: list[SdkRun], state: ServerState) -> None:
    first, second = tutorial_runs
    for login in ("labeler_1", "labeler_2"):
        assert second[f"{login}.lookup"]["id"] == labeler(first, login)["id"]
        assert f"{login}.created" not in second.observations
        assert second[f"{login}.team_role_before"]["role"] == "annotator"
        assert state.users_with_login(login) == 1
    assert second["project_meta"] == first["project_meta"]
    [first_kiwi] = first["create.labeler2_kiwi_task_with_complex_settings"]
    [new_lemons] = second["create.labeler1_lemons_task"]
    [new_kiwi] = second["create.labeler2_kiwi_task_with_complex_settings"]
    assert [job["id"] for job in second["list.active"]] == [first_kiwi["id"], new_lemons["id"], new_kiwi["id"]]
    assert (second["status.second_to_last"], second["status.last"]) == ("stopped", "pending")
    assert [job["id"] for job in second["list.after_archive"]] == [new_lemons["id"], new_kiwi["id"]]
    assert len(second["list.show_disabled"]) == 4
