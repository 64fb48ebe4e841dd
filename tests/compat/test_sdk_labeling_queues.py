"""The official SDK runs a labeling queue on the lemons sandbox: creation, info, lists, per-status counts, the
queue's jobs, first-come takes by two labelers, a rejection back to the queue, and closing it. The oracle is what
the script itself did (which images each labeler took, which one was rejected), checked also by raw reads."""

from __future__ import annotations

from typing import Any

import pytest

from labelrounds.sandbox.server import SandboxServer

from .sdk_runner import SdkInterpreter, SdkRun, run_sdk_script
from .server_state import ServerState

LEMON_IDS = list(range(1002, 1008))
"""The lemons seed's six images."""


@pytest.fixture(scope="module")
def compat_server(lemons_sandbox: SandboxServer) -> SandboxServer:
    """The sandbox of this module: a fresh lemons world."""
    return lemons_sandbox


@pytest.fixture(scope="module")
def run(sdk: SdkInterpreter, compat_server: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> SdkRun:
    """Run queue_workflow.py once; the tests below read its observations."""
    with ServerState(compat_server) as state:
        variables = state.world_variables()
    return run_sdk_script(sdk, "queue_workflow.py", tmp_path_factory.mktemp("queue"), compat_server,
                          variables=variables, skip_https_probe=True)


def counts(run: SdkRun, step: str) -> tuple[int, ...]:
    """(entities, accepted, annotated, in progress, pending) from the LabelingQueueInfo the SDK built."""
    info = run[f"{step}.info"]
    keys = ("entities_count", "accepted_count", "annotated_count", "in_progress_count", "pending_count")
    return tuple(info[key] for key in keys)


def by_status(run: SdkRun, step: str) -> tuple[int, ...]:
    """(pending, labeling, on review, accepted) from `get_entities_count_by_status`."""
    found = run[f"{step}.by_status"]
    return tuple(found[status] for status in ("null", "none", "done", "accepted"))


def test_the_sdk_creates_and_reads_a_queue(run: SdkRun, state: ServerState) -> None:
    queue_id = run["queue.id"]
    info = run["created.info"]
    labeler_ids = sorted(run["labelers"].values())
    assert (info["id"], info["name"], info["status"], info["collection_id"]) == (queue_id, "lemon queue",
                                                                                  "pending", None)
    assert sorted(info["labelers"]) == labeler_ids and info["reviewers"] == [int(state.call("users.me")["id"])]
    assert info["meta"]["classes"] == [{"id": info["meta"]["classes"][0]["id"], "name": "lemon"}]
    assert info["meta"]["imageFiguresLimit"] == 5
    assert counts(run, "created") == (6, 0, 0, 0, 6) and by_status(run, "created") == (6, 0, 0, 0)
    assert run["list.by_dataset"] == [queue_id] and run["list.by_name"] == [queue_id]
    assert run["status.created"] == "pending"
    raw = state.call("labeling-queues.info", id=queue_id)
    assert raw["queueMeta"] == {"reviewOwnAnnotationsAvailable": True} and raw["readme"] == "label every lemon"


def test_a_duplicate_name_is_refused_as_nonunique(run: SdkRun, state: ServerState) -> None:
    outcome = run["queue.duplicate"]
    assert outcome["error"] == "HTTPError" and outcome["status"] == 400
    assert outcome["body"]["details"]["type"] == "NONUNIQUE"
    assert state.count("labeling-queues.list", teamId=int(state.world_variables()["TEAM_ID"])) == 1


def test_jobs_are_listed_per_queue(run: SdkRun) -> None:
    jobs: list[dict[str, Any]] = run["jobs.of_queue"]
    assert sorted(job["id"] for job in jobs) == sorted(run["created.info"]["jobs"])
    assert {job["labeling_queue_id"] for job in jobs} == {run["queue.id"]}
    assert sorted(job["assigned_to_id"] for job in jobs) == sorted(run["labelers"].values())
    assert all(job["images_count"] == 0 and job["classes_to_label"] == ["lemon"] for job in jobs)
    assert not set(run["jobs.outside_queues"]) & {job["id"] for job in jobs}


def test_each_image_goes_to_exactly_one_labeler(run: SdkRun) -> None:
    taken = run["taken"]
    first, second = taken.values()
    assert sorted(first + second) == LEMON_IDS and not set(first) & set(second)
    assert (len(first), len(second)) == (3, 3) and run["take.empty"] == []
    assert counts(run, "taken") == (6, 0, 0, 6, 0) and by_status(run, "taken") == (0, 6, 0, 0)


def test_counters_follow_review_and_the_rejected_image_returns_to_the_queue(run: SdkRun) -> None:
    rejected = run["rejected"]
    assert counts(run, "submitted") == (6, 0, 6, 0, 0) and by_status(run, "submitted") == (0, 0, 6, 0)
    assert counts(run, "reviewed") == (6, 5, 5, 0, 1) and by_status(run, "reviewed") == (1, 0, 0, 5)
    pending = run["pending.entities"]
    assert pending["total"] == 1 and [image["id"] for image in pending["images"]] == [rejected]
    assert run["retaken"] == [rejected]
    assert counts(run, "done") == (6, 6, 6, 0, 0) and by_status(run, "done") == (0, 0, 0, 6)
    assert run["status.done"] == "completed"
    paged = run["entities.paged"]
    assert paged["total"] == 6 and sorted(image["id"] for image in paged["images"]) == LEMON_IDS


def test_per_labeler_accounting_is_exact(run: SdkRun, state: ServerState) -> None:
    first_login, second_login = run["taken"]
    first, second = run["taken"].values()
    rejected = run["rejected"]
    accepted = {login: set() for login in run["taken"]}
    for job in run["jobs.final"]:
        assert all(entity["reviewStatus"] == "accepted" for entity in job["entities"])
        accepted[job["assigned_to_login"]] |= {entity["id"] for entity in job["entities"]}
    assert accepted == {first_login: {*first, rejected}, second_login: set(second) - {rejected}}
    for job in run["jobs.final"]:  # raw reads agree with what the SDK saw
        assert state.job(job["id"])["acceptedImagesCount"] == len(accepted[job["assigned_to_login"]])


def test_the_queue_meta_and_closing(run: SdkRun) -> None:
    assert run["queue.meta"] == ["lemon"]
    assert run["status.stopped"] == "stopped"
    outcome = run["labeler.set_status"]
    assert outcome["error"] == "HTTPError" and outcome["status"] == 403
