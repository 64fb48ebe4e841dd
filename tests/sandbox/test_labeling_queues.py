"""Labeling queues: creation (validation before write), first-come takes, review and rejection back to the queue,
counters checked against raw `jobs.info` reads and the seed's known images; concurrent takes never share an image."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import pytest

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.server import SandboxServer

from .api_client import Api
from .test_jobs import snapshot

MakeUser = Callable[..., Api]
TEAM_ID = 8
DATASET_ID = 1001
LEMON_IDS = list(range(1002, 1008))
"""The lemons seed's six images (ids known from the seed, not read through the code under test)."""


@pytest.fixture
def crew(make_user: MakeUser) -> dict[str, Api]:
    """Two annotators, a third one, a reviewer and a viewer of the team."""
    return {
        "a": make_user("queue_a"),
        "b": make_user("queue_b"),
        "c": make_user("queue_c"),
        "reviewer": make_user("queue_reviewer", Role.REVIEWER),
        "viewer": make_user("queue_viewer", Role.VIEWER),
    }


def queue_body(labelers: Sequence[Api], reviewer: Api, **extra: Any) -> dict[str, Any]:
    """A `labeling-queues.add` body over the whole lemons dataset, shaped as the SDK sends it."""
    return {
        "name": "lemon queue",
        "datasetId": DATASET_ID,
        "userIds": [labeler.user_id for labeler in labelers],
        "reviewerIds": [reviewer.user_id],
        "meta": {"classes": ["lemon"], "projectTags": [], "imageTags": [], "imageFiguresLimit": 0},
        "readme": "label every lemon",
        **extra,
    }


def job_entities(admin: Api, queue_id: int) -> dict[int, dict[int, str]]:
    """Raw oracle: each job of the queue (by `jobs.list` filter) → its images and their review status."""
    listed = admin.ok(
        "jobs.list",
        {"teamId": TEAM_ID, "filter": [{"field": "labelingQueueId", "operator": "in", "value": [queue_id]}]},
    )["entities"]
    return {
        job["id"]: {entity["id"]: entity["reviewStatus"] for entity in admin.job(job["id"])["entities"]}
        for job in listed
    }


def ownership_problems(expected_images: Sequence[int], per_job: Mapping[int, Mapping[int, str]]) -> list[str]:
    """What is wrong with who holds which image: an image in two jobs, or a held image outside the queue."""
    holders = Counter(image_id for images in per_job.values() for image_id in images)
    problems = [f"image {image_id} is in {count} jobs" for image_id, count in holders.items() if count > 1]
    problems += [
        f"image {image_id} is not in the queue" for image_id in holders if image_id not in expected_images
    ]
    return problems


def take(labeler: Api, queue_id: int, count: int = 1) -> list[int]:
    """The ids a labeler got from one take."""
    return [
        entity["id"]
        for entity in labeler.ok("labeling-queues.entities.take", {"id": queue_id, "count": count})[
            "entities"
        ]
    ]


def counters(admin: Api, queue_id: int) -> tuple[int, int, int, int, int]:
    """(entities, pending, in progress, annotated, accepted) as `labeling-queues.info` reports them."""
    info = admin.ok("labeling-queues.info", {"id": queue_id})
    keys = ("entitiesCount", "pendingCount", "inProgressCount", "annotatedCount", "acceptedCount")
    return tuple(info[key] for key in keys)  # type: ignore[return-value]


def mark_all(labeler: Api, job_id: int, status: str) -> None:
    """Move the job's images one step: `none` → `done` for the labeler, `done` → `accepted` for the reviewer."""
    previous = {"done": "none", "accepted": "done"}[status]
    for entity in labeler.job(job_id)["entities"]:
        if entity["reviewStatus"] == previous:
            body = {"jobId": job_id, "entityId": entity["id"], "status": status}
            labeler.ok("jobs.entities.update-review-status", body)


