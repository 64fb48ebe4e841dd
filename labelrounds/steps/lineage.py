"""Job identity: the lineage a round writes into each job's customData, and creating jobs without duplicates.

Every job a round creates carries `customData.labelrounds = {round, dataset, labeler, share, cycle, parent}`
(see docs/ARCHITECTURE.md). A planned job is *the same job* as an existing one when their identities match:
first-cycle jobs by (round, cycle, dataset, labeler), rework jobs by (round, cycle, parent), and a job that took
over another's untouched images in an adaptive round (`moved_from`, `steps.rebalance`; the key is left out
otherwise) by (round, cycle, that job, labeler, share). `create_or_adopt`
lists the project's jobs once, reuses the matching ones, creates the rest with `jobs.add` (explicit `entityIds`,
lineage in `customData` in the same request, so a job never exists without its identity), and when a creation's
outcome is unknown (`AmbiguousWriteError`) lists again and adopts what it finds. A planned job whose identity
matches a job with other content (share key or labeler) is a conflict and nothing is created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from enum import StrEnum
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labelrounds.client import AmbiguousWriteError, Filter, SuperviselyClient
from labelrounds.client.models import LabelingJobInfo
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.errors import RoundConflictError, UnresolvedWriteError
from labelrounds.steps.targets import RoundTarget

LINEAGE_KEY = "labelrounds"

#: Columns of the jobs frame returned by `steps.jobs` and `steps.rework` (one row per job).
JOB_COLUMNS: tuple[str, ...] = (
    "job_id",
    "job_name",
    "round_key",
    "share_key",
    "cycle",
    "parent_job_id",
    "labeler",
    "user_id",
    "dataset_id",
    "dataset_name",
    "images",
    "outcome",
)


class JobOutcome(StrEnum):
    """How a planned job came to exist in this run."""

    CREATED = "created"
    REUSED = "reused"  # found by the first listing: an earlier run (or attempt) created it
    ADOPTED = "adopted"  # a creation's reply was lost; found by listing again


class JobLineage(BaseModel):
    """What `customData.labelrounds` holds: which round, share and cycle a job belongs to, and its parent."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    round: str = Field(min_length=1)
    dataset: int
    labeler: str = Field(min_length=1)
    share: str = Field(min_length=1)
    cycle: int = Field(ge=0)
    parent: int | None = None
    #: The job whose untouched images this job took over in the same cycle (adaptive rounds, `steps.rebalance`).
    moved_from: int | None = None

    @property
    def identity(self) -> tuple[Hashable, ...]:
        """What makes two jobs the same job of a round (see the module docstring)."""
        if self.moved_from is not None:  # one job per move: the same parent may give images to many, many times
            return (self.round, self.cycle, "moved-from", self.moved_from, self.labeler, self.share)
        if self.parent is not None:
            return (self.round, self.cycle, "parent", self.parent)
        return (self.round, self.cycle, "share-of", self.dataset, self.labeler)

    def custom_data(self) -> dict[str, Any]:
        """The job's customData: the lineage under its key."""
        return {LINEAGE_KEY: self.model_dump(mode="json", exclude={"moved_from"} if self.moved_from is None else None)}

    @classmethod
    def of(cls, job: LabelingJobInfo) -> JobLineage | None:
        """The lineage stored in a job's customData, or None when it has none (or a malformed one)."""
        raw = job.custom_data.get(LINEAGE_KEY)
        if not isinstance(raw, dict):
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError:
            return None


class JobSettings(BaseModel):
    """What every job of a round labels and shows, taken from the round's parameters."""

    model_config = ConfigDict(frozen=True)

    classes: list[str]
    tags: list[str]
    readme: str
    description: str
    objects_limit: int | None
    tags_limit: int | None

    @classmethod
    def from_spec(cls, spec: RoundSpec) -> JobSettings:
        """The job settings of a round.

        The include/exclude tag filters are not repeated here: the split step applies them when it selects the
        images, so each job lists exactly its planned images.
        """
        return cls(
            classes=[obj_class.name for obj_class in spec.classes],
            tags=[tag.name for tag in spec.tags],
            readme=spec.readme,
            description=spec.description,
            objects_limit=spec.objects_limit_per_image,
            tags_limit=spec.tags_limit_per_image,
        )


