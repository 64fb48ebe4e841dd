"""Deadline and ETA of a round, estimated from one gate snapshot (no API call): per-labeler pace, who is behind.

The model, kept simple on purpose:

- **Labeling.** Each labeler works through their jobs of the cycle at a steady pace: images done / time since
  they first opened one of them (`startedAt`). Their labeling ends at `checked_at + remaining / pace`; a
  labeler with nothing left ended at their last submission. A labeler with nothing done yet has no pace:
  the round then has no estimate (`finish` None) until every labeler has done something.
- **Review** (target `completed` only). The reviewer started at the first submission of the cycle and keeps
  their observed pace (images reviewed / time since then); the round ends when both the labeling and the review
  queue are through: `max(labeling end, checked_at + unreviewed / review pace)`. Before any review, the reviewer
  is assumed as fast as the average labeler and to start when the labeling ends.
- **Behind.** With a deadline, a labeler is behind when their labeling ends after it (or they have no pace
  yet). Without one, when their end is later than the median labeler's by more than `BEHIND_SLACK` of the
  median's remaining time.
- **At risk.** A deadline is at risk when the gate is not open and the estimate (or the check itself) is after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import median

import pandas as pd
from pydantic import BaseModel, ConfigDict

from labelrounds.round_spec import TargetStatus
from labelrounds.steps.gate import GateSnapshot, JobProgress
from labelrounds.steps.tables import frame_markdown

#: Without a deadline, a labeler whose end is later than the median's by more than this share of the median's
#: remaining time is behind.
BEHIND_SLACK = 0.25


class DueInPastError(ValueError):
    """The round's deadline is already past when the round starts."""


def resolve_due(due: datetime | timedelta | None, round_started_at: datetime) -> datetime | None:
    """The round's deadline as a date-time: a duration counts from the round's first start (same on every resume).

    Args:
        due: the spec's `due` (an aware date-time, a positive duration, or None).
        round_started_at: when the round (its flow run) first started; a resumed run passes the same time.

    Raises:
        DueInPastError: an absolute deadline is not after the round's start.
    """
    if due is None:
        return None
    started = _aware(round_started_at)
    if isinstance(due, timedelta):
        return started + due
    if due <= started:
        raise DueInPastError(
            f"due {due.isoformat()} is already past at the round's start ({started.isoformat(timespec='seconds')}):"
            " give a later date-time or a duration such as 3d"
        )
    return due


class LabelerPace(BaseModel):
    """One labeler's progress in the cycle and projected end of labeling."""

    model_config = ConfigDict(frozen=True)

    labeler: str
    images: int
    done: int
    started_at: datetime | None
    images_per_hour: float | None
    finish: datetime | None
    behind: bool = False

    @property
    def remaining(self) -> int:
        """Images still to label."""
        return self.images - self.done


class RoundEstimate(BaseModel):
    """The round's projected finish at one check, the deadline, and who is behind."""

    model_config = ConfigDict(frozen=True)

    checked_at: datetime
    target: TargetStatus
    due: datetime | None
    ready: bool
    labelers: list[LabelerPace]
    labeling_finish: datetime | None
    finish: datetime | None

    @property
    def behind(self) -> list[str]:
        """Logins of the labelers behind (see the module docstring)."""
        return [pace.labeler for pace in self.labelers if pace.behind]

    @property
    def at_risk(self) -> bool:
        """Whether the deadline will be missed: not open, and the estimate or the check is after the deadline."""
        if self.due is None or self.ready:
            return False
        return self.checked_at > self.due or (self.finish is not None and self.finish > self.due)

    def summary(self) -> str:
        """One line: the ETA, the deadline and who is behind."""
        eta = "ETA unknown (no pace yet)" if self.finish is None else f"ETA {_stamp(self.finish)}"
        if self.ready:
            eta = "finished"
        due = "" if self.due is None else f", due {_stamp(self.due)}" + (" (AT RISK)" if self.at_risk else "")
        behind = f"; behind: {', '.join(self.behind)}" if self.behind else ""
        return f"{eta}{due}{behind}"

    def markdown(self) -> str:
        """The summary and a per-labeler table (pace and projected end), for the progress artifact."""
        rows = [
            {
                "labeler": pace.labeler,
                "images": pace.images,
                "done": pace.done,
                "images/h": "" if pace.images_per_hour is None else f"{pace.images_per_hour:.1f}",
                "labeling ends": "" if pace.finish is None else _stamp(pace.finish),
                "behind": "yes" if pace.behind else "",
            }
            for pace in self.labelers
        ]
        return f"**{self.summary()}**\n\n{frame_markdown(pd.DataFrame.from_records(rows))}"

    def payload(self) -> dict[str, object]:
        """The figures for an event payload (JSON-ready)."""
        return {
            "eta": None if self.finish is None else self.finish.isoformat(),
            "due": None if self.due is None else self.due.isoformat(),
            "at_risk": self.at_risk,
            "behind": self.behind,
        }


