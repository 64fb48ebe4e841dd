"""Adaptive rounds: at gate checks, move the images a labeler behind has not started to the labelers ahead.

**Decision** (`plan_moves`, pure, from one gate snapshot). A labeler's pace is images done / time they had a job
open (the union over their jobs of first start → submission, or → now while labeling), so time spent waiting for
a new job does not make them look slower. With L images left over everyone and P their summed pace, all would
finish together after T = L / P, labeler i then having pace_i · T images left. A labeler whose own end
(left_i / pace_i) is later than T by more than `slack` gives the excess (left_i − round(pace_i · T)) to those with
room (pace_j · T − left_j > 0), apportioned by room. Nothing moves until every labeler with images left has done
`min_done` (no pace to judge by), a move under `min_move` images is not worth a job, and a labeler who gave images
gives again only after `min_done` more done (their pace since is what tells whether they are still behind).

**Move** (`Rebalancer`, I/O). For each planned move the donor job is read (`jobs.info`); the images to move are
taken among those still untouched (review status `none`) from the *end* of the job (labelers work from the
start), never its first `keep_head` untouched images, and the server moves them atomically (`jobs.split`, a
sandbox method: Supervisely 6.74.51 has no call that takes images out of a job; on a server without it the round
is refused at validation, `split_capability_problems`). The server checks each image
again and leaves any image the labeler began, and once it commits the donor's labeler can no longer mark or
annotate the moved images, so no image is labeled in two jobs. The new job carries the round's lineage with
`moved_from` = the donor (and the donor's cycle), so the report counts it as first-pass work of its labeler,
rework treats it as any job of the cycle, and a re-run does not take it for a planned share.

A lost `jobs.split` reply is not retried: after any move attempt the round's jobs are listed once and every job
that took over images of a job of the cycle is added, whether its reply arrived or not. A refused move (the
images were all started meanwhile, the donor was submitted) is skipped; the next check decides again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict

from labelrounds.client import AmbiguousWriteError, InvalidRequestError, SuperviselyClient
from labelrounds.client.models import ReviewStatus
from labelrounds.planning import JOB_NAME_SEPARATOR, apportion, job_name, share_key
from labelrounds.round_spec import Assignment, RoundSpec
from labelrounds.steps.gate import GateSnapshot, JobProgress
from labelrounds.steps.lineage import JOB_COLUMNS, JobLineage, JobOutcome, jobs_frame, list_round_jobs

#: A labeler whose projected end is later than the common finish by more than this share of it is behind.
SLACK = 0.2
#: Images a labeler must have done before their pace counts (and before anyone is judged).
MIN_DONE = 3
#: Fewer images than this are not worth a new job.
MIN_MOVE = 2
#: Untouched images at the head of a donor job that never move (the one its labeler is on now).
KEEP_HEAD = 1


class LabelerLoad(BaseModel):
    """One labeler at a check: images left, pace, and when they would end at that pace."""

    model_config = ConfigDict(frozen=True)

    labeler: str
    left: int
    done: int
    images_per_second: float | None

    @property
    def end_seconds(self) -> float | None:
        """Seconds from the check until their images are done at their pace (None without a pace)."""
        if self.images_per_second is None:
            return None
        return self.left / self.images_per_second


class Move(BaseModel):
    """Images to take from one job of a labeler behind and give to a labeler ahead."""

    model_config = ConfigDict(frozen=True)

    donor_job_id: int
    donor: str
    receiver: str
    images: int


class RebalancePlan(BaseModel):
    """What one check decided: each labeler's load, the common finish and the moves (empty: nothing to do)."""

    model_config = ConfigDict(frozen=True)

    loads: list[LabelerLoad]
    horizon_seconds: float | None
    moves: list[Move]


def labeler_loads(snapshot: GateSnapshot, min_done: int = MIN_DONE) -> list[LabelerLoad]:
    """Each labeler's images left and pace at the check (pace None under `min_done` images done); pure."""
    grouped: dict[str, list[JobProgress]] = {}
    for job in snapshot.jobs:
        grouped.setdefault(job.labeler or "?", []).append(job)
    loads = []
    for login, jobs in grouped.items():
        done = sum(min(job.done, job.images) for job in jobs)
        left = sum(job.images for job in jobs) - done
        busy = _busy_seconds(jobs, snapshot.checked_at)
        pace = done / busy if done >= min_done and busy > 0 else None
        loads.append(LabelerLoad(labeler=login, left=left, done=done, images_per_second=pace))
    return loads


