"""An annotator (and a reviewer) reads only its own jobs: no job, count, statistic or image list of another's."""

from __future__ import annotations

from .world import World, call, ok


def test_an_annotator_cannot_read_another_annotators_job(world: World) -> None:
    token = world.tokens["annotator"]
    for method, body in (
        ("jobs.info", {"id": world.other_job_id}),
        ("jobs.stats", {"id": world.other_job_id}),
        ("jobs.set-status", {"id": world.other_job_id, "status": "in_progress"}),
        (
            "jobs.entities.update-review-status",
            {"jobId": world.other_job_id, "entityId": world.image_ids[0], "status": "done"},
        ),
    ):
        reply = call(world.url, token, method, body)
        assert reply.status_code == 404, method
        # The same answer as for a job that does not exist, so the reply reveals nothing.
        assert reply.json()["details"]["message"] == f"Labeling job {world.other_job_id} not found"
    assert call(world.url, token, "teams.activity", {"teamId": world.team_id}).status_code == 403


def test_job_lists_hold_and_count_only_the_callers_own_jobs(world: World) -> None:
    token = world.tokens["annotator"]
    listings = [
        {"teamId": world.team_id},
        {"teamId": world.team_id, "showDisabled": True},
        {"teamId": world.team_id, "filter": [{"field": "id", "operator": "=", "value": world.other_job_id}]},
        {"teamId": world.team_id, "filter": [{"field": "userId", "operator": "!=", "value": 0}]},
        {"teamId": world.team_id, "per_page": 1, "page": 2},
        {"teamId": world.team_id, "pagination_mode": "token"},
        {"teamId": world.team_id, "fields": ["id", "name"], "sort": "id", "sort_order": "desc"},
    ]
    for body in listings:
        reply = ok(world.url, token, "jobs.list", body)
        assert {job["id"] for job in reply["entities"]} <= {world.job_id}, body
        assert reply["total"] <= 1, body
    assert [job["id"] for job in ok(world.url, token, "jobs.list", listings[0])["entities"]] == [world.job_id]


def test_the_reviewer_sees_only_the_jobs_it_reviews_and_the_viewer_none(world: World) -> None:
    manager = world.tokens["manager"]
    other_reviewer_job = ok(
        world.url,
        manager,
        "jobs.add",
        {
            "name": "reviewed by the manager",
            "datasetId": world.dataset_id,
            "userIds": [world.user_ids["annotator"]],
            "meta": {"classes": ["lemon"], "entityIds": [world.image_ids[5]]},
        },
    )[0]["id"]
    reviewer_sees = ok(world.url, world.tokens["reviewer"], "jobs.list", {"teamId": world.team_id})
    assert {job["id"] for job in reviewer_sees["entities"]} == {world.job_id, world.other_job_id}
    assert (
        call(world.url, world.tokens["reviewer"], "jobs.info", {"id": other_reviewer_job}).status_code == 404
    )
    viewer_sees = ok(world.url, world.tokens["viewer"], "jobs.list", {"teamId": world.team_id})
    assert viewer_sees["total"] == 0 and viewer_sees["entities"] == []
