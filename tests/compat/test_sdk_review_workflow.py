"""The official SDK walks a labeling job through its whole life on the lemons sandbox: a manager and a labeler
(logged in with `Api.from_credentials`) each act with their own token, then rework, clone and edit the job."""

from __future__ import annotations

from typing import Any

import pytest

from labelrounds.sandbox.server import SandboxServer

from .sdk_runner import SdkInterpreter, SdkRun, run_sdk_script
from .server_state import ServerState


def refused(outcome: dict[str, Any], status: int) -> bool:
    """Whether an `emit_outcome` observation is an HTTPError with this status in Supervisely's error shape."""
    body = outcome.get("body")
    return (
        outcome["error"] == "HTTPError"
        and outcome["status"] == status
        and isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("details", {}).get("message"), str)
    )


def statuses(entities: list[dict[str, Any]]) -> list[str]:
    """The reviewStatus of each entity, in order."""
    return [entity["reviewStatus"] for entity in entities]


@pytest.fixture(scope="module")
def compat_server(lemons_sandbox: SandboxServer) -> SandboxServer:
    """The sandbox of this module: a fresh lemons world."""
    return lemons_sandbox


@pytest.fixture(scope="module")
def review_run(sdk: SdkInterpreter, compat_server: SandboxServer,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[SdkRun, dict[str, str]]:
    """Run review_workflow.py once; the tests below read its observations."""
    with ServerState(compat_server) as state:
        variables = state.world_variables()
    run = run_sdk_script(sdk, "review_workflow.py", tmp_path_factory.mktemp("review"), compat_server,
                         variables=variables, skip_https_probe=True)
    return run, variables


@pytest.fixture()
def run(review_run: tuple[SdkRun, dict[str, str]]) -> SdkRun:
    """The observations of the review workflow script."""
    return review_run[0]


def test_created_jobs_carry_their_settings_and_pending_entities(run: SdkRun, review_run: tuple) -> None:
    manager_id = int(review_run[1]["USER_ID"])
    job = run["job.created"]
    assert job["status"] == "pending" and run["status.created"] == "pending"
    assert (job["name"], job["readme"], job["description"]) == ("review me", "read me", "four images")
    assert (job["assigned_to_login"], job["reviewer_id"], job["created_by_id"]) == (
        "rw_labeler_1", manager_id, manager_id)
    assert job["classes_to_label"] == ["lemon"] and job["tags_to_label"] == []
    assert job["images_count"] == 4 and statuses(job["entities"]) == ["none"] * 4
    whole = run["whole_dataset_job.created"]
    assert whole["images_count"] == 6 and len(whole["entities"]) == 6
    assert whole["tags_to_label"] == ["size", "origin"]
    assert (whole["objects_limit_per_image"], whole["tags_limit_per_image"]) == (10, 20)


def test_duplicate_login_is_refused_without_a_second_user(run: SdkRun, state: ServerState) -> None:
    outcome = run["user.create_duplicate"]
    assert outcome["error"] == "HTTPError" and outcome["status"] == 400
    # The real server's conflict shape, as the SDK's own conflict handling reads it (details.type, errors[*]).
    assert outcome["body"]["error"] == "user already exists"
    details = outcome["body"]["details"]
    assert details["type"] == "NONUNIQUE" and [error["name"] for error in details["errors"]] == ["rw_labeler_1"]
    assert state.users_with_login("rw_labeler_1") == 1


def test_labeler_logs_in_with_its_password_and_sees_only_its_job(run: SdkRun) -> None:
    assert run["labeler.wrong_password"] == "Failed to authenticate user: status code 401"
    assert run["labeler.me"]["login"] == "rw_labeler_1"
    assert run["labeler.token_differs"] is True
    assert run["labeler.jobs_visible"] == [run["job.created"]["id"]]
    foreign = run["labeler.foreign_job_info"]
    assert foreign == {"error": None, "result": None} or refused(foreign, 403)


def test_labeler_opens_marks_and_submits_its_job(run: SdkRun) -> None:
    assert run["labeler.set_in_progress"]["error"] is None
    assert run["labeler.status_opened"] == "in_progress"
    assert statuses(run["labeler.entities_after_done"]) == ["done"] * 4
    assert run["labeler.submit"]["error"] is None
    assert run["status.submitted"] == "on_review"


def test_labeler_may_not_review_create_users_jobs_or_meta(run: SdkRun, state: ServerState) -> None:
    assert refused(run["labeler.accept_own_image"], 403)
    for step in ("labeler.create_user", "labeler.create_job", "labeler.update_meta"):
        assert refused(run[step], 403), step
    assert state.users_with_login("sneaky") == 0
    every_job = state.call("jobs.list", teamId=run["job.created"]["team_id"], showDisabled=True)["entities"]
    assert "sneaky job" not in [job["name"] for job in every_job]
    meta = state.call("projects.meta", id=run["job.created"]["project_id"])
    assert {cls["title"] for cls in meta["classes"]} == {"lemon", "kiwi"}


def test_wait_polls_the_status_with_the_status_enum(run: SdkRun) -> None:
    assert run["wait.on_review"] == "reached"
    assert run["wait.completed_too_early"] == "WaitingTimeExceeded"
    assert run["wait.completed"] == "reached"
    assert run["wait.clone_in_progress"] == "reached"


def test_review_counts_accepted_and_rejected_images(run: SdkRun, state: ServerState) -> None:
    assert statuses(run["review.entities"]) == ["accepted", "rejected", "rejected", "rejected"]
    stats = run["review.stats"]
    assert stats["images"]["total"] == 4
    assert statuses(stats["images"]["images"]) == ["accepted", "rejected", "rejected", "rejected"]
    assert run["status.reviewed"] == "completed"
    reviewed = run["job.reviewed"]
    assert (reviewed["accepted_images_count"], reviewed["rejected_images_count"]) == (1, 3)
    assert reviewed["finished_images_count"] == 4
    assert reviewed["started_at"] and reviewed["finished_at"]
    stored = state.job(reviewed["id"])
    assert (stored["status"], stored["acceptedImagesCount"], stored["rejectedImagesCount"]) == ("completed", 1, 3)


def test_restart_makes_a_new_job_over_the_rejected_images(run: SdkRun) -> None:
    [new_job_ref] = run["restart.response"]
    restarted = run["restart.job"]
    assert restarted["id"] == new_job_ref["id"] != run["job.created"]["id"]
    rejected_ids = [e["id"] for e in run["review.entities"] if e["reviewStatus"] == "rejected"]
    assert [e["id"] for e in restarted["entities"]] == rejected_ids
    assert statuses(restarted["entities"]) == ["none"] * 3
    assert (restarted["status"], restarted["assigned_to_login"]) == ("pending", "rw_labeler_1")
    assert restarted["reviewer_id"] == run["job.created"]["reviewer_id"]
    assert restarted["classes_to_label"] == ["lemon"]
    assert run["restart.original_status"] == "completed"


def test_restart_without_rejected_images(run: SdkRun) -> None:
    assert run["restart.nothing_rejected_ignored"] == []
    outcome = run["restart.nothing_rejected"]
    assert refused(outcome, 400) and "No images found" in outcome["body"]["details"]["message"]


def test_stop_takes_the_job_from_its_labeler(run: SdkRun, state: ServerState) -> None:
    assert run["status.stopped"] == "stopped"
    outcome = run["stopped.labeler_opens"]
    assert outcome["error"] == "HTTPError" and 400 <= outcome["status"] < 500 and refused(outcome, outcome["status"])
    assert state.job(run["whole_dataset_job.created"]["id"])["status"] == "stopped"


def test_clone_copies_the_job_and_its_images(run: SdkRun) -> None:
    original, clone = run["job.created"], run["clone.job"]
    assert clone["id"] not in (original["id"], run["restart.job"]["id"])
    assert clone["name"] == "review me again" and clone["status"] == "pending"
    assert [e["id"] for e in clone["entities"]] == [e["id"] for e in original["entities"]]
    for field in ("readme", "description", "classes_to_label", "assigned_to_id", "reviewer_id", "dataset_id"):
        assert clone[field] == original[field], field


def test_manager_sets_any_status_but_not_an_unknown_one(run: SdkRun) -> None:
    assert run["clone.status_set_by_manager"] == "in_progress"
    assert refused(run["clone.set_unknown_status"], 400)


def test_custom_data_merges_then_replaces(run: SdkRun, state: ServerState) -> None:
    assert run["custom_data.merged"] == {"round": "r1", "cycle": 2}
    assert run["custom_data.replaced"] == {"replaced": True}
    assert state.job(run["clone.job"]["id"])["customData"] == {"replaced": True}


def test_set_assignees_and_job_project_meta(run: SdkRun, state: ServerState) -> None:
    reassigned = run["set_assignees"]
    labeler_2 = next(user for user in run["labelers"] if user["login"] == "rw_labeler_2")
    assert (reassigned["assigned_to_id"], reassigned["assigned_to_login"]) == (labeler_2["id"], "rw_labeler_2")
    assert state.job(reassigned["id"])["userId"] == labeler_2["id"]
    job_meta = run["job_project_meta"]
    assert [cls["name"] for cls in job_meta["classes"]] == ["lemon"] and job_meta["tags"] == []


def test_unknown_job_is_none(run: SdkRun) -> None:
    assert run["job.unknown_id"] is None