def plan_moves(
    snapshot: GateSnapshot,
    *,
    slack: float = SLACK,
    min_done: int = MIN_DONE,
    min_move: int = MIN_MOVE,
    resting: Collection[str] = (),
) -> RebalancePlan:
    """Decide which labelers give how many images to whom (see the module docstring); pure.

    Args:
        snapshot: one gate check of the cycle's jobs.
        slack: a labeler is behind when their end is later than the common finish by more than this share of it.
        min_done: images done before a labeler's pace counts; nothing moves while someone with work left has none.
        min_move: the smallest move worth a new job.
        resting: labelers who may not give images at this check (they gave recently); they still count.
    """
    loads = labeler_loads(snapshot, min_done)
    working = [load for load in loads if load.left > 0]
    paced = [load for load in loads if load.images_per_second is not None]
    if not working or any(load.images_per_second is None for load in working):
        return RebalancePlan(loads=loads, horizon_seconds=None, moves=[])
    horizon = sum(load.left for load in paced) / sum(load.images_per_second or 0.0 for load in paced)
    excess: dict[str, int] = {}
    room: dict[str, float] = {}
    for load in paced:
        pace = load.images_per_second or 0.0
        fair = pace * horizon
        behind = (load.end_seconds or 0.0) > horizon * (1 + slack)
        if behind and load.labeler not in resting and load.left - round(fair) >= min_move:
            excess[load.labeler] = load.left - round(fair)
        elif fair - load.left > 0:
            room[load.labeler] = fair - load.left
    if not excess or not room:
        return RebalancePlan(loads=loads, horizon_seconds=horizon, moves=[])
    quotas = dict(zip(room, apportion(sum(excess.values()), list(room.values())), strict=True))
    moves = _match(snapshot.jobs, excess, quotas, min_move)
    return RebalancePlan(loads=loads, horizon_seconds=horizon, moves=moves)


def images_to_move(untouched: Sequence[int], count: int, keep_head: int = KEEP_HEAD) -> list[int]:
    """The last `count` untouched images of a job in its order, never its first `keep_head`; pure."""
    movable = list(untouched)[keep_head:]
    return sorted(movable[max(len(movable) - count, 0) :]) if count > 0 else []


async def split_capability_problems(api: SuperviselyClient, spec: RoundSpec) -> list[str]:
    """Why an adaptive round cannot run on this server (it has no `jobs.split`); empty otherwise. Writes nothing.

    Probes the server once, and only for `assignment: adaptive`, so validation refuses the round before writing
    rather than at its first move, mid-round.
    """
    if spec.assignment is not Assignment.ADAPTIVE or await api.can_split_jobs():
        return []
    return [
        "assignment 'adaptive' needs the server method jobs.split (the labelrounds sandbox has it; Supervisely "
        "has no call that takes images out of a job) and this server does not have it: use assignment 'queue' "
        "(images go to whoever labels first) or 'static'"
    ]


def moved_job_name(round_name: str, dataset_name: str, receiver: str, donor_job_id: int) -> str:
    """The name of a job that took over images of `donor_job_id`: `round / dataset / receiver / from #donor`."""
    return job_name(round_name, dataset_name, f"{receiver}{JOB_NAME_SEPARATOR}from #{donor_job_id}")


