"""`split_strategy: throughput`: labeler weights from each labeler's measured images per hour in earlier rounds.

The measurement is the scorecard's (`steps.scorecard`): labeled (job, image) pairs over annotation hours, pooled
over the *finished* rounds of the team (every job completed, review-completed or stopped) that started before
this round's first job (every round when it has none yet), this round excluded. Finished rounds no longer change,
so a re-run of the round measures the same weights and plans the same split. A labeler without a measurement gets
the mean of the others'; with no measurement at all every weight is 1 (an even split).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import RoundSpec, SplitStrategy
from labelrounds.steps.scorecard import JobFacts, build_scorecard, collect_job_facts
from labelrounds.steps.selection import FINISHED_STATUSES
from labelrounds.steps.targets import RoundTarget

_SECONDS_PER_HOUR = 3600.0


def measured_images_per_hour(facts: Sequence[JobFacts], round_key: str) -> dict[str, float]:
    """Each labeler's images per hour over the finished rounds that started before `round_key`'s first job (pure).

    Args:
        facts: the team's round jobs and their statistics (`scorecard.collect_job_facts`).
        round_key: the round being planned (its own jobs never count).
    """
    by_round: dict[str, list[JobFacts]] = defaultdict(list)
    for fact in facts:
        by_round[fact.lineage.round].append(fact)
    own = [fact.job.created_at for fact in by_round.pop(round_key, []) if fact.job.created_at is not None]
    cutoff = min(own) if own else None
    eligible = [fact for jobs in by_round.values() if _counts(jobs, cutoff) for fact in jobs]
    rows = build_scorecard(eligible, objects={}).rows
    totals = rows.groupby("labeler")[["labeled_images", "annotation_seconds"]].sum()
    timed = totals[totals["annotation_seconds"] > 0]
    hours = timed["annotation_seconds"] / _SECONDS_PER_HOUR
    return {str(labeler): float(rate) for labeler, rate in (timed["labeled_images"] / hours).items()}


def _counts(jobs: Sequence[JobFacts], cutoff: datetime | None) -> bool:
    """Whether a round's throughput counts: every job is over, and the round started before the cutoff (if any)."""
    if not all(fact.job.status in FINISHED_STATUSES for fact in jobs):
        return False
    created = [fact.job.created_at for fact in jobs if fact.job.created_at is not None]
    return cutoff is None or (bool(created) and min(created) < cutoff)


def throughput_weights(logins: Sequence[str], measured: Mapping[str, float]) -> list[float]:
    """Weights in the order of `logins`: measured images per hour, the mean of the measured for the others (pure)."""
    known = [measured[login] for login in logins if measured.get(login, 0) > 0]
    if not known:
        return [1.0] * len(logins)
    fallback = sum(known) / len(known)
    return [measured[login] if measured.get(login, 0) > 0 else fallback for login in logins]


async def with_throughput_weights(api: SuperviselyClient, target: RoundTarget, spec: RoundSpec) -> RoundSpec:
    """The spec with each labeler's weight set from the measured throughput (see the module docstring); a spec
    with another split strategy as it is."""
    if spec.split_strategy is not SplitStrategy.THROUGHPUT:
        return spec
    facts = await collect_job_facts(api, target.team.id)
    measured = measured_images_per_hour(facts, target.round_key)
    weights = throughput_weights([labeler.login for labeler in spec.labelers], measured)
    labelers = [
        labeler.model_copy(update={"weight": weight}) for labeler, weight in zip(spec.labelers, weights, strict=True)
    ]
    return spec.model_copy(update={"labelers": labelers})