class PlannedJob(BaseModel):
    """One job a step wants to exist."""

    model_config = ConfigDict(frozen=True)

    lineage: JobLineage
    name: str
    dataset_name: str
    entity_ids: list[int] = Field(min_length=1)
    user_id: int
    reviewer_id: int
    hidden_ids: list[int] = Field(default_factory=list)  # gold copies: in the job, never in its planned images


class JobRecord(BaseModel):
    """A planned job as it exists on the server after `create_or_adopt`."""

    model_config = ConfigDict(frozen=True)

    job_id: int
    planned: PlannedJob
    outcome: JobOutcome


async def list_round_jobs(
    api: SuperviselyClient, team_id: int, project_id: int, round_key: str
) -> list[tuple[LabelingJobInfo, JobLineage]]:
    """Every job of the project (archived ones included) that belongs to the round, by id; one listing."""
    jobs = await api.list_jobs(team_id, [Filter.eq("projectId", project_id)], show_disabled=True)
    found = []
    for job in jobs:
        lineage = JobLineage.of(job)
        if lineage is not None and lineage.round == round_key:
            found.append((job, lineage))
    return found


async def create_or_adopt(
    api: SuperviselyClient,
    *,
    team_id: int,
    project_id: int,
    round_key: str,
    planned: Sequence[PlannedJob],
    settings: JobSettings,
    must_be_planned: Callable[[JobLineage], bool] | None = None,
) -> list[JobRecord]:
    """Make every planned job exist exactly once; return them in the planned order.

    Args:
        api: the client (a manager's token).
        team_id: the round's team.
        project_id: the round's project.
        round_key: the round's key; only jobs carrying it are considered.
        planned: the jobs that should exist.
        settings: classes, tags, readme, description and limits of new jobs.
        must_be_planned: existing round jobs for which this returns True but that match no planned job are
            conflicts (e.g. a first-cycle job for a labeler the plan no longer has).

    Raises:
        RoundConflictError: an existing job has a planned identity but other content; nothing was created.
        UnresolvedWriteError: a creation's outcome stayed unknown and no job was found; re-running is safe.
    """
    round_jobs = await list_round_jobs(api, team_id, project_id, round_key)
    conflicts = lineage_conflicts(round_jobs, [job.lineage for job in planned], must_be_planned)
    if conflicts:
        raise RoundConflictError(round_key, conflicts)
    existing = {lineage.identity: job for job, lineage in round_jobs}
    records: dict[int, JobRecord] = {}
    missing: list[tuple[int, PlannedJob]] = []
    for position, job in enumerate(planned):
        match = existing.get(job.lineage.identity)
        if match is None:
            missing.append((position, job))
        else:
            records[position] = JobRecord(job_id=match.id, planned=job, outcome=JobOutcome.REUSED)
    results = await asyncio.gather(
        *(_create(api, job, settings) for _, job in missing), return_exceptions=True
    )
    ambiguous: list[tuple[int, PlannedJob]] = []
    failures: list[BaseException] = []
    for (position, job), result in zip(missing, results, strict=True):
        if isinstance(result, AmbiguousWriteError):
            ambiguous.append((position, job))
        elif isinstance(result, BaseException):
            failures.append(result)
        else:
            records[position] = JobRecord(job_id=result, planned=job, outcome=JobOutcome.CREATED)
    if ambiguous:
        records.update(await _adopt(api, team_id, project_id, round_key, ambiguous))
    if failures:
        raise failures[0]
    return [records[position] for position in range(len(planned))]


async def create_round_jobs(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    planned: Sequence[PlannedJob],
    must_be_planned: Callable[[JobLineage], bool] | None = None,
) -> pd.DataFrame:
    """`create_or_adopt` the planned jobs of `target`'s round with the spec's job settings; the jobs frame."""
    records = await create_or_adopt(
        api,
        team_id=target.team.id,
        project_id=target.project.id,
        round_key=target.round_key,
        planned=planned,
        settings=JobSettings.from_spec(spec),
        must_be_planned=must_be_planned,
    )
    return records_frame(records)


