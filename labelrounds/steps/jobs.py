"""Create the round's jobs: one per planned share, never a duplicate (see `steps.lineage`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from labelrounds.client import SuperviselyClient
from labelrounds.planning import summarize_plan
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.errors import RoundError
from labelrounds.steps.lineage import (
    JobLineage,
    PlannedJob,
    create_round_jobs,
)
from labelrounds.steps.targets import RoundTarget


def share_lineage(share: Any) -> JobLineage:
    """The lineage of one row of `planning.summarize_plan`."""
    return JobLineage(
        round=str(share.round_key),
        dataset=int(share.dataset_id),
        labeler=str(share.labeler),
        share=str(share.share_key),
        cycle=int(share.cycle),
    )


def plan_lineages(plan: pd.DataFrame) -> list[JobLineage]:
    """The lineage of each share of a plan, in plan order."""
    return [share_lineage(share) for share in summarize_plan(plan).itertuples(index=False)]


def planned_jobs(
    plan: pd.DataFrame,
    user_ids: Mapping[str, int],
    reviewer_id: int,
    hidden: Mapping[tuple[int, str], list[int]] | None = None,
) -> list[PlannedJob]:
    """One first-cycle job per share of a plan (`planning.PLAN_COLUMNS`), in plan order.

    `hidden` adds images (gold copies) to the job of each (dataset id, labeler) without making them planned
    images: the share key and the job's `images` count stay those of the plan.

    Raises:
        RoundError: a labeler of the plan has no user id (run the users step first).
    """
    summary = summarize_plan(plan)
    unknown = sorted(set(summary["labeler"]) - set(user_ids))
    if unknown:
        raise RoundError(f"no user id for labelers {', '.join(unknown)}; ensure the users first")
    return [
        PlannedJob(
            lineage=share_lineage(share),
            name=str(share.job_name),
            dataset_name=str(share.dataset_name),
            entity_ids=share.image_ids.tolist(),
            user_id=user_ids[str(share.labeler)],
            reviewer_id=reviewer_id,
            hidden_ids=(hidden or {}).get((int(share.dataset_id), str(share.labeler)), []),
        )
        for share in summary.itertuples(index=False)
    ]


def is_first_cycle(lineage: JobLineage) -> bool:
    """Whether a job is a planned first-cycle job: those must all be in the plan of a re-run (a job that took over
    another's images in an adaptive round is not planned)."""
    return lineage.cycle == 0 and lineage.moved_from is None


async def create_jobs(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    plan: pd.DataFrame,
    user_ids: Mapping[str, int],
    hidden: Mapping[tuple[int, str], list[int]] | None = None,
) -> pd.DataFrame:
    """Make one job exist per planned share; return the jobs frame (`lineage.JOB_COLUMNS`).

    Existing jobs of the round are reused (one `jobs.list` first); a lost `jobs.add` reply is reconciled by
    listing again. Re-running with the same inputs creates nothing.

    Args:
        api: the client (a manager's token).
        target: the resolved team, project and datasets.
        spec: the round's parameters (classes, tags, readme, limits, reviewer).
        plan: the split plan (`planning.PLAN_COLUMNS`).
        user_ids: user id by login, for every labeler and the reviewer (from `steps.users`).
        hidden: gold copy ids to add to the job of each (dataset id, labeler) (`steps.gold.hidden_entities`).

    Raises:
        RoundConflictError: jobs of this round exist with other content; nothing was created.
        UnresolvedWriteError: a creation's outcome stayed unknown; re-running is safe.
    """
    if spec.reviewer.login not in user_ids:
        raise RoundError(f"no user id for the reviewer {spec.reviewer.login!r}; ensure the users first")
    planned = planned_jobs(plan, user_ids, user_ids[spec.reviewer.login], hidden)
    return await create_round_jobs(api, target, spec, planned, must_be_planned=is_first_cycle)
