"""The sandbox answers like the real server: conflict and 401 bodies, and job phase timestamps with real values.

Oracles: the ids the test got back when it created the objects, and the wall-clock times the test itself
observed just before and just after each transition (a stamp must lie between them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.server import SandboxServer

from .api_client import JOB_IMAGES, Api

IMAGES = JOB_IMAGES
PHASES = ("annotationFinishedAt", "reviewFinishedAt")


@dataclass
class Window:
    """The wall-clock interval around one request, as the test saw it (millisecond precision, like the wire)."""

    start: datetime
    end: datetime | None = None

    def holds(self, stamp: str | None) -> bool:
        """Whether a wire timestamp lies within the window."""
        if stamp is None or self.end is None:
            return False
        return self.start <= datetime.fromisoformat(stamp) <= self.end


def _now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@contextmanager
def observed() -> Iterator[Window]:
    """Record the window around the requests of the block."""
    window = Window(_now_ms())
    yield window
    window.end = datetime.now(UTC)


def phase_problems(job: dict[str, Any], annotation: Window | None, review: Window | None) -> list[str]:
    """What is wrong with a job's phase timestamps, given the windows they must lie in (None: must be null)."""
    problems = []
    for key, window in zip(PHASES, (annotation, review), strict=True):
        stamp = job.get(key, "missing")
        if window is None and stamp is not None:
            problems.append(f"{key} is {stamp!r}, expected null")
        if window is not None and not window.holds(stamp):
            problems.append(f"{key} is {stamp!r}, expected between {window.start} and {window.end}")
    return problems


def _label_all(labeler: Api, job_id: int) -> None:
    for image_id in IMAGES:
        labeler.ok(
            "jobs.entities.update-review-status", {"jobId": job_id, "entityId": image_id, "status": "done"}
        )


def _review(reviewer: Api, job_id: int, rejected: set[int]) -> None:
    for image_id in IMAGES:
        status = "rejected" if image_id in rejected else "accepted"
        reviewer.ok(
            "jobs.entities.update-review-status", {"jobId": job_id, "entityId": image_id, "status": status}
        )


def test_a_duplicate_user_is_a_nonunique_conflict_naming_the_existing_id(admin: Api) -> None:
    user_id = admin.ok("users.add", {"login": "dup_user", "password": "11111abc"})["userId"]
    reply = admin.call("users.add", {"login": "dup_user", "password": "other-pass"})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "user already exists",
        "details": {
            "type": "NONUNIQUE",
            "errors": [
                {"name": "dup_user", "id": user_id, "message": 'User with login "dup_user" already exists'}
            ],
        },
    }


def test_a_membership_with_another_role_is_a_conflict_naming_the_user(
    admin: Api, sandbox: SandboxServer
) -> None:
    user_id = admin.ok("users.add", {"login": "member_x", "password": "11111abc"})["userId"]
    admin.ok("members.add", {"login": "member_x", "teamId": sandbox.team_id, "roleId": int(Role.ANNOTATOR)})
    reply = admin.call(
        "members.add", {"login": "member_x", "teamId": sandbox.team_id, "roleId": int(Role.REVIEWER)}
    )
    body = reply.json()
    assert reply.status_code == 400 and body["error"] == "member already exists"
    assert body["details"]["type"] == "NONUNIQUE"
    (conflict,) = body["details"]["errors"]
    assert (conflict["name"], conflict["id"]) == ("member_x", user_id)
    assert "already a member" in conflict["message"]


def test_a_refused_token_is_a_401_with_null_details(admin: Api, http: Any) -> None:
    assert Api(http, None).call("users.me").json() == {"error": "Missing x-api-key header", "details": None}
    assert Api(http, "nope").call("users.me").json() == {"error": "Invalid API token", "details": None}


def test_validation_errors_keep_their_message(admin: Api) -> None:
    reply = admin.call("users.add", {"login": "has space", "password": "p"})
    body = reply.json()
    assert reply.status_code == 400 and body["error"] == "Invalid request"
    assert isinstance(body["details"]["message"], str) and "login" in body["details"]["message"]


