"""The ETA of a round from synthetic gate snapshots; oracle: hand-computed finish times of a steady crew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrounds.client.models import JobStatus
from labelrounds.round_spec import RoundSpec, TargetStatus
from labelrounds.steps.eta import DueInPastError, RoundEstimate, estimate_round, resolve_due
from labelrounds.steps.gate import GateSnapshot, JobProgress

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def job(
    job_id: int,
    labeler: str,
    images: int,
    done: int,
    *,
    reviewed: int = 0,
    started: float | None = 0.0,
    submitted: float | None = None,
    status: JobStatus = JobStatus.IN_PROGRESS,
) -> JobProgress:
    """A job's progress; times in seconds after T0."""
    return JobProgress(
        job_id=job_id,
        job_name=f"job-{job_id}",
        labeler=labeler,
        status=status,
        images=images,
        done=done,
        awaiting_review=done - reviewed,
        accepted=reviewed,
        rejected=0,
        reached=False,
        started_at=None if started is None else T0 + timedelta(seconds=started),
        submitted_at=None if submitted is None else T0 + timedelta(seconds=submitted),
    )


def snapshot(
    at: float, jobs: list[JobProgress], target: TargetStatus = TargetStatus.ON_REVIEW
) -> GateSnapshot:
    """A check `at` seconds after T0."""
    return GateSnapshot(target=target, checked_at=T0 + timedelta(seconds=at), jobs=jobs, missing_job_ids=[])


def assert_finish(estimate: RoundEstimate, seconds_after_t0: float) -> None:
    """The oracle: the estimate is the hand-computed finish (to the millisecond)."""
    assert estimate.finish is not None
    assert abs((estimate.finish - T0).total_seconds() - seconds_after_t0) < 1e-3


def test_steady_crew_half_way_projects_its_finish() -> None:
    """Two labelers, 10 images each at 60 s an image, checked at 300 s: both end at 10 x 60 = 600 s."""
    estimate = estimate_round(snapshot(300, [job(1, "ann", 10, 5), job(2, "bob", 10, 5)]))
    assert_finish(estimate, 600)
    assert estimate.behind == []
    assert [pace.images_per_hour for pace in estimate.labelers] == [60.0, 60.0]


def test_the_slowest_labeler_sets_the_eta_and_is_behind() -> None:
    """bob does 2 images in 300 s (150 s an image): his 10 images end at 1,500 s; ann's at 600 s."""
    estimate = estimate_round(snapshot(300, [job(1, "ann", 10, 5), job(2, "bob", 10, 2)]))
    assert_finish(estimate, 1500)
    assert estimate.behind == ["bob"]


def test_a_labeler_with_two_jobs_works_through_them_in_turn() -> None:
    """carl has 2 jobs of 5 images, started the first at 0 and has done 5 at 300 s: 10 images end at 600 s."""
    jobs = [job(1, "carl", 5, 5, submitted=300), job(2, "carl", 5, 0, started=None), job(3, "dan", 10, 5)]
    assert_finish(estimate_round(snapshot(300, jobs)), 600)


def test_review_after_labeling_at_the_observed_pace() -> None:
    """Labeling (2 x 10 images) ended at 600 s; the reviewer did 10 images in 600 s since: 10 more end at 1,800 s."""
    jobs = [
        job(1, "ann", 10, 10, reviewed=10, submitted=600, status=JobStatus.COMPLETED),
        job(2, "bob", 10, 10, submitted=600, status=JobStatus.ON_REVIEW),
    ]
    assert_finish(estimate_round(snapshot(1200, jobs, TargetStatus.COMPLETED)), 1800)


def test_review_before_any_review_goes_at_the_average_labeler_pace() -> None:
    """Half-way through labeling (ends 600 s), the 20 images then take 20 x 60 s of review: 1,800 s."""
    jobs = [job(1, "ann", 10, 5), job(2, "bob", 10, 5)]
    assert_finish(estimate_round(snapshot(300, jobs, TargetStatus.COMPLETED)), 1800)


def test_deadline_at_risk_and_who_is_behind_it() -> None:
    """ETA 1,500 s: a deadline at 1,000 s is at risk (bob is behind it), one at 2,000 s is not."""
    jobs = [job(1, "ann", 10, 5), job(2, "bob", 10, 2)]
    tight = estimate_round(snapshot(300, jobs), due=T0 + timedelta(seconds=1000))
    assert tight.at_risk and tight.behind == ["bob"]
    assert "AT RISK" in tight.summary() and "bob" in tight.markdown()
    loose = estimate_round(snapshot(300, jobs), due=T0 + timedelta(seconds=2000))
    assert not loose.at_risk and loose.behind == []


