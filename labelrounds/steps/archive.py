"""End of a round: archive, stop or keep its finished jobs; idempotent."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.client.models import JobStatus, LabelingJobInfo
from labelrounds.round_spec import EndAction, TargetStatus
from labelrounds.steps.concurrency import run_all
from labelrounds.steps.gate import REACHED_STATUSES

#: Statuses a stop would not change anything about: the job is over already.
_OVER = frozenset({JobStatus.COMPLETED, JobStatus.REVIEW_COMPLETED, JobStatus.STOPPED})


class EndResult(BaseModel):
    """What `finish_jobs` did to each job."""

    model_config = ConfigDict(frozen=True)

    action: EndAction
    changed: list[int]
    already_done: list[int]
    not_finished: list[int]

    def summary(self) -> str:
        """One line for logs."""
        if self.action is EndAction.KEEP:
            text = f"kept {_jobs(len(self.already_done))} unchanged"
        else:
            verb = "archived" if self.action is EndAction.ARCHIVE else "stopped"
            text = f"{verb} {_jobs(len(self.changed))}, {len(self.already_done)} needed nothing"
        if self.not_finished:
            text += f"; left {_jobs(len(self.not_finished))} unfinished: {self.not_finished}"
        return text


def _jobs(count: int) -> str:
    """`1 job`, `2 jobs`."""
    return f"{count} job{'' if count == 1 else 's'}"


def _needs_action(job: LabelingJobInfo, action: EndAction) -> bool:
    """Whether applying `action` to a finished job would change it."""
    if action is EndAction.ARCHIVE:
        return not job.disabled
    if action is EndAction.STOP:
        return job.status not in _OVER
    return False


async def finish_jobs(
    api: SuperviselyClient, team_id: int, job_ids: Iterable[int], action: EndAction, target: TargetStatus
) -> EndResult:
    """Archive or stop (or keep) the jobs that reached `target`; unfinished jobs are never touched.

    Archiving skips archived jobs; stopping skips jobs that are over (completed or stopped), so a completed job
    keeps its status. One `jobs.list` call, then one call per job that changes (sent concurrently).
    """
    wanted = sorted({int(job_id) for job_id in job_ids})
    jobs = await api.list_jobs(team_id, [Filter.in_("id", wanted)], show_disabled=True) if wanted else []
    finished = [job for job in jobs if job.status in REACHED_STATUSES[target]]
    not_finished = sorted(job.id for job in jobs if job.status not in REACHED_STATUSES[target])
    to_change = [job for job in finished if _needs_action(job, action)]
    change = api.archive_job if action is EndAction.ARCHIVE else api.stop_job
    await run_all(change(job.id) for job in to_change)
    changed = {job.id for job in to_change}
    return EndResult(
        action=action,
        changed=sorted(changed),
        already_done=sorted(job.id for job in finished if job.id not in changed),
        not_finished=not_finished,
    )