def estimate_round(snapshot: GateSnapshot, due: datetime | None = None) -> RoundEstimate:
    """Estimate when the snapshot's cycle reaches its target, and who is behind (see the module docstring).

    Args:
        snapshot: one gate check of the cycle's jobs.
        due: the round's resolved deadline (`resolve_due`), or None.
    """
    now = _aware(snapshot.checked_at)
    paces = [_labeler_pace(login, jobs, now) for login, jobs in _jobs_by_labeler(snapshot.jobs).items()]
    known = [pace.finish for pace in paces if pace.finish is not None]
    labeling_finish = max(known) if paces and len(known) == len(paces) else None
    finish = labeling_finish
    if labeling_finish is not None and snapshot.target is TargetStatus.COMPLETED:
        finish = _review_finish(snapshot, paces, labeling_finish, now)
    paces = _mark_behind(paces, due, now)
    return RoundEstimate(
        checked_at=now,
        target=snapshot.target,
        due=due,
        ready=snapshot.ready,
        labelers=paces,
        labeling_finish=labeling_finish,
        finish=finish,
    )


def _jobs_by_labeler(jobs: list[JobProgress]) -> dict[str, list[JobProgress]]:
    """The cycle's jobs grouped by labeler login (a job without one under `?`)."""
    grouped: dict[str, list[JobProgress]] = {}
    for job in jobs:
        grouped.setdefault(job.labeler or "?", []).append(job)
    return grouped


def _labeler_pace(login: str, jobs: list[JobProgress], now: datetime) -> LabelerPace:
    """One labeler's pace over their jobs: images done since their first start, projected end of labeling."""
    images = sum(job.images for job in jobs)
    done = min(sum(job.done for job in jobs), images)
    starts = [_aware(job.started_at) for job in jobs if job.started_at is not None]
    started = min(starts) if starts else None
    elapsed = (now - started).total_seconds() if started is not None else 0.0
    per_second = done / elapsed if done and elapsed > 0 else None
    if done >= images:
        submissions = [_aware(job.submitted_at) for job in jobs if job.submitted_at is not None]
        finish: datetime | None = min(max(submissions), now) if submissions else now
    elif per_second is not None:
        finish = now + timedelta(seconds=(images - done) / per_second)
    else:
        finish = None
    return LabelerPace(
        labeler=login,
        images=images,
        done=done,
        started_at=started,
        images_per_hour=None if per_second is None else per_second * 3600,
        finish=finish,
    )


def _review_finish(
    snapshot: GateSnapshot, paces: list[LabelerPace], labeling_finish: datetime, now: datetime
) -> datetime:
    """When the review queue is through: the observed review pace since the first submission, else a guess."""
    unreviewed = snapshot.images - snapshot.reviewed
    if unreviewed <= 0:
        return max(labeling_finish, now)
    submissions = [_aware(job.submitted_at) for job in snapshot.jobs if job.submitted_at is not None]
    review_started = min(submissions) if submissions else None
    if snapshot.reviewed > 0 and review_started is not None and now > review_started:
        per_second = snapshot.reviewed / (now - review_started).total_seconds()
        return max(labeling_finish, now + timedelta(seconds=unreviewed / per_second))
    labeling_rates = [pace.images_per_hour / 3600 for pace in paces if pace.images_per_hour]
    if not labeling_rates:
        return labeling_finish
    average = sum(labeling_rates) / len(labeling_rates)
    return max(labeling_finish, now) + timedelta(seconds=unreviewed / average)


def _mark_behind(paces: list[LabelerPace], due: datetime | None, now: datetime) -> list[LabelerPace]:
    """Flag the labelers behind: against the deadline when there is one, else against the median labeler."""
    if due is not None:
        return [pace.model_copy(update={"behind": pace.finish is None or pace.finish > due}) for pace in paces]
    known = [pace.finish for pace in paces if pace.finish is not None]
    if not known:
        return paces
    middle = datetime.fromtimestamp(median(finish.timestamp() for finish in known), UTC)
    limit = middle + max(middle - now, timedelta(0)) * BEHIND_SLACK
    return [pace.model_copy(update={"behind": pace.finish is None or pace.finish > limit}) for pace in paces]


def _aware(moment: datetime) -> datetime:
    """A date-time with a timezone: a naive one is read as UTC (the server's timestamps are UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    """A short UTC time stamp, e.g. `2026-11-29 19:40:05 UTC`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
