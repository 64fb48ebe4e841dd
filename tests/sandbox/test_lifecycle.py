"""The job lifecycle, each step with the actor's own token, with the counters checked at every step."""

from __future__ import annotations

import pytest

from .api_client import JOB_IMAGES, Api

IMAGES = JOB_IMAGES


def counters(api: Api, job_id: int) -> tuple[str, int, int, int, int, int]:
    job = api.job(job_id)
    return (
        job["status"],
        job["imagesCount"],
        job["finishedImagesCount"],
        job["progressImagesCount"],
        job["acceptedImagesCount"],
        job["rejectedImagesCount"],
    )


def mark(api: Api, job_id: int, image_id: int, status: str) -> None:
    api.ok("jobs.entities.update-review-status", {"jobId": job_id, "entityId": image_id, "status": status})


def test_full_round_trip_with_rework_in_place(admin: Api, crew: tuple[Api, Api], job_id: int) -> None:
    labeler, reviewer = crew
    assert counters(labeler, job_id) == ("pending", 3, 0, 0, 0, 0)
    labeler.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    assert labeler.job(job_id)["startedAt"]
    for image_id in IMAGES:
        mark(labeler, job_id, image_id, "done")
    mark(labeler, job_id, 1004, "none")
    assert counters(labeler, job_id) == ("in_progress", 3, 2, 2, 0, 0)
    assert (
        "1 images not marked done"
        in labeler.error("jobs.set-status", {"id": job_id, "status": "on_review"}, 400)["message"]
    )
    mark(labeler, job_id, 1004, "done")
    labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    mark(reviewer, job_id, 1002, "accepted")
    mark(reviewer, job_id, 1003, "rejected")
    assert counters(reviewer, job_id) == ("on_review", 3, 3, 1, 1, 1)
    assert (
        "neither accepted nor rejected"
        in reviewer.error("jobs.set-status", {"id": job_id, "status": "completed"}, 400)["message"]
    )
    reviewer.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})  # sent back for rework
    labeler.error(
        "jobs.entities.update-review-status", {"jobId": job_id, "entityId": 1002, "status": "done"}, 400
    )
    mark(labeler, job_id, 1003, "done")
    labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    mark(reviewer, job_id, 1003, "accepted")
    mark(reviewer, job_id, 1004, "accepted")
    reviewer.ok("jobs.set-status", {"id": job_id, "status": "completed"})
    job = admin.job(job_id)
    assert counters(admin, job_id) == ("completed", 3, 3, 0, 3, 0)
    assert job["finishedAt"] and [e["reviewStatus"] for e in job["entities"]] == ["accepted"] * 3
    actions = [
        a["action"]
        for a in admin.ok(
            "teams.activity", {"teamId": 8, "filter": [{"field": "jobId", "operator": "=", "value": job_id}]}
        )["entities"]
    ]
    assert actions[0] == "job_created" and actions.count("status_changed") == 5


@pytest.mark.parametrize(
    ("actor", "status", "code"),
    [
        ("labeler", "on_review", 400),  # must start first
        ("labeler", "completed", 403),  # never the labeler's move
        ("labeler", "stopped", 403),
        ("reviewer", "in_progress", 400),  # only from on_review
        ("reviewer", "completed", 400),
        ("reviewer", "pending", 403),
    ],
)
def test_senseless_moves_from_pending(
    crew: tuple[Api, Api], job_id: int, actor: str, status: str, code: int
) -> None:
    api = crew[0] if actor == "labeler" else crew[1]
    api.error("jobs.set-status", {"id": job_id, "status": status}, code)
    assert api.job(job_id)["status"] == "pending"


def test_marks_outside_the_actors_part_or_state(crew: tuple[Api, Api], job_id: int) -> None:
    labeler, reviewer = crew
    body = {"jobId": job_id, "entityId": 1002}
    labeler.error("jobs.entities.update-review-status", body | {"status": "done"}, 400)  # job still pending
    labeler.error("jobs.entities.update-review-status", body | {"status": "accepted"}, 403)
    reviewer.error("jobs.entities.update-review-status", body | {"status": "done"}, 403)
    labeler.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    labeler.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})  # repeating is harmless
    reviewer.error("jobs.entities.update-review-status", body | {"status": "accepted"}, 400)  # not on review
    labeler.error(
        "jobs.entities.update-review-status", {"jobId": job_id, "entityId": 1007, "status": "done"}, 404
    )
    labeler.error("jobs.entities.update-review-status", body | {"status": "weird"}, 400)
    labeler.error("jobs.set-status", {"id": job_id, "status": "weird"}, 400)
    assert counters(labeler, job_id) == ("in_progress", 3, 0, 0, 0, 0)


def test_manager_sets_anything_and_rejects_then_restarts(
    admin: Api, crew: tuple[Api, Api], job_id: int
) -> None:
    labeler, reviewer = crew
    admin.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    mark(admin, job_id, 1002, "accepted")
    mark(admin, job_id, 1003, "rejected")
    admin.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    admin.ok("jobs.reject", {"id": job_id, "mode": "unmarked"})
    assert counters(admin, job_id) == ("on_review", 3, 3, 0, 1, 2)
    new_ids = admin.ok(
        "jobs.restart",
        {
            "id": job_id,
            "completeExisting": True,
            "userIds": [labeler.user_id],
            "reviewerId": reviewer.user_id,
            "customData": {"cycle": 1},
        },
    )
    (new_id,) = [item["id"] for item in new_ids]
    restarted = admin.job(new_id)
    assert [e["id"] for e in restarted["entities"]] == [1003, 1004]
    assert (restarted["status"], restarted["parentJobId"], restarted["customData"]) == (
        "pending",
        job_id,
        {"cycle": 1},
    )
    assert restarted["meta"] == admin.job(job_id)["meta"] and restarted["name"] == "review me"
    assert admin.job(job_id)["status"] == "completed"
    assert labeler.job_ids(8) == [job_id, new_id]
    admin.ok("jobs.reject", {"id": new_id})  # mode all
    assert counters(admin, new_id) == ("pending", 2, 2, 0, 0, 2)


def test_restart_without_rejections_says_no_images_found(
    admin: Api, job_id: int, crew: tuple[Api, Api]
) -> None:
    details = admin.error("jobs.restart", {"id": job_id, "completeExisting": True}, 400)
    assert "No images found" in details["message"]
    assert admin.job_ids(8) == [job_id] and admin.job(job_id)["status"] == "pending"
    crew[0].error("jobs.restart", {"id": job_id}, 403)


def test_reviewer_rejects_only_while_on_review(crew: tuple[Api, Api], admin: Api, job_id: int) -> None:
    labeler, reviewer = crew
    reviewer.error("jobs.reject", {"id": job_id, "mode": "all"}, 400)
    labeler.error("jobs.reject", {"id": job_id, "mode": "all"}, 403)
    admin.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    reviewer.ok("jobs.reject", {"id": job_id, "mode": "all"})
    assert counters(reviewer, job_id) == ("on_review", 3, 3, 0, 0, 3)
    reviewer.ok("jobs.set-status", {"id": job_id, "status": "completed"})


def test_stopped_job_refuses_the_labeler(admin: Api, crew: tuple[Api, Api], job_id: int) -> None:
    labeler = crew[0]
    admin.ok("jobs.stop", {"id": job_id})
    labeler.error("jobs.set-status", {"id": job_id, "status": "in_progress"}, 400)
    labeler.error(
        "jobs.entities.update-review-status", {"jobId": job_id, "entityId": 1002, "status": "done"}, 400
    )