def test_no_pace_yet_means_no_estimate_but_a_passed_deadline_is_at_risk() -> None:
    """bob has not started: no ETA; once the deadline passed, the round is at risk anyway."""
    jobs = [job(1, "ann", 10, 5), job(2, "bob", 10, 0, started=None)]
    estimate = estimate_round(snapshot(300, jobs))
    assert estimate.finish is None and estimate.behind == ["bob"] and not estimate.at_risk
    assert estimate_round(snapshot(300, jobs), due=T0 + timedelta(seconds=200)).at_risk


def test_mutant_snapshots_miss_the_hand_computed_finish() -> None:
    """The oracle catches corrupted data: a dropped image, and a duplicated job."""
    dropped = [job(1, "ann", 10, 4), job(2, "bob", 10, 5)]
    with pytest.raises(AssertionError):
        assert_finish(estimate_round(snapshot(300, dropped)), 600)
    # bob's job created twice: the copy is work he has not started yet
    duplicated = [job(1, "ann", 10, 5), job(2, "bob", 10, 5), job(3, "bob", 10, 0, started=None)]
    with pytest.raises(AssertionError):
        assert_finish(estimate_round(snapshot(300, duplicated)), 600)


@settings(max_examples=200, deadline=None)
@given(
    images=st.lists(st.integers(min_value=2, max_value=500), min_size=1, max_size=8),
    seconds_per_image=st.floats(min_value=0.5, max_value=3600),
    data=st.data(),
)
def test_steady_crew_any_size(images: list[int], seconds_per_image: float, data: st.DataObject) -> None:
    """Any steady crew started together, checked after k images: the ETA is the largest job x seconds per image."""
    k = data.draw(st.integers(min_value=1, max_value=max(images) - 1))
    at = k * seconds_per_image
    jobs = [
        job(
            index,
            f"l{index}",
            count,
            min(k, count),
            started=0.0,
            submitted=count * seconds_per_image if count <= k else None,
        )
        for index, count in enumerate(images)
    ]
    assert_finish_near(estimate_round(snapshot(at, jobs)), max(images) * seconds_per_image)


def assert_finish_near(estimate: RoundEstimate, seconds_after_t0: float) -> None:
    """The finish within a microsecond per second of the expected time (float rounding)."""
    assert estimate.finish is not None
    assert abs((estimate.finish - T0).total_seconds() - seconds_after_t0) <= 1e-6 * seconds_after_t0 + 1e-3


def test_resolve_due_from_the_rounds_first_start() -> None:
    """A duration counts from the first start (the same on a resume); a date-time not after it is refused."""
    assert resolve_due(timedelta(hours=36), T0) == T0 + timedelta(hours=36)
    assert resolve_due(None, T0) is None
    assert resolve_due(T0 + timedelta(days=1), T0) == T0 + timedelta(days=1)
    with pytest.raises(DueInPastError, match="already past"):
        resolve_due(T0 - timedelta(minutes=1), T0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", timedelta(days=3)),
        ("36h", timedelta(hours=36)),
        ("P3D", timedelta(days=3)),
        ("PT90M", timedelta(minutes=90)),
        ("2026-12-04T17:00:00+01:00", datetime(2026, 12, 4, 16, tzinfo=UTC)),
    ],
)
def test_due_accepts_durations_and_aware_datetimes(text: str, expected: datetime | timedelta) -> None:
    """The spec's `due` reads compact and ISO 8601 durations, and date-times with a timezone."""
    spec = _spec(due=text)
    assert spec.due == expected
    assert RoundSpec.model_validate(spec.model_dump(mode="json")).due == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("2026-12-04T17:00:00", "timezone"), ("0h", "positive"), ("P1X", "ISO 8601"), ("soon", "neither")],
)
def test_due_refuses_naive_zero_and_garbled(text: str, message: str) -> None:
    """A naive date-time, a zero duration and garbage are refused, naming the problem."""
    with pytest.raises(ValueError, match=message):
        _spec(due=text)


def _spec(**overrides: object) -> RoundSpec:
    """A minimal valid round with overrides."""
    return RoundSpec.model_validate(
        {
            "round_name": "r",
            "team": 1,
            "project": 1,
            "labelers": ["ann"],
            "reviewer": "rev",
            "classes": [{"name": "kiwi"}],
            **overrides,
        }
    )
