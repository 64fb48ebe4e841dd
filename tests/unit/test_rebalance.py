"""The adaptive round's decision (`steps.rebalance.plan_moves`): who is behind, how many images go to whom.

Expected values are worked out by hand from the snapshot's figures (paces, the common finish), not by the code.
Also how the `jobs.split` capability probe reads a server's replies (mocked: replies of servers we cannot run).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import JobStatus
from labelrounds.round_spec import TargetStatus, parse_round_spec
from labelrounds.steps.gate import GateSnapshot, JobProgress
from labelrounds.steps.rebalance import (
    images_to_move,
    labeler_loads,
    moved_job_name,
    plan_moves,
    split_capability_problems,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ADAPTIVE_ROUND = {
    "round_name": "r",
    "team": "t",
    "project": "p",
    "labelers": ["a", "b"],
    "reviewer": "c",
    "classes": [{"name": "crate", "shape": "rectangle"}],
    "assignment": "adaptive",
}


def job(
    job_id: int,
    labeler: str,
    images: int,
    done: int,
    started_seconds_ago: float | None,
    submitted_seconds_ago: float | None = None,
) -> JobProgress:
    """One job's progress at NOW."""
    submitted = None if submitted_seconds_ago is None else NOW - timedelta(seconds=submitted_seconds_ago)
    return JobProgress(
        job_id=job_id,
        job_name=f"job {job_id}",
        labeler=labeler,
        status=JobStatus.ON_REVIEW
        if submitted
        else (JobStatus.IN_PROGRESS if started_seconds_ago else JobStatus.PENDING),
        images=images,
        done=done,
        awaiting_review=done,
        accepted=0,
        rejected=0,
        reached=submitted is not None,
        started_at=None if started_seconds_ago is None else NOW - timedelta(seconds=started_seconds_ago),
        submitted_at=submitted,
    )


def snapshot(*jobs: JobProgress) -> GateSnapshot:
    """A check at NOW of these jobs."""
    return GateSnapshot(target=TargetStatus.ON_REVIEW, checked_at=NOW, jobs=list(jobs), missing_job_ids=[])


def test_a_slow_labeler_gives_the_excess_to_the_faster_ones_by_their_room() -> None:
    # Paces (images/s): a 1, b 2, c 3, d 4 (10 s of work each). Left: a 40, b 30, c 20, d 10 = 100 over a pace of
    # 10: all would end after T = 10 s with a 10, b 20, c 30, d 40 left. a's end (40 s) is past 1.2·T: a gives 30;
    # b is behind too (15 s > 12 s): gives 10. c has room 10, d 30: 40 images apportioned 10/30.
    plan = plan_moves(
        snapshot(
            job(1, "a", 50, 10, 10), job(2, "b", 50, 20, 10), job(3, "c", 50, 30, 10), job(4, "d", 50, 40, 10)
        )
    )
    assert plan.horizon_seconds == 10
    given = {(move.donor, move.receiver): move.images for move in plan.moves}
    assert sum(given.values()) == 40
    received = {login: sum(n for (_, r), n in given.items() if r == login) for login in "cd"}
    assert received == {"c": 10, "d": 30}
    assert {donor for donor, _ in given} == {"a", "b"}
    assert sum(n for (donor, _), n in given.items() if donor == "a") == 30
    assert all(move.donor_job_id == {"a": 1, "b": 2}[move.donor] for move in plan.moves)


def test_labelers_on_track_move_nothing() -> None:
    # Paces 1 and 2 with 10 and 20 left: both end after 10 s.
    plan = plan_moves(snapshot(job(1, "a", 20, 10, 10), job(2, "b", 40, 20, 10)))
    assert plan.moves == [] and plan.horizon_seconds == 10


