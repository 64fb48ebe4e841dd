"""Queue mode: one labeling queue per dataset of a round, its gate, and lineage on the queue's jobs for the report.

A round with `assignment: queue` creates, per dataset, one labeling queue named `<round key>/<dataset id>` over
the round's selected images of that dataset, with every labeler and the reviewer, and the round's classes, tags,
limits and guide. The name is the queue's identity: a re-run finds it by listing (`labeling-queues.list` on
`name`), and a creation whose reply is lost is resolved by listing again, so a dataset never gets two queues.
The queue's jobs (one per labeler, created by the server) get the round's lineage in their customData, so the
round report (`steps.report`) counts them exactly as first-cycle jobs: each image is counted in the job that
holds it last, and an image rejected and taken again leaves its old job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from labelrounds.client import AmbiguousWriteError, Filter, SuperviselyClient, SuperviselyError
from labelrounds.client.models import LabelingJobInfo, LabelingQueueInfo
from labelrounds.round_spec import RoundSpec, TargetStatus
from labelrounds.steps.errors import (
    RoundConflictError,
    RoundStalledError,
    RoundTimeoutError,
    UnresolvedWriteError,
)
from labelrounds.steps.gate import GateSnapshot, JobProgress
from labelrounds.steps.lineage import JOB_COLUMNS, JobLineage, JobOutcome, JobSettings
from labelrounds.steps.targets import RoundTarget

#: Columns of the queues frame (one row per dataset of the round).
QUEUE_COLUMNS: tuple[str, ...] = ("queue_id", "queue_name", "dataset_id", "dataset_name", "images", "outcome")
QueueListener = Callable[[list[LabelingQueueInfo]], Awaitable[None] | None]


def queue_name(round_key: str, dataset_id: int) -> str:
    """The deterministic name (and identity) of a round's queue over one dataset."""
    return f"{round_key}/{dataset_id}"


def queue_is_ready(queue: LabelingQueueInfo, target: TargetStatus) -> bool:
    """Whether every image of the queue reached the target: accepted (completed), or annotated (on review)."""
    reached = queue.accepted_count if target is TargetStatus.COMPLETED else queue.annotated_count
    return reached == queue.entities_count


async def ensure_round_queues(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    plan: pd.DataFrame,
    user_ids: dict[str, int],
) -> pd.DataFrame:
    """Make the round's queue of each planned dataset exist once; return them (`QUEUE_COLUMNS`).

    Args:
        api: the client (a team admin's or manager's token).
        target: the resolved team, project, datasets and round key.
        spec: the round (labelers, reviewer, classes, tags, limits, guide).
        plan: the validated plan (`planning.PLAN_COLUMNS`); only its datasets and images are used.
        user_ids: user id by login, for every labeler and the reviewer.

    Raises:
        RoundConflictError: a queue of that name exists with other labelers or images.
        UnresolvedWriteError: a creation's outcome is unknown and no such queue exists yet.
    """
    images = plan.groupby(["dataset_id", "dataset_name"], sort=False, observed=True)["image_id"].apply(
        lambda ids: sorted({int(image_id) for image_id in ids})
    )
    names = [queue_name(target.round_key, int(dataset_id)) for dataset_id, _ in images.index]
    existing = await _queues_by_name(api, target.team.id, names)
    labeler_ids = [user_ids[labeler.login] for labeler in spec.labelers]
    settings = JobSettings.from_spec(spec)
    rows = []
    for (dataset_id, dataset_name), image_ids in images.items():
        name = queue_name(target.round_key, int(dataset_id))
        found = existing.get(name)
        if found is not None:
            _check_same_queue(target.round_key, found, labeler_ids, len(image_ids))
            queue_id, outcome = found.id, JobOutcome.REUSED
        else:
            create = api.add_labeling_queue(
                name,
                int(dataset_id),
                labeler_ids,
                [user_ids[spec.reviewer.login]],
                classes=settings.classes,
                tags=settings.tags,
                entity_ids=image_ids,
                readme=settings.readme or None,
                description=settings.description or None,
                objects_limit=settings.objects_limit,
                tags_limit=settings.tags_limit,
            )
            queue_id, outcome = await _create_or_find(api, target.team.id, name, create)
        rows.append((queue_id, name, int(dataset_id), dataset_name, len(image_ids), outcome.value))
    return pd.DataFrame.from_records(rows, columns=list(QUEUE_COLUMNS))


async def _queues_by_name(
    api: SuperviselyClient, team_id: int, names: Sequence[str]
) -> dict[str, LabelingQueueInfo]:
    """The team's active queues with these names, by name (one `labeling-queues.list`)."""
    queues = await api.list_labeling_queues(team_id, [Filter.in_("name", list(names))])
    return {queue.name: queue for queue in queues}


async def _create_or_find(
    api: SuperviselyClient, team_id: int, name: str, create: Awaitable[int]
) -> tuple[int, JobOutcome]:
    """Create a queue; after a lost reply or a name taken meanwhile, the queue of that name found by listing."""
    try:
        return await create, JobOutcome.CREATED
    except AmbiguousWriteError:
        found = (await _queues_by_name(api, team_id, [name])).get(name)
        if found is None:
            raise UnresolvedWriteError(
                f"the outcome of creating labeling queue {name!r} is unknown and no such queue exists yet; "
                "run the round again (it reuses every queue that exists)"
            ) from None
        return found.id, JobOutcome.ADOPTED
    except SuperviselyError as error:
        existing_id = error.existing_id(name)
        if existing_id is None:
            raise
        return existing_id, JobOutcome.ADOPTED