def test_phase_timestamps_follow_submit_send_back_and_completion(
    admin: Api, crew: tuple[Api, Api], job_id: int
) -> None:
    labeler, reviewer = crew
    assert phase_problems(admin.job(job_id), None, None) == []
    labeler.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    _label_all(labeler, job_id)
    assert phase_problems(admin.job(job_id), None, None) == []

    with observed() as first_submit:
        labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    assert phase_problems(admin.job(job_id), first_submit, None) == []

    _review(reviewer, job_id, rejected={1003})
    reviewer.ok(
        "jobs.set-status", {"id": job_id, "status": "in_progress"}
    )  # sent back: both phases start again
    assert phase_problems(admin.job(job_id), None, None) == []

    labeler.ok("jobs.entities.update-review-status", {"jobId": job_id, "entityId": 1003, "status": "done"})
    with observed() as second_submit:
        labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
        labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})  # a repeat keeps the stamp
    after_submit = admin.job(job_id)
    assert phase_problems(after_submit, second_submit, None) == []
    assert datetime.fromisoformat(after_submit["annotationFinishedAt"]) > (
        first_submit.end or first_submit.start
    )

    _review(reviewer, job_id, rejected=set())
    with observed() as completion:
        reviewer.ok("jobs.set-status", {"id": job_id, "status": "completed"})
    completed = admin.job(job_id)
    assert phase_problems(completed, second_submit, completion) == []
    admin.ok("jobs.stop", {"id": job_id})  # a stop ends no phase: both stamps stay
    stopped = admin.job(job_id)
    assert [stopped[key] for key in PHASES] == [completed[key] for key in PHASES]
    listed = {job["id"]: job for job in admin.ok("jobs.list", {"teamId": 8})["entities"]}
    assert [listed[job_id][key] for key in PHASES] == [completed[key] for key in PHASES]


def test_a_restart_completes_the_parent_and_starts_the_child_without_stamps(
    admin: Api, crew: tuple[Api, Api], job_id: int
) -> None:
    labeler, reviewer = crew
    labeler.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    _label_all(labeler, job_id)
    with observed() as submit:
        labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    _review(reviewer, job_id, rejected={1002})
    with observed() as restart:
        (child,) = admin.ok("jobs.restart", {"id": job_id, "completeExisting": True})
    assert phase_problems(admin.job(job_id), submit, restart) == []
    assert phase_problems(admin.job(child["id"]), None, None) == []


def test_a_manager_completing_directly_stamps_both_phases(admin: Api, job_id: int) -> None:
    with observed() as completion:
        admin.ok("jobs.set-status", {"id": job_id, "status": "completed"})
    assert phase_problems(admin.job(job_id), completion, completion) == []


def test_the_phase_oracle_fails_on_a_corrupted_stamp(
    admin: Api, crew: tuple[Api, Api], job_id: int, sandbox: SandboxServer
) -> None:
    """Mutant: a stored annotationFinishedAt moved to the job's creation time must be caught."""
    labeler, _ = crew
    labeler.ok("jobs.set-status", {"id": job_id, "status": "in_progress"})
    _label_all(labeler, job_id)
    with observed() as submit:
        labeler.ok("jobs.set-status", {"id": job_id, "status": "on_review"})
    assert phase_problems(admin.job(job_id), submit, None) == []
    assert sandbox.store is not None
    with sandbox.store.transaction(write=True) as db:
        db.execute(
            "UPDATE jobs SET annotation_finished_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (job_id,)
        )
    problems = phase_problems(admin.job(job_id), submit, None)
    assert len(problems) == 1 and problems[0].startswith("annotationFinishedAt is '2020-01-01")
    with sandbox.store.transaction(write=True) as db:
        db.execute("UPDATE jobs SET review_finished_at = annotation_finished_at WHERE id = ?", (job_id,))
    assert any(
        problem.startswith("reviewFinishedAt") for problem in phase_problems(admin.job(job_id), submit, None)
    )


def test_jobs_sort_by_phase_timestamps(admin: Api, job_id: int, crew: tuple[Api, Api]) -> None:
    labeler, _ = crew
    other = admin.ok(
        "jobs.add",
        {"name": "other", "datasetId": 1001, "userIds": [labeler.user_id], "meta": {"entityIds": [1005]}},
    )[0]["id"]
    admin.ok("jobs.set-status", {"id": other, "status": "completed"})
    for key in PHASES:
        listed = admin.ok("jobs.list", {"teamId": 8, "sort": key, "sort_order": "desc"})["entities"]
        assert [job["id"] for job in listed][:1] == [other] and listed[0][key] is not None