@dataclass
class Rebalancer:
    """The gate hook of an adaptive round: at each check, plan and make the moves; keep the jobs they created.

    Call it with each gate snapshot that is not ready; it returns the ids of the jobs that joined the cycle (for
    the gate to wait on them too). `jobs` is the cycle's jobs frame (`lineage.JOB_COLUMNS`), moved-to jobs added.

    Attributes:
        api: the client (a job manager's token).
        team_id: the round's team.
        project_id: the round's project.
        round_name: the round's name (for job names).
        user_ids: user id by login of every labeler.
        jobs: the cycle's jobs frame; grows as jobs take over images.
        slack, min_done, min_move, keep_head: the decision's settings (module constants by default).
    """

    api: SuperviselyClient
    team_id: int
    project_id: int
    round_name: str
    user_ids: Mapping[str, int]
    jobs: pd.DataFrame
    slack: float = SLACK
    min_done: int = MIN_DONE
    min_move: int = MIN_MOVE
    keep_head: int = KEEP_HEAD
    plans: list[RebalancePlan] = field(default_factory=list)
    skipped_moves: list[str] = field(default_factory=list)
    #: Done count of each labeler when they last gave images (a labeler gives again after `min_done` more).
    done_when_gave: dict[str, int] = field(default_factory=dict)

    async def __call__(self, snapshot: GateSnapshot) -> list[int]:
        """Plan from the snapshot, make the moves, and return the ids of the jobs that joined the cycle."""
        done = {load.labeler: load.done for load in labeler_loads(snapshot, self.min_done)}
        resting = [
            login for login, then in self.done_when_gave.items() if done.get(login, 0) < then + self.min_done
        ]
        plan = plan_moves(
            snapshot, slack=self.slack, min_done=self.min_done, min_move=self.min_move, resting=resting
        )
        moves = [move for move in plan.moves if move.receiver in self.user_ids]
        if not moves:
            return []
        self.plans.append(plan)
        self.done_when_gave.update({move.donor: done[move.donor] for move in moves})
        for move in moves:
            await self._move(move)
        return await self.adopt_moved_jobs()

    async def _move(self, move: Move) -> None:
        """Make one move with one `jobs.info` and one `jobs.split`; a refused or lost one is left to the listing."""
        donor = self.jobs.loc[self.jobs["job_id"] == move.donor_job_id].iloc[0]
        info = await self.api.get_job(move.donor_job_id)
        if info is None:
            self.skipped_moves.append(f"job {move.donor_job_id} is gone")
            return
        chosen = images_to_move(info.entity_ids(ReviewStatus.NONE), move.images, self.keep_head)
        if len(chosen) < self.min_move:
            self.skipped_moves.append(f"job {move.donor_job_id} has {len(chosen)} movable images")
            return
        dataset_id, cycle = int(donor["dataset_id"]), int(donor["cycle"])
        lineage = JobLineage(
            round=str(donor["round_key"]),
            dataset=dataset_id,
            labeler=move.receiver,
            share=share_key(dataset_id, chosen, cycle),
            cycle=cycle,
            moved_from=move.donor_job_id,
        )
        try:
            await self.api.split_job(
                move.donor_job_id,
                chosen,
                user_id=self.user_ids[move.receiver],
                name=moved_job_name(
                    self.round_name, str(donor["dataset_name"]), move.receiver, move.donor_job_id
                ),
                custom_data=lineage.custom_data(),
            )
        except AmbiguousWriteError:
            pass  # the listing after the moves finds the new job if the server made it
        except InvalidRequestError as refused:  # every image started meanwhile, or the job was submitted
            self.skipped_moves.append(f"job {move.donor_job_id}: {refused}")

    async def adopt_moved_jobs(self) -> list[int]:
        """List the round's jobs once; add every job that took over images of a job of the cycle; their ids.

        Called after each check that moved images, and once before a gate starts waiting, so a re-run (or a
        resumed round) waits for, finishes and reports the jobs an earlier run moved images into.
        """
        round_key = str(self.jobs["round_key"].iloc[0])
        known = {int(job_id) for job_id in self.jobs["job_id"]}
        created = set(known)
        listed = await list_round_jobs(self.api, self.team_id, self.project_id, round_key)
        rows = []
        grew = True
        while grew:  # a moved-to job can itself have given images away since
            grew = False
            for job, lineage in listed:
                if lineage.moved_from in known and job.id not in known:
                    known.add(job.id)
                    grew = True
                    rows.append(
                        _moved_row(
                            job.id, job.name, lineage, job.user_id, job.dataset_title, job.images_count
                        )
                    )
        if not rows:
            return []
        self.jobs = pd.concat([self.jobs, jobs_frame(rows)], ignore_index=True)
        return sorted(known - created)


def _moved_row(
    job_id: int, name: str, lineage: JobLineage, user_id: int | None, dataset_name: str | None, images: int
) -> tuple[object, ...]:
    """One JOB_COLUMNS row for a job that took over images (parent = the job it took them from)."""
    values = {
        "job_id": job_id,
        "job_name": name,
        "round_key": lineage.round,
        "share_key": lineage.share,
        "cycle": lineage.cycle,
        "parent_job_id": lineage.moved_from,
        "labeler": lineage.labeler,
        "user_id": user_id or 0,
        "dataset_id": lineage.dataset,
        "dataset_name": dataset_name or "",
        "images": images,
        "outcome": JobOutcome.CREATED.value,
    }
    return tuple(values[column] for column in JOB_COLUMNS)


def _match(
    jobs: Iterable[JobProgress], excess: Mapping[str, int], quotas: Mapping[str, int], min_move: int
) -> list[Move]:
    """Pair the donors' excess with the receivers' quotas, each donor giving from their jobs with most left first."""
    left_by_job: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        if job.labeler in excess and job.images > job.done:
            left_by_job.setdefault(job.labeler, []).append((job.images - job.done, job.job_id))
    quota = dict(quotas)
    moves: list[Move] = []
    for donor in sorted(excess, key=lambda login: -excess[login]):
        to_give = excess[donor]
        for left, job_id in sorted(left_by_job.get(donor, []), reverse=True):
            can_give = min(to_give, left)
            for receiver in sorted(quota, key=lambda login: -quota[login]):
                count = min(can_give, quota[receiver])
                if count < min_move:
                    continue
                moves.append(Move(donor_job_id=job_id, donor=donor, receiver=receiver, images=count))
                quota[receiver] -= count
                can_give -= count
                to_give -= count
    return moves


def _busy_seconds(jobs: Sequence[JobProgress], now: datetime) -> float:
    """Seconds during which the labeler had at least one of these jobs open (union of start → submission/now)."""
    spans = sorted(
        (_aware(job.started_at), _aware(job.submitted_at or now))
        for job in jobs
        if job.started_at is not None
    )
    total, covered_until = 0.0, None
    for start, stop in spans:
        if covered_until is not None:
            start = max(start, covered_until)
        if stop > start:
            total += (stop - start).total_seconds()
            covered_until = stop
    return total


def _aware(moment: datetime) -> datetime:
    """A date-time with a timezone (a naive one is the server's UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