def _check_same_queue(
    round_key: str, queue: LabelingQueueInfo, labeler_ids: Sequence[int], image_count: int
) -> None:
    """Refuse to reuse a queue whose labelers or image count differ from the round's."""
    found_labelers = sorted(person.id for person in queue.labelers or ())
    if found_labelers != sorted(labeler_ids) or queue.entities_count != image_count:
        raise RoundConflictError(
            round_key,
            [
                f"labeling queue {queue.name!r} (id {queue.id}) has labelers {found_labelers} and "
                f"{queue.entities_count} images, the round wants {sorted(labeler_ids)} and {image_count}"
            ],
        )


async def tag_queue_jobs(
    api: SuperviselyClient, target: RoundTarget, queues: pd.DataFrame, plan: pd.DataFrame
) -> pd.DataFrame:
    """Write the round's lineage into every queue job that lacks it; return the jobs (`lineage.JOB_COLUMNS`).

    The lineage is that of the first-cycle job of the same dataset and labeler (its share key from the plan),
    so validation of a re-run sees the jobs it planned. Idempotent: jobs with the lineage are left alone.
    """
    shares = {
        (int(row.dataset_id), str(row.labeler)): str(row.share_key)
        for row in plan.drop_duplicates(["dataset_id", "labeler"]).itertuples(index=False)
    }
    rows = []
    for queue in queues.itertuples(index=False):
        jobs = await api.list_queue_jobs(target.team.id, int(queue.queue_id))
        for job in sorted(jobs, key=lambda job: job.id):
            login = _labeler_login(job)
            share = shares.get((int(queue.dataset_id), login), f"{queue.queue_name}:{login}")
            lineage = JobLineage(
                round=target.round_key, dataset=int(queue.dataset_id), labeler=login, share=share, cycle=0
            )
            outcome = JobOutcome.REUSED
            if JobLineage.of(job) != lineage:
                await api.edit_job(job.id, custom_data={**job.custom_data, **lineage.custom_data()})
                outcome = JobOutcome.CREATED
            rows.append(
                (
                    job.id,
                    job.name,
                    target.round_key,
                    share,
                    0,
                    None,
                    login,
                    job.user_id,
                    int(queue.dataset_id),
                    queue.dataset_name,
                    job.images_count,
                    outcome.value,
                )
            )
    return pd.DataFrame.from_records(rows, columns=list(JOB_COLUMNS))


def _labeler_login(job: LabelingJobInfo) -> str:
    """The login of a queue job's labeler (a queue job always has one)."""
    if not job.labeler_login:
        raise UnresolvedWriteError(f"queue job {job.id} has no labeler login")
    return job.labeler_login


async def wait_until_queues_ready(
    api: SuperviselyClient,
    queue_ids: Sequence[int],
    target: TargetStatus,
    *,
    poll_interval: float,
    timeout: float,
    on_check: QueueListener | None = None,
) -> list[LabelingQueueInfo]:
    """Poll one `labeling-queues.info` per queue per check until every queue is ready; return the last infos.

    Raises:
        RoundTimeoutError: not ready after `timeout` seconds (the queues are left as they are).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        infos = list(await asyncio.gather(*(_queue_info(api, queue_id) for queue_id in queue_ids)))
        if on_check is not None:
            listened = on_check(infos)
            if listened is not None:
                await listened
        if all(queue_is_ready(info, target) for info in infos):
            return infos
        if loop.time() + poll_interval > deadline:
            waiting = {info.name: f"{info.accepted_count}/{info.entities_count} accepted" for info in infos}
            raise RoundTimeoutError(
                f"the round's queues are not {target.value} after {timeout:g} s: {waiting}"
            )
        await asyncio.sleep(poll_interval)


def queue_progress(queue: LabelingQueueInfo, target: TargetStatus) -> JobProgress:
    """A queue as one row of a gate snapshot: its counters, its pace measured from its creation.

    Its `labeler` is `queue <dataset id>` (every labeler works from it), so an estimate (`steps.eta`) gives each
    queue its own projected end; rejected images go back to the queue, so a queue counts none as rejected.
    """
    return JobProgress(
        job_id=queue.id,
        job_name=queue.name,
        labeler=f"queue {queue.dataset_id}",
        status=queue.status,
        images=queue.entities_count,
        done=queue.annotated_count,
        awaiting_review=queue.annotated_count - queue.accepted_count,
        accepted=queue.accepted_count,
        rejected=0,
        reached=queue_is_ready(queue, target),
        started_at=queue.created_at,
        submitted_at=queue.finished_at,
    )


async def check_round_queues(
    api: SuperviselyClient, queue_ids: Sequence[int], target: TargetStatus
) -> GateSnapshot:
    """Check the round's queues once (one `labeling-queues.info` per queue): one snapshot row per queue.

    A queue that no longer exists is missing and a stopped one stalled, as a job is, so the gate fails at once.
    """
    wanted = sorted({int(queue_id) for queue_id in queue_ids})
    if not wanted:
        raise ValueError("the gate needs at least one queue id")
    infos = await asyncio.gather(*(api.get_labeling_queue(queue_id) for queue_id in wanted))
    return GateSnapshot(
        target=target,
        checked_at=datetime.now(UTC),
        jobs=[queue_progress(info, target) for info in infos if info is not None],
        missing_job_ids=[queue_id for queue_id, info in zip(wanted, infos, strict=True) if info is None],
    )


async def _queue_info(api: SuperviselyClient, queue_id: int) -> LabelingQueueInfo:
    """One queue's info; a queue that vanished is an error."""
    info = await api.get_labeling_queue(queue_id)
    if info is None:
        raise RoundStalledError(f"labeling queue {queue_id} of the round no longer exists")
    return info