def test_queue_lifecycle_counts_every_image_once(admin: Api, crew: dict[str, Api]) -> None:
    a, b, reviewer = crew["a"], crew["b"], crew["reviewer"]
    queue_id = admin.ok("labeling-queues.add", queue_body([a, b], reviewer))["id"]
    info = admin.ok("labeling-queues.info", {"id": queue_id})
    assert (info["status"], info["datasetId"], info["collectionId"]) == ("pending", DATASET_ID, None)
    assert [person["id"] for person in info["labelers"]] == [a.user_id, b.user_id]
    assert [person["id"] for person in info["reviewers"]] == [reviewer.user_id]
    jobs = job_entities(admin, queue_id)
    assert sorted(jobs) == sorted(job["id"] for job in info["jobs"]) and all(
        not images for images in jobs.values()
    )
    assert counters(admin, queue_id) == (6, 6, 0, 0, 0)

    got_a = take(a, queue_id, 2)
    got_b = take(b, queue_id, 3)
    got_a += take(a, queue_id, 5)
    assert take(b, queue_id) == []
    assert sorted(got_a + got_b) == LEMON_IDS and not set(got_a) & set(got_b)
    jobs = job_entities(admin, queue_id)
    job_of = {admin.job(job_id)["userId"]: job_id for job_id in jobs}
    assert set(jobs[job_of[a.user_id]]) == set(got_a) and set(jobs[job_of[b.user_id]]) == set(got_b)
    assert counters(admin, queue_id) == (6, 0, 6, 0, 0)
    assert admin.ok("labeling-queues.info", {"id": queue_id})["status"] == "in_progress"

    for labeler in (a, b):
        mark_all(labeler, job_of[labeler.user_id], "done")
        labeler.ok("jobs.set-status", {"id": job_of[labeler.user_id], "status": "on_review"})
    assert counters(admin, queue_id) == (6, 0, 0, 6, 0)
    mark_all(reviewer, job_of[a.user_id], "accepted")
    rejected_image = got_b[0]
    mark_all(reviewer, job_of[b.user_id], "accepted")
    reviewer.ok(
        "jobs.entities.update-review-status",
        {"jobId": job_of[b.user_id], "entityId": rejected_image, "status": "rejected"},
    )
    for labeler in (a, b):
        reviewer.ok("jobs.set-status", {"id": job_of[labeler.user_id], "status": "completed"})
    # The rejected image is back in the queue; the other five are accepted.
    assert counters(admin, queue_id) == (6, 1, 0, 5, 5)
    pending = admin.ok("labeling-queues.stats.entities", {"id": queue_id, "entityStatus": [None]})
    assert (pending["total"], [image["id"] for image in pending["images"]]) == (1, [rejected_image])

    # Whoever asks first gets it: `a` takes it out of `b`'s job, and `b`'s job keeps only its accepted images.
    assert take(a, queue_id) == [rejected_image]
    jobs = job_entities(admin, queue_id)
    assert rejected_image not in jobs[job_of[b.user_id]] and jobs[job_of[a.user_id]][rejected_image] == "none"
    assert admin.job(job_of[b.user_id])["imagesCount"] == len(got_b) - 1
    mark_all(a, job_of[a.user_id], "done")
    a.ok("jobs.set-status", {"id": job_of[a.user_id], "status": "on_review"})
    mark_all(reviewer, job_of[a.user_id], "accepted")
    assert counters(admin, queue_id) == (6, 0, 0, 6, 6)
    assert admin.ok("labeling-queues.info", {"id": queue_id})["status"] == "completed"
    jobs = job_entities(admin, queue_id)
    accepted_per_labeler = {user_id: len(jobs[job_id]) for user_id, job_id in job_of.items()}
    assert accepted_per_labeler == {a.user_id: len(got_a) + 1, b.user_id: len(got_b) - 1}
    assert (
        ownership_problems(LEMON_IDS, jobs) == []
        and sorted(image for images in jobs.values() for image in images) == LEMON_IDS
    )


