"""What a round would do, without writing: validation, then the people, meta changes and jobs it would create or reuse."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from labelrounds.client import SuperviselyClient
from labelrounds.planning import summarize_plan
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.jobs import share_lineage
from labelrounds.steps.lineage import list_round_jobs
from labelrounds.steps.meta import merge_meta
from labelrounds.steps.users import PasswordSource
from labelrounds.steps.validate import ValidatedRound, validate_round

#: Columns of `RoundPreview.jobs` (one row per first-cycle job).
PREVIEW_JOB_COLUMNS: tuple[str, ...] = ("labeler", "dataset_name", "images", "job_name", "reused_job_id")


@dataclass(frozen=True)
class RoundPreview:
    """The round's plan as the command line shows it before anything is written."""

    validated: ValidatedRound
    classes_to_add: list[str]
    tags_to_add: list[str]
    jobs: pd.DataFrame

    @property
    def people_to_create(self) -> list[str]:
        """Accounts the round would create."""
        return self.validated.users_to_create

    @property
    def warnings(self) -> list[str]:
        """What deserves a look but does not stop the round (e.g. a labeler without images)."""
        return self.validated.warnings

    @property
    def reused_jobs(self) -> int:
        """First-cycle jobs an earlier run of the same round already created (a re-run reuses them)."""
        return int(self.jobs["reused_job_id"].notna().sum())


async def preview_round(api: SuperviselyClient, spec: RoundSpec, passwords: PasswordSource = None) -> RoundPreview:
    """Validate the round (every check of `validate_round`) and describe what running it would do; writes nothing.

    Args:
        api: the client (the token that would run the round).
        spec: the round's parameters.
        passwords: password(s) for new accounts; only their presence is checked.

    Raises:
        RoundValidationError: the round cannot start (every problem listed).
    """
    validated = await validate_round(api, spec, passwords)
    merged = merge_meta(validated.meta, spec.classes, spec.tags)
    target = validated.target
    earlier = await list_round_jobs(api, target.team.id, target.project.id, target.round_key)
    existing = {lineage.identity: job.id for job, lineage in earlier}
    rows = [
        (
            str(share.labeler),
            str(share.dataset_name),
            int(share.images),
            str(share.job_name),
            existing.get(share_lineage(share).identity),
        )
        for share in summarize_plan(validated.plan).itertuples(index=False)
    ]
    jobs = pd.DataFrame.from_records(rows, columns=list(PREVIEW_JOB_COLUMNS)).astype({"reused_job_id": "Int64"})
    return RoundPreview(
        validated=validated, classes_to_add=merged.added_classes, tags_to_add=merged.added_tags, jobs=jobs
    )
