"""The crew's instant mode: every active job finished in bulk inside the store, with no request counted."""

from __future__ import annotations

import pytest

from labelrounds.client.models import JobStatus, ReviewStatus
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.spec_parsing import SpecError

from .test_crew import CrewSandbox, crew_config, crew_sandbox, review_statuses

__all__ = ["crew_sandbox"]  # the fixture, shared with the http crew's tests


def test_instant_mode_parses_and_round_trips() -> None:
    config = CrewConfig.parse("mode=instant,reject=0.2,poll=50ms")
    assert (config.mode, config.reject_rate, config.poll_interval) == ("instant", 0.2, 0.05)
    assert CrewConfig.parse(config.to_spec()) == config
    assert "mode" not in CrewConfig().to_spec()  # the default http mode keeps the spec as it was


def test_an_unknown_mode_is_refused_naming_the_choices() -> None:
    with pytest.raises(SpecError, match="'fast' is not a mode; choose one of http, instant"):
        CrewConfig.parse("mode=fast")


@crew_config(mode="instant")
async def test_instant_crew_completes_every_job_without_a_single_request(crew_sandbox: CrewSandbox) -> None:
    first, second = crew_sandbox.image_ids[:4], crew_sandbox.image_ids[4:]
    job_ids = [
        await crew_sandbox.add_job("labeler_1", first),
        await crew_sandbox.add_job("labeler_2", second),
    ]

    jobs = await crew_sandbox.wait_for(job_ids, JobStatus.COMPLETED)

    for job, images in zip(jobs, (first, second), strict=True):
        assert review_statuses(job) == {ReviewStatus.ACCEPTED}
        assert (job.images_count, job.accepted_images_count, job.rejected_images_count) == (len(images),) * 2 + (0,)
        assert job.progress_images_count == 0 and job.finished_images_count == len(images)
        assert job.started_at is not None and job.finished_at is not None
    counts = await crew_sandbox.wait_for_crew(job_completed=2)
    assert (counts["image_labeled"], counts["image_accepted"], counts["failed_call"]) == (6, 6, 0)
    assert crew_sandbox.traffic.snapshot().crew_requests == {}


@crew_config(mode="instant", reject_rate=1.0)
async def test_instant_crew_rejects_each_image_at_most_once(crew_sandbox: CrewSandbox) -> None:
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids)
    (job,) = await crew_sandbox.wait_for([job_id], JobStatus.COMPLETED)
    assert review_statuses(job) == {ReviewStatus.REJECTED} and job.rejected_images_count == 6

    restart_ids = await crew_sandbox.api.restart_job(
        job_id, user_ids=[crew_sandbox.user_ids["labeler_2"]], reviewer_id=crew_sandbox.user_ids["reviewer"]
    )
    (rework,) = await crew_sandbox.wait_for(restart_ids, JobStatus.COMPLETED)

    assert review_statuses(rework) == {ReviewStatus.ACCEPTED} and rework.accepted_images_count == 6


@crew_config(mode="instant", logins=("labeler_2",))
async def test_instant_crew_finishes_only_the_jobs_of_the_chosen_labelers(crew_sandbox: CrewSandbox) -> None:
    mine = await crew_sandbox.add_job("labeler_2", crew_sandbox.image_ids[:3])
    other = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[3:])

    await crew_sandbox.wait_for([mine], JobStatus.COMPLETED)
    await crew_sandbox.wait_for_crew(job_completed=1)

    assert (await crew_sandbox.job(other)).status == JobStatus.PENDING
