"""steps.report: the totals invariant (property test over job trees) and a whole round's report on the sandbox."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import LabelingJobInfo
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.lineage import JobLineage
from labelrounds.steps.report import (
    JOB_REPORT_COLUMNS,
    LABELER_REPORT_COLUMNS,
    build_report,
    build_round_report,
    write_report_csv,
)
from labelrounds.steps.rework import create_rework_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult

from .support import Workers, lemons_spec

ROUND = "round-1@1"
LABELERS = ["labeler_1", "labeler_2", "labeler_3"]


def _job(
    job_id: int, labeler: str, cycle: int, parent: int | None, split: tuple[int, int, int]
) -> LabelingJobInfo:
    """A listed job with `split` = (accepted, rejected, unreviewed) images."""
    accepted, rejected, unreviewed = split
    lineage = JobLineage(
        round=ROUND, dataset=1, labeler=labeler, share=f"s{job_id}", cycle=cycle, parent=parent
    )
    return LabelingJobInfo.model_validate(
        {
            "id": job_id,
            "name": f"job {job_id}",
            "status": "completed" if unreviewed == 0 else "on_review",
            "meta": {
                "classes": [],
                "projectTags": [],
                "imageTags": [],
                "range": {"start": None, "end": None},
            },
            "labelerLogin": labeler,
            "datasetId": 1,
            "imagesCount": accepted + rejected + unreviewed,
            "finishedImagesCount": accepted + rejected + unreviewed,
            "acceptedImagesCount": accepted,
            "rejectedImagesCount": rejected,
            "customData": lineage.custom_data(),
        }
    )


@st.composite
def job_trees(draw: st.DrawFn) -> list[tuple[LabelingJobInfo, JobLineage | None]]:
    """First-cycle jobs and, for some jobs with rejections, rework jobs over exactly the rejected images."""
    ids = count(1)
    jobs: list[tuple[LabelingJobInfo, JobLineage | None]] = []

    def split_of(images: int) -> tuple[int, int, int]:
        accepted = draw(st.integers(0, images))
        rejected = draw(st.integers(0, images - accepted))
        return accepted, rejected, images - accepted - rejected

    frontier = [
        (None, draw(st.sampled_from(LABELERS)), 0, draw(st.integers(1, 30)))
        for _ in range(draw(st.integers(1, 5)))
    ]
    while frontier:
        parent, labeler, cycle, images = frontier.pop()
        job = _job(next(ids), labeler, cycle, parent, split_of(images))
        jobs.append((job, JobLineage.of(job)))
        if job.rejected_images_count and cycle < 3 and draw(st.booleans()):
            frontier.append((job.id, draw(st.sampled_from(LABELERS)), cycle + 1, job.rejected_images_count))
    return jobs


@settings(max_examples=60, deadline=None)
@given(jobs=job_trees())
def test_final_states_add_up_to_the_selected_images(
    jobs: list[tuple[LabelingJobInfo, JobLineage | None]],
) -> None:
    report = build_report(jobs)
    first_cycle_images = sum(job.images_count for job, lineage in jobs if lineage and lineage.cycle == 0)

    assert report.totals.selected_images == first_cycle_images
    assert report.totals.balanced
    finals = report.labelers[["accepted", "still_rejected", "unreviewed"]].to_numpy().sum()
    assert finals == first_cycle_images
    assert (report.jobs["still_rejected"] >= 0).all()
    assert report.labelers["jobs"].sum() == len(jobs) == report.totals.jobs
    assert report.totals.rework_jobs == sum(1 for _, lineage in jobs if lineage and lineage.cycle > 0)


def test_jobs_without_lineage_count_as_first_cycle_jobs() -> None:
    job = _job(7, "labeler_1", 0, None, (2, 1, 0))
    report = build_report([(job, None)])
    assert report.jobs[["cycle", "reworked", "still_rejected"]].iloc[0].tolist() == [0, 0, 1]
    assert report.totals.balanced and report.totals.selected_images == 3


async def test_the_report_of_a_round_with_rework(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, workers: Workers, tmp_path: Path
) -> None:
    spec = lemons_spec(max_rework_cycles=1)
    plan = await split_images(api, target, spec)
    jobs = await create_jobs(api, target, spec, plan, people.user_ids)
    first, second = (int(job_id) for job_id in jobs["job_id"])
    first_job = await api.get_job(first)
    assert first_job is not None
    await workers.finish(first, api, reject=first_job.entity_ids()[:2])
    await workers.finish(second, api)
    rework = await create_rework_jobs(api, target, spec, jobs, people.user_ids)
    rework_id = int(rework["job_id"].iloc[0])
    rework_job = await api.get_job(rework_id)
    assert rework_job is not None
    await workers.finish(rework_id, api, reject=rework_job.entity_ids()[:1])  # stays rejected: last cycle

    report = await build_round_report(api, target.team.id, target.project.id, target.round_key)

    assert list(report.jobs.columns) == list(JOB_REPORT_COLUMNS)
    assert list(report.labelers.columns) == list(LABELER_REPORT_COLUMNS)
    by_job = report.jobs.set_index("job_id")
    assert by_job.loc[first, ["images", "accepted", "rejected", "reworked", "still_rejected"]].tolist() == [
        3,
        1,
        2,
        2,
        0,
    ]
    assert by_job.loc[rework_id, ["cycle", "parent_job_id", "accepted", "still_rejected"]].tolist() == [
        1,
        first,
        1,
        1,
    ]
    assert (by_job["duration_seconds"] >= 0).all() and by_job["finished_at"].notna().all()
    assert report.totals.model_dump() == {
        "selected_images": 6,
        "accepted": 5,
        "still_rejected": 1,
        "unreviewed": 0,
        "jobs": 3,
        "rework_jobs": 1,
        "cycles": 1,
    }
    assert report.totals.balanced
    labeler_1 = report.labelers.set_index("labeler").loc["labeler_1"]
    assert labeler_1[["jobs", "rework_jobs", "rework_cycles", "images", "first_pass_images"]].tolist() == [
        2,
        1,
        1,
        5,
        3,
    ]
    assert "**6 images: 5 accepted, 1 still rejected" in report.markdown()

    paths = write_report_csv(report, tmp_path / "out", prefix="round-1")
    assert sorted(path.name for path in paths.values()) == ["round-1_jobs.csv", "round-1_labelers.csv"]
    pd.testing.assert_frame_equal(
        pd.read_csv(paths["labelers"]), report.labelers.reset_index(drop=True), check_dtype=False
    )
    assert pd.read_csv(paths["jobs"])["job_id"].tolist() == report.jobs["job_id"].tolist()