def test_nothing_moves_while_a_labeler_with_work_left_has_no_pace() -> None:
    plan = plan_moves(snapshot(job(1, "a", 20, 2, 10), job(2, "b", 40, 39, 10)))  # a: 2 done < MIN_DONE
    assert plan.moves == [] and plan.horizon_seconds is None
    assert (
        plan_moves(snapshot(job(1, "a", 20, 0, None), job(2, "b", 40, 39, 10))).moves == []
    )  # a not started


def test_a_finished_labeler_receives_at_the_pace_they_had_while_working() -> None:
    # b did 10 in 5 s then waited 5 s idle (submitted 5 s ago): pace 2, not 1. a: pace 1, 20 left.
    # T = 20 / 3 s; a's fair share left: 6.67 → 7; a gives 13, all to b.
    plan = plan_moves(snapshot(job(1, "a", 30, 10, 10), job(2, "b", 10, 10, 10, submitted_seconds_ago=5)))
    (load_a, load_b) = plan.loads
    assert load_b.images_per_second == 2 and load_a.images_per_second == 1
    assert [(m.donor, m.receiver, m.images) for m in plan.moves] == [("a", "b", 13)]


def test_busy_time_is_the_union_of_a_labelers_open_jobs() -> None:
    # Job 2 (6 images) ran from 10 s ago to 4 s ago; job 3 (a moved-in job) opened 2 s ago, 2 of 4 done:
    # busy 6 + 2 = 8 s, 8 done → 1 image/s (not 8 / 10).
    (load,) = labeler_loads(snapshot(job(2, "b", 6, 6, 10, submitted_seconds_ago=4), job(3, "b", 4, 2, 2)))
    assert load.images_per_second == 1 and load.left == 2


def test_a_move_smaller_than_the_minimum_is_not_made() -> None:
    # a: pace 1, 12 left; b: pace 1, 10 left: T = 11 s, a ends at 12 s ≤ 1.2·T: not behind.
    assert plan_moves(snapshot(job(1, "a", 22, 10, 10), job(2, "b", 20, 10, 10))).moves == []
    # With a tiny slack a is behind, but its excess (1) is under MIN_MOVE.
    assert plan_moves(snapshot(job(1, "a", 22, 10, 10), job(2, "b", 20, 10, 10)), slack=0.01).moves == []


def test_images_to_move_are_the_last_untouched_ones_never_the_head() -> None:
    assert images_to_move([5, 6, 7, 8, 9], 2) == [8, 9]
    assert images_to_move([5, 6, 7], 5) == [6, 7]  # the first untouched image (the one being labeled) stays
    assert images_to_move([5], 3) == [] and images_to_move([5, 6], 0) == []


def test_a_moved_job_is_named_after_its_receiver_and_donor() -> None:
    assert moved_job_name("r", "ds1", "b", 17) == "r / ds1 / b / from #17"


@pytest.mark.parametrize(
    ("status", "message", "has_split"),
    [
        (400, "id: Field required; entityIds: Field required; userId: Field required", True),
        (404, "Unknown API method 'jobs.split'", False),
        (400, "Unknown method", False),  # a server that answers unknown methods with a 400 of another kind
    ],
)
async def test_the_split_probe_reads_a_missing_field_as_present_and_anything_else_as_absent(
    status: int, message: str, has_split: bool
) -> None:
    """Replies a real server gives on demand only for its own methods (mocked): the probe's reading of each."""
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/jobs.split")
        bodies.append(request.content)
        return httpx.Response(status, json={"error": "refused", "details": {"message": message}})

    settings = ConnectionSettings(server_address="http://supervisely.invalid", api_token=SecretStr("t0ken"))
    async with SuperviselyClient(settings, transport=httpx.MockTransport(answer)) as api:
        assert await api.can_split_jobs() is has_split
        problems = await split_capability_problems(api, parse_round_spec(ADAPTIVE_ROUND))
    assert bodies == [b"{}", b"{}"]  # an empty body: nothing to move, whatever the server
    assert bool(problems) is not has_split
