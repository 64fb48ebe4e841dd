"""Rework: send the rejected images of finished jobs back, as new jobs over exactly those images.

A rework job is created with `jobs.add` (explicit `entityIds` = the parent's rejected images, lineage with parent
and cycle in `customData`) rather than `jobs.restart` + `jobs.editInfo`: with `jobs.add` the job and its identity
are written by one request, so after a lost reply a listing always tells whether the job exists. With restart,
a lost reply leaves a new job without lineage that no listing can tell apart from someone else's, so a retry could
create a duplicate. The parent job is left as it is (completed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pandas as pd

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.client.models import JobStatus, LabelingJobInfo, ReviewStatus
from labelrounds.planning import job_name, share_key
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.errors import RoundError
from labelrounds.steps.lineage import (
    JobLineage,
    PlannedJob,
    create_round_jobs,
    records_frame,
)
from labelrounds.steps.targets import RoundTarget

#: Job statuses after which a job's review decisions are final (an unknown status is not one of them).
FINISHED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.REVIEW_COMPLETED})


def rework_candidates(
    jobs: pd.DataFrame, listed: Mapping[int, LabelingJobInfo], max_cycles: int
) -> pd.DataFrame:
    """Rows of a jobs frame that get a rework job: finished, with rejected images, below the cycle limit."""
    keep = [
        (job := listed.get(int(row.job_id))) is not None
        and job.status in FINISHED_STATUSES
        and job.rejected_images_count > 0
        and int(row.cycle) < max_cycles
        for row in jobs.itertuples(index=False)
    ]
    return jobs[keep]


def planned_rework(
    parent: pd.Series, rejected_ids: list[int], spec: RoundSpec, user_ids: Mapping[str, int]
) -> PlannedJob:
    """The rework job of one parent row (JOB_COLUMNS) over its rejected images."""
    labeler = spec.rework_labeler or str(parent["labeler"])
    cycle = int(parent["cycle"]) + 1
    dataset_id = int(parent["dataset_id"])
    parent_id = int(parent["job_id"])
    return PlannedJob(
        lineage=JobLineage(
            round=str(parent["round_key"]),
            dataset=dataset_id,
            labeler=labeler,
            share=share_key(dataset_id, rejected_ids, cycle),
            cycle=cycle,
            parent=parent_id,
        ),
        name=job_name(spec.round_name, str(parent["dataset_name"]), labeler, cycle, parent_id),
        dataset_name=str(parent["dataset_name"]),
        entity_ids=sorted(rejected_ids),
        user_id=user_ids[labeler],
        reviewer_id=user_ids[spec.reviewer.login],
    )


async def create_rework_jobs(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    user_ids: Mapping[str, int],
) -> pd.DataFrame:
    """Create (or reuse) one rework job per finished job of `jobs` that has rejected images; idempotent.

    Args:
        api: the client (a manager's token).
        target: the resolved team, project and datasets.
        spec: the round's parameters (max_rework_cycles, rework_labeler, reviewer, job settings).
        jobs: the jobs of the cycle that just passed the gate (`lineage.JOB_COLUMNS`).
        user_ids: user id by login for every labeler and the reviewer.

    Returns:
        The rework jobs frame (JOB_COLUMNS); empty when nothing needs rework (the round is done).

    Raises:
        RoundConflictError: a rework job of this round exists with other content.
        UnresolvedWriteError: a creation's outcome stayed unknown; re-running is safe.
    """
    missing_users = sorted({spec.rework_labeler or login for login in jobs["labeler"]} - set(user_ids))
    if missing_users or spec.reviewer.login not in user_ids:
        raise RoundError(
            f"no user id for {', '.join(missing_users) or spec.reviewer.login}; ensure the users first"
        )
    if jobs.empty or spec.max_rework_cycles == 0:
        return records_frame([])
    listed = await api.list_jobs(
        target.team.id, [Filter.in_("id", [int(i) for i in jobs["job_id"]])], show_disabled=True
    )
    candidates = rework_candidates(jobs, {job.id: job for job in listed}, spec.max_rework_cycles)
    if candidates.empty:
        return records_frame([])
    detailed = await asyncio.gather(*(api.get_job(int(job_id)) for job_id in candidates["job_id"]))
    planned = []
    for (_, parent), job in zip(candidates.iterrows(), detailed, strict=True):
        if job is None:
            raise RoundError(f"job {parent['job_id']} disappeared before its rework could be planned")
        # Only images the reviewer rejected go back: accepted ones, those awaiting a quality check
        # (`quality_check_accepted`) and any review status this version does not know stay where they are.
        rejected = job.entity_ids(ReviewStatus.REJECTED)
        if rejected:
            planned.append(planned_rework(parent, rejected, spec, user_ids))
    return await create_round_jobs(api, target, spec, planned)