def test_own_rejected_images_come_back_first_and_closed_queues_refuse_takes(
    admin: Api, crew: dict[str, Api]
) -> None:
    a, reviewer = crew["a"], crew["reviewer"]
    queue_id = admin.ok("labeling-queues.add", queue_body([a], reviewer))["id"]
    (job_id,) = job_entities(admin, queue_id)
    assert take(a, queue_id, 2) == LEMON_IDS[:2]
    mark_all(a, job_id, "done")
    a.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    a.error("labeling-queues.entities.take", {"id": queue_id}, 400)  # on review: wait for the reviewer
    reviewer.ok(
        "jobs.entities.update-review-status",
        {"jobId": job_id, "entityId": LEMON_IDS[1], "status": "rejected"},
    )
    reviewer.ok(
        "jobs.entities.update-review-status",
        {"jobId": job_id, "entityId": LEMON_IDS[0], "status": "accepted"},
    )
    reviewer.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    assert take(a, queue_id, 2) == [LEMON_IDS[1], LEMON_IDS[2]]
    admin.ok("labeling-queues.set-status", {"id": queue_id, "status": "stopped"})
    assert admin.ok("labeling-queues.info", {"id": queue_id})["finishedAt"] is not None
    a.error("labeling-queues.entities.take", {"id": queue_id}, 400)


