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
from labelrounds.steps.tables import frame_markdown
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

    def jobs_with_state(self) -> pd.DataFrame:
        """The jobs with a `job` column: "new", or "reuses job N" for one an earlier run created."""
        return self.jobs.assign(
            job=["new" if pd.isna(job_id) else f"reuses job {int(job_id)}" for job_id in self.jobs["reused_job_id"]]
        )

    def markdown(self) -> str:
        """The plan as markdown (e.g. a Prefect artifact): a summary, what will be created, the jobs, the warnings."""
        target = self.validated.target
        datasets = ", ".join(f"`{dataset.name}`" for dataset in target.datasets)
        changes = [f"- create the account `{login}` (and add it to the team)" for login in self.people_to_create]
        changes += [f"- add the class `{name}` to the project meta" for name in self.classes_to_add]
        changes += [f"- add the tag `{name}` to the project meta" for name in self.tags_to_add]
        per_labeler = self.jobs.groupby("labeler", sort=True)["images"].agg(["count", "sum"]).reset_index()
        per_labeler.columns = ["labeler", "jobs", "images"]
        jobs = self.jobs_with_state().loc[:, ["labeler", "dataset_name", "images", "job_name", "job"]]
        warnings = [f"- warning: {warning}" for warning in self.warnings]
        return "\n\n".join(
            [
                f"**Round {target.round_key}** in team `{target.team.name}`, project `{target.project.name}` "
                f"(datasets {datasets}): {int(self.jobs['images'].sum())} images in {len(self.jobs)} jobs, "
                f"{self.reused_jobs} of them already created by an earlier run.",
                "**Before the jobs**\n\n" + ("\n".join(changes) or "- nothing: every account, class and tag exists"),
                "**Images per labeler**\n\n" + frame_markdown(per_labeler),
                "**Jobs of the first cycle** (per labeler and dataset)\n\n" + frame_markdown(jobs),
                *(["\n".join(warnings)] if warnings else []),
            ]
        )


async def preview_round(api: SuperviselyClient, spec: RoundSpec, passwords: PasswordSource = None) -> RoundPreview:
    """Validate the round (every check of `validate_round`) and describe what running it would do; writes nothing.

    Args:
        api: the client (the token that would run the round).
        spec: the round's parameters.
        passwords: password(s) for new accounts; only their presence is checked.

    Raises:
        RoundValidationError: the round cannot start (every problem listed).
    """
    return await describe_plan(api, spec, await validate_round(api, spec, passwords))


async def describe_plan(api: SuperviselyClient, spec: RoundSpec, validated: ValidatedRound) -> RoundPreview:
    """What running an already validated round would do (one `jobs.list` for the jobs it would reuse); writes nothing.

    Args:
        api: the client (the token that would run the round).
        spec: the round's parameters.
        validated: `validate_round`'s result for `spec`.
    """
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