def records_frame(records: Sequence[JobRecord]) -> pd.DataFrame:
    """The jobs frame (JOB_COLUMNS, one row per job) of `create_or_adopt`'s records."""
    rows = [
        (
            record.job_id,
            record.planned.name,
            record.planned.lineage.round,
            record.planned.lineage.share,
            record.planned.lineage.cycle,
            record.planned.lineage.parent,
            record.planned.lineage.labeler,
            record.planned.user_id,
            record.planned.lineage.dataset,
            record.planned.dataset_name,
            len(record.planned.entity_ids),
            record.outcome.value,
        )
        for record in records
    ]
    return jobs_frame(rows)


def jobs_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """The jobs frame (JOB_COLUMNS, typed) of rows holding JOB_COLUMNS' values in order."""
    frame = pd.DataFrame.from_records(rows, columns=list(JOB_COLUMNS))
    return frame.astype(
        {
            "job_id": "int64",
            "cycle": "int64",
            "parent_job_id": "Int64",
            "user_id": "int64",
            "dataset_id": "int64",
            "images": "int64",
        }
    )


def lineage_conflicts(
    existing: Sequence[tuple[LabelingJobInfo, JobLineage]],
    planned: Sequence[JobLineage],
    must_be_planned: Callable[[JobLineage], bool] | None = None,
) -> list[str]:
    """Why existing round jobs disagree with planned lineages (empty when they agree); pure.

    Conflicts: two existing jobs with one identity; an existing job with a planned identity but another share or
    labeler; an existing job for which `must_be_planned` is True that matches no planned identity.
    """
    conflicts: list[str] = []
    index: dict[Hashable, tuple[LabelingJobInfo, JobLineage]] = {}
    for job, lineage in existing:
        if lineage.identity in index:
            conflicts.append(f"jobs {index[lineage.identity][0].id} and {job.id} have the same identity")
        index[lineage.identity] = (job, lineage)
    for wanted in planned:
        match = index.get(wanted.identity)
        if match is not None and (match[1].share != wanted.share or match[1].labeler != wanted.labeler):
            found, lineage = match
            conflicts.append(
                f"job {found.id} ({found.name!r}) holds share {lineage.share} for {lineage.labeler}, "
                f"the plan wants share {wanted.share} for {wanted.labeler}"
            )
    if must_be_planned is not None:
        planned_identities = {wanted.identity for wanted in planned}
        conflicts += [
            f"job {found.id} ({found.name!r}) is not in the plan"
            for identity, (found, lineage) in index.items()
            if must_be_planned(lineage) and identity not in planned_identities
        ]
    return conflicts


async def _create(api: SuperviselyClient, job: PlannedJob, settings: JobSettings) -> int:
    """Create one planned job with one `jobs.add` and return its id."""
    job_ids = await api.add_jobs(
        job.name,
        job.lineage.dataset,
        [job.user_id],
        classes=settings.classes,
        tags=settings.tags,
        entity_ids=[*job.entity_ids, *job.hidden_ids],
        reviewer_id=job.reviewer_id,
        readme=settings.readme or None,
        description=settings.description or None,
        objects_limit=settings.objects_limit,
        tags_limit=settings.tags_limit,
        custom_data=job.lineage.custom_data(),
    )
    if len(job_ids) != 1:
        raise UnresolvedWriteError(f"jobs.add for {job.name!r} returned {len(job_ids)} jobs instead of one")
    return job_ids[0]


async def _adopt(
    api: SuperviselyClient,
    team_id: int,
    project_id: int,
    round_key: str,
    ambiguous: list[tuple[int, PlannedJob]],
) -> dict[int, JobRecord]:
    """After lost replies: list the round's jobs again and adopt each planned job found; raise if one is not."""
    found = {
        lineage.identity: job for job, lineage in await list_round_jobs(api, team_id, project_id, round_key)
    }
    adopted: dict[int, JobRecord] = {}
    lost: list[str] = []
    for position, job in ambiguous:
        match = found.get(job.lineage.identity)
        if match is None:
            lost.append(job.name)
        else:
            adopted[position] = JobRecord(job_id=match.id, planned=job, outcome=JobOutcome.ADOPTED)
    if lost:
        raise UnresolvedWriteError(
            f"the outcome of creating {', '.join(repr(name) for name in lost)} is unknown and no such job exists "
            "yet; run the step again (it reuses every job that exists)"
        )
    return adopted