def test_concurrent_takes_never_give_one_image_to_two_labelers(
    sandbox: SandboxServer, admin: Api, make_user: MakeUser, crew: dict[str, Api]
) -> None:
    labelers = [make_user(f"racer_{k}") for k in range(6)]
    queue_id = admin.ok("labeling-queues.add", queue_body(labelers, crew["reviewer"]))["id"]
    start = threading.Barrier(len(labelers))
    taken: dict[int, list[int]] = {}

    def race(labeler: Api) -> None:
        with httpx.Client(base_url=sandbox.url, timeout=30) as client:
            own = Api(client, labeler.token, labeler.user_id, labeler.login)
            start.wait()
            taken[labeler.user_id] = take(own, queue_id) + take(own, queue_id)

    threads = [threading.Thread(target=race, args=(labeler,)) for labeler in labelers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replies = [image for images in taken.values() for image in images]
    assert sorted(replies) == LEMON_IDS  # each image handed out exactly once, none lost
    jobs = job_entities(admin, queue_id)
    assert ownership_problems(LEMON_IDS, jobs) == []
    assert sorted(image for images in jobs.values() for image in images) == LEMON_IDS


def test_ownership_oracle_catches_a_shared_image(
    sandbox: SandboxServer, admin: Api, crew: dict[str, Api]
) -> None:
    """Mutant: a server that gave one image to two labelers (written behind the API's back) is caught."""
    queue_id = admin.ok("labeling-queues.add", queue_body([crew["a"], crew["b"]], crew["reviewer"]))["id"]
    (image,) = take(crew["a"], queue_id)
    other_job = next(job_id for job_id, images in job_entities(admin, queue_id).items() if not images)
    assert sandbox.store is not None
    with sandbox.store.transaction(write=True) as db:
        db.execute("INSERT INTO job_entities(job_id, image_id) VALUES (?, ?)", (other_job, image))
    assert ownership_problems(LEMON_IDS, job_entities(admin, queue_id)) == [f"image {image} is in 2 jobs"]
    assert ownership_problems(LEMON_IDS[1:], {1: {LEMON_IDS[0]: "none"}}) == [
        f"image {LEMON_IDS[0]} is not in the queue"
    ]


def test_entity_listing_pages_sorts_and_filters_by_status(admin: Api, crew: dict[str, Api]) -> None:
    queue_id = admin.ok("labeling-queues.add", queue_body([crew["a"]], crew["reviewer"]))["id"]
    taken = take(crew["a"], queue_id, 2)
    body = {"id": queue_id, "sort": "id", "per_page": 4}
    first = admin.ok("labeling-queues.stats.entities", body)
    second = admin.ok("labeling-queues.stats.entities", body | {"page": 2})
    assert first["total"] == 6 and [image["id"] for image in first["images"] + second["images"]] == LEMON_IDS
    in_progress = admin.ok(
        "labeling-queues.stats.entities", {"id": queue_id, "sort": "id", "entityStatus": ["none"]}
    )
    assert [(image["id"], image["status"], image["labelerId"]) for image in in_progress["images"]] == [
        (image_id, "none", crew["a"].user_id) for image_id in sorted(taken)
    ]
    both = admin.ok("labeling-queues.stats.entities", {"id": queue_id, "entityStatus": [None, "none"]})
    assert both["total"] == 6


def test_bad_queues_are_refused_before_anything_is_written(
    sandbox: SandboxServer, admin: Api, crew: dict[str, Api]
) -> None:
    a, reviewer = crew["a"], crew["reviewer"]
    admin.ok("labeling-queues.add", queue_body([a], reviewer))
    before = snapshot(sandbox)
    cases = [
        (queue_body([a], reviewer, meta={"classes": ["banana"]}), 400, "banana"),
        (queue_body([crew["viewer"]], reviewer, name="other"), 400, "viewers may not"),
        (queue_body([a], crew["viewer"], name="other"), 400, "reviewerIds"),
        (queue_body([a], reviewer, name="other", meta={"entityIds": [999_999]}), 400, "entityIds"),
        (
            {k: v for k, v in queue_body([a], reviewer, name="other").items() if k != "datasetId"},
            400,
            "datasetId",
        ),
        (queue_body([a], reviewer, name="other", collectionId=5), 404, "collection"),
    ]
    for body, status, needle in cases:
        assert needle in admin.error("labeling-queues.add", body, status)["message"]
    duplicate = admin.call("labeling-queues.add", queue_body([a], reviewer)).json()
    assert (
        duplicate["error"] == "labeling queue already exists" and duplicate["details"]["type"] == "NONUNIQUE"
    )
    a.error("labeling-queues.add", queue_body([a], reviewer, name="by an annotator"), 403)
    assert snapshot(sandbox) == before


def test_who_sees_and_acts_on_a_queue(admin: Api, crew: dict[str, Api], make_user: MakeUser) -> None:
    a, c, reviewer = crew["a"], crew["c"], crew["reviewer"]
    queue_id = admin.ok("labeling-queues.add", queue_body([a], reviewer))["id"]
    admin.ok("labeling-queues.add", queue_body([c], reviewer, name="c's queue"))
    listed = a.ok("labeling-queues.list", {"teamId": TEAM_ID})
    assert [queue["id"] for queue in listed["entities"]] == [queue_id]
    assert admin.ok("labeling-queues.list", {"teamId": TEAM_ID})["total"] == 2
    assert reviewer.ok("labeling-queues.list", {"teamId": TEAM_ID})["total"] == 2
    by_name = admin.ok(
        "labeling-queues.list",
        {"teamId": TEAM_ID, "filter": [{"field": "name", "operator": "in", "value": ["c's queue"]}]},
    )
    assert [queue["name"] for queue in by_name["entities"]] == ["c's queue"]
    c.error("labeling-queues.info", {"id": queue_id}, 404)
    crew["viewer"].error("labeling-queues.info", {"id": queue_id}, 404)
    make_user("queue_outsider", None).error("labeling-queues.info", {"id": queue_id}, 404)
    a.error("labeling-queues.set-status", {"id": queue_id, "status": "stopped"}, 403)
    reviewer.error("labeling-queues.entities.take", {"id": queue_id}, 403)
    admin.error("labeling-queues.entities.take", {"id": queue_id}, 403)
    admin.error("labeling-queues.set-status", {"id": queue_id, "status": "archived"}, 400)


def test_a_removed_job_gives_its_images_back_to_the_queue(admin: Api, crew: dict[str, Api]) -> None:
    a, b = crew["a"], crew["b"]
    queue_id = admin.ok("labeling-queues.add", queue_body([a, b], crew["reviewer"]))["id"]
    got_a = take(a, queue_id, 4)
    job_a = next(job_id for job_id, images in job_entities(admin, queue_id).items() if images)
    admin.ok("jobs.bulk.remove", {"ids": [job_a]})
    assert counters(admin, queue_id) == (6, 6, 0, 0, 0)
    assert [person["id"] for person in admin.ok("labeling-queues.info", {"id": queue_id})["labelers"]] == [
        b.user_id
    ]
    assert sorted(take(b, queue_id, 6)) == LEMON_IDS and len(got_a) == 4
    a.error("labeling-queues.info", {"id": queue_id}, 404)  # no longer one of its labelers
