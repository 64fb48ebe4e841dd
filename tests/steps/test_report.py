"""steps.report: totals against each generated image's known fate (property test over job trees), the sanity
checks (`problems()`) failing on impossible figures, and a whole round's report against raw reads of the sandbox."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import assert_round_report
from rich.console import Console

from deployments.report_view import print_report
from labelrounds.client import SuperviselyClient
from labelrounds.client.models import LabelingJobInfo
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.consensus import ConsensusFigures, LabelerAgreement
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
    """First-cycle jobs (one per labeler of one dataset) and, for some jobs with rejections, rework jobs over
    exactly the rejected images.

    Each image's fate is known by construction: accepted or not reviewed in the job where it was decided, and
    still rejected when rejected in a job that got no rework job (`expected_finals`).
    """
    ids = count(1)
    jobs: list[tuple[LabelingJobInfo, JobLineage | None]] = []

    def split_of(images: int) -> tuple[int, int, int]:
        accepted = draw(st.integers(0, images))
        rejected = draw(st.integers(0, images - accepted))
        return accepted, rejected, images - accepted - rejected

    first_labelers = draw(
        st.lists(st.sampled_from(LABELERS), min_size=1, max_size=len(LABELERS), unique=True)
    )
    frontier = [(None, labeler, 0, draw(st.integers(1, 30))) for labeler in first_labelers]
    while frontier:
        parent, labeler, cycle, images = frontier.pop()
        job = _job(next(ids), labeler, cycle, parent, split_of(images))
        jobs.append((job, JobLineage.of(job)))
        if job.rejected_images_count and cycle < 3 and draw(st.booleans()):
            frontier.append((job.id, draw(st.sampled_from(LABELERS)), cycle + 1, job.rejected_images_count))
    return jobs


def expected_finals(jobs: list[tuple[LabelingJobInfo, JobLineage | None]]) -> tuple[int, int, int]:
    """(accepted, still rejected, not reviewed) images by construction of `job_trees`: a job's rejected images
    are still rejected unless a rework job took them (then that job decides them)."""
    reworked_parents = {lineage.parent for _, lineage in jobs if lineage is not None and lineage.parent}
    accepted = sum(job.accepted_images_count for job, _ in jobs)
    still_rejected = sum(job.rejected_images_count for job, _ in jobs if job.id not in reworked_parents)
    unreviewed = sum(
        job.images_count - job.accepted_images_count - job.rejected_images_count for job, _ in jobs
    )
    return accepted, still_rejected, unreviewed


@settings(max_examples=60, deadline=None)
@given(jobs=job_trees())
def test_final_states_add_up_to_the_selected_images(
    jobs: list[tuple[LabelingJobInfo, JobLineage | None]],
) -> None:
    report = build_report(jobs)
    first_cycle_images = sum(job.images_count for job, lineage in jobs if lineage and lineage.cycle == 0)

    assert report.totals.selected_images == first_cycle_images
    expected = expected_finals(jobs)
    assert (report.totals.accepted, report.totals.still_rejected, report.totals.unreviewed) == expected
    assert report.problems(first_cycle_images) == []
    finals = report.labelers[["accepted", "still_rejected", "unreviewed"]].to_numpy().sum()
    assert finals == first_cycle_images
    assert (report.jobs["still_rejected"] >= 0).all()
    assert report.labelers["jobs"].sum() == len(jobs) == report.totals.jobs
    assert report.totals.rework_jobs == sum(1 for _, lineage in jobs if lineage and lineage.cycle > 0)


def test_jobs_without_lineage_count_as_first_cycle_jobs() -> None:
    job = _job(7, "labeler_1", 0, None, (2, 1, 0))
    report = build_report([(job, None)])
    assert report.jobs[["cycle", "reworked", "still_rejected"]].iloc[0].tolist() == [0, 0, 1]
    assert report.problems(3) == [] and report.totals.selected_images == 3


def test_problems_are_empty_for_possible_figures_and_name_each_impossible_one() -> None:
    """Mutants of the sanity checks: each corrupted figure must be reported (the old `balanced` said yes to all)."""
    parent = _job(1, "labeler_1", 0, None, (1, 2, 0))
    child = _job(2, "labeler_1", 1, 1, (2, 0, 0))
    other = _job(3, "labeler_2", 0, None, (3, 0, 0))
    honest = build_report([(job, JobLineage.of(job)) for job in (parent, child, other)])
    assert honest.problems(6) == []

    assert honest.problems(7) == ["the report counts 6 selected images, the round selected 7"]
    wrong_count = honest.totals.model_copy(update={"accepted": 7, "unreviewed": -1})
    assert wrong_count.problems() == [
        "unreviewed is negative (-1)",
        "7 accepted images but only 6 selected",
    ]
    lost = honest.totals.model_copy(update={"still_rejected": 1})
    assert lost.problems() == ["accepted + still rejected + not reviewed = 7 ≠ 6 selected images"]

    too_many_decided = _job(4, "labeler_3", 0, None, (2, 1, 0)).model_copy(update={"images_count": 2})
    more_reworked = _job(5, "labeler_2", 1, 3, (2, 0, 0))  # job 3 rejected nothing
    orphan = _job(6, "labeler_2", 1, 99, (1, 0, 0))
    twin = _job(7, "labeler_2", 0, None, (1, 0, 0))  # a second first-cycle job for (dataset 1, labeler_2)
    corrupt = [parent, child, other, too_many_decided, more_reworked, orphan, twin]
    corrupt_report = build_report([(job, JobLineage.of(job)) for job in corrupt])
    problems = corrupt_report.problems()
    assert "- impossible figure: job 6 reworks job 99, which is not in the round" in corrupt_report.markdown()
    assert "impossible figure" not in honest.markdown()
    assert "job 4: 2 accepted + 1 rejected, 3 done of 2 images" in problems
    assert "job 3: 2 images reworked but 0 rejected" in problems
    assert "job 6 reworks job 99, which is not in the round" in problems
    assert "jobs [3, 7] are first-cycle jobs of one share (dataset 1, labeler labeler_2)" in problems


async def test_the_report_of_a_round_with_rework(
    sandbox: SandboxServer,
    api: SuperviselyClient,
    target: RoundTarget,
    people: UsersResult,
    workers: Workers,
    tmp_path: Path,
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
    assert report.problems(6) == []
    assert_round_report(sandbox, report.totals, target.round_key, target.project.id)
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


def test_the_terminal_report_shows_a_consensus_round_s_figures() -> None:
    job = _job(7, "labeler_1", 0, None, (2, 1, 0))
    figures = ConsensusFigures(
        images=3, labels=7, first_pass_labels=6, replicas=3, mean_agreement=0.875, merged=2, adjudicated=1,
        per_labeler={"labeler_1": LabelerAgreement(images=2, f1=0.9)},
    )
    console = Console(record=True, width=200)

    print_report(console, build_report([(job, None)]).with_consensus(figures), "Round r")

    text = console.export_text()
    assert "3 images, 2.33 labels per image over 3 replicas, mean agreement 0.875; 2 merged, 1 adjudicated" in text
    assert "consensus images" in text and "0.90" in text
