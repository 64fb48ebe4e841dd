"""Labeler scorecards across rounds, rebuilt from the server only (jobs with our lineage, `jobs.stats`, annotations).

One `jobs.list` of the team (archived jobs included) finds the jobs carrying our lineage (`steps.lineage`); one
`jobs.stats` per job (concurrently, bounded by the client) gives each image's review status and annotation time;
one `annotations.list` per dataset gives the objects of each image (the sandbox's `jobs.stats` does not count
labels, so the annotations are the one source that holds everywhere). Per labeler per round:

- `images`: images of the labeler's first-pass (cycle 0) jobs; `first_pass_acceptance`: the share of them
  accepted in their first-pass job;
- `rework_jobs`, `rework_cycles` (highest cycle of the labeler's jobs);
- `labeled_images`: (job, image) pairs with annotation time, rework passes included; `annotation_seconds` their
  time; `images_per_hour` and `objects_per_hour` over that time;
- `objects`: objects of the labeler's distinct images as they are now, drawn by the labeler (`labelerLogin`,
  or no login);
- `review_latency_seconds`: mean over the labeler's jobs of `reviewFinishedAt − annotationFinishedAt`;
- gold precision/recall/F1: the scores a round with gold checks kept on its first-pass jobs (`customData`, see
  `steps.gold.record_gold_scores`), or those the caller passes; NaN for a round without them.

Rounds are ordered by their first job's creation time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import AnnotationInfo, ImageStat, JobStats, LabelingJobInfo, ReviewStatus
from labelrounds.steps.concurrency import run_all
from labelrounds.steps.consensus import CONSENSUS_KEY
from labelrounds.steps.gold import recorded_gold_scores
from labelrounds.steps.lineage import JobLineage
from labelrounds.steps.selection import JobFilter, find_team_jobs

#: Gold columns (as `steps.gold.GOLD_SCORE_COLUMNS` and the report's gold columns).
GOLD_COLUMNS: tuple[str, ...] = ("gold_images", "gold_precision", "gold_recall", "gold_f1")
#: Consensus columns: the F1 of the labeler's replicas against the merged labels, as a consensus round kept it on
#: its first replica's jobs (`steps.consensus.record_consensus`); NaN for other rounds.
CONSENSUS_COLUMNS: tuple[str, ...] = ("consensus_images", "consensus_f1")
#: Columns of the scorecard: one row per labeler per round.
SCORECARD_COLUMNS: tuple[str, ...] = (
    "round_key",
    "round_started_at",
    "labeler",
    "jobs",
    "rework_jobs",
    "rework_cycles",
    "images",
    "first_pass_accepted",
    "first_pass_acceptance",
    "labeled_images",
    "objects",
    "annotation_seconds",
    "images_per_hour",
    "objects_per_hour",
    "review_latency_seconds",
    *GOLD_COLUMNS,
    *CONSENSUS_COLUMNS,
)
#: The metrics worth a chart over rounds.
CHART_METRICS: tuple[str, ...] = (
    "images",
    "objects",
    "first_pass_acceptance",
    "rework_cycles",
    "annotation_seconds",
    "images_per_hour",
    "objects_per_hour",
    "review_latency_seconds",
    "gold_f1",
)
_SECONDS_PER_HOUR = 3600.0
_COUNTS = ("jobs", "rework_jobs", "rework_cycles", "images", "first_pass_accepted", "labeled_images", "objects")
_RATES = ("first_pass_acceptance", "annotation_seconds", "images_per_hour", "objects_per_hour", "review_latency_seconds")
_DTYPES = {**dict.fromkeys(_COUNTS, "int64"), **dict.fromkeys(_RATES, "float64")}


@dataclass(frozen=True)
class JobFacts:
    """One round job as the server tells it: the job (`jobs.list`), its lineage and its `jobs.stats`."""

    job: LabelingJobInfo
    lineage: JobLineage
    stats: JobStats


@dataclass(frozen=True)
class Scorecard:
    """The scorecard rows (SCORECARD_COLUMNS, rounds in order of their first job) and the rounds' order."""

    rows: pd.DataFrame
    rounds: list[str]

    def metric(self, name: str) -> pd.DataFrame:
        """One metric as a labeler × round frame (rounds in order; NaN where a labeler had no job)."""
        if self.rows.empty:
            return pd.DataFrame(columns=self.rounds, dtype="float64")
        table = self.rows.pivot(index="labeler", columns="round_key", values=name)
        return table.reindex(columns=self.rounds).astype("float64")


def round_matches(round_key: str, wanted: Iterable[str]) -> bool:
    """Whether a round key is one of `wanted`, given as round keys (`<name>@<project id>`) or round names."""
    name = round_key.rpartition("@")[0]
    return any(item in (round_key, name) for item in wanted)


async def collect_job_facts(
    api: SuperviselyClient,
    team: int | str,
    rounds: Sequence[str] | None = None,
) -> list[JobFacts]:
    """The team's jobs with our lineage (archived included, one `jobs.list`) and their `jobs.stats`, by job id.

    Args:
        api: the client.
        team: the team's id or name.
        rounds: only jobs of these rounds (keys or names); None: every round.

    Raises:
        TargetNotFoundError: no such team.
    """
    found = await find_team_jobs(api, team, None, JobFilter())
    chosen = [
        (job, lineage)
        for job, lineage in found
        if lineage is not None and (rounds is None or round_matches(lineage.round, rounds))
    ]
    stats = await run_all(api.get_job_stats(job.id) for job, _ in chosen)
    return [JobFacts(job, lineage, stat) for (job, lineage), stat in zip(chosen, stats, strict=True)]


async def collect_objects(api: SuperviselyClient, facts: Sequence[JobFacts]) -> dict[int, list[str | None]]:
    """The labeler login of every object of the jobs' images, by image id (one `annotations.list` per dataset)."""
    dataset_ids = sorted({_dataset_of(fact) for fact in facts})
    listings: list[list[AnnotationInfo]] = await run_all(api.list_annotations(i) for i in dataset_ids)
    return {
        info.image_id: [label.labeler_login for label in info.annotation.objects]
        for listing in listings
        for info in listing
    }


def build_scorecard(
    facts: Sequence[JobFacts],
    objects: Mapping[int, Sequence[str | None]],
    labelers: Sequence[str] | None = None,
    gold: Mapping[str, pd.DataFrame] | None = None,
) -> Scorecard:
    """The scorecard of these jobs (pure).

    Args:
        facts: the round jobs and their statistics (`collect_job_facts`).
        objects: each image's objects' labeler logins (`collect_objects`); an image missing here has no object.
        labelers: only these labelers (None: all); the rounds' order still counts every job.
        gold: per round key, per-labeler gold scores (`labeler` + GOLD_COLUMNS), e.g. a round report's; None reads
            the scores the rounds kept on their first-pass jobs.
    """
    started: dict[str, datetime | None] = {}
    for fact in facts:
        created = fact.job.created_at
        earlier = started.get(fact.lineage.round)
        if fact.lineage.round not in started or (created is not None and (earlier is None or created < earlier)):
            started[fact.lineage.round] = created
    order = sorted(started, key=lambda key: (started[key] is None, started[key] or datetime.min, key))
    grouped: dict[tuple[str, str], list[JobFacts]] = defaultdict(list)
    for fact in facts:
        labeler = fact.job.labeler_login or fact.lineage.labeler
        if labelers is None or labeler in labelers:
            grouped[(fact.lineage.round, labeler)].append(fact)
    rows = [
        (round_key, started[round_key], labeler, *_labeler_figures(labeler, jobs, objects))
        for (round_key, labeler), jobs in grouped.items()
    ]
    figure_columns = list(SCORECARD_COLUMNS[: -len(GOLD_COLUMNS) - len(CONSENSUS_COLUMNS)])
    frame = pd.DataFrame.from_records(rows, columns=figure_columns)
    frame = _with_gold(frame.astype(_DTYPES), gold if gold is not None else _recorded_gold(facts))
    frame = _with_consensus(frame, facts)
    frame["round_started_at"] = pd.to_datetime(frame["round_started_at"], utc=True)
    position = {key: index for index, key in enumerate(order)}
    frame = frame.sort_values(
        ["round_key", "labeler"], key=lambda column: column.map(position) if column.name == "round_key" else column
    ).reset_index(drop=True)
    return Scorecard(rows=frame.loc[:, list(SCORECARD_COLUMNS)], rounds=order)


async def labeler_scorecard(
    api: SuperviselyClient,
    team: int | str,
    rounds: Sequence[str] | None = None,
    labelers: Sequence[str] | None = None,
    gold: Mapping[str, pd.DataFrame] | None = None,
) -> Scorecard:
    """Every labeler's scorecard over the team's rounds, from the server only (see the module docstring).

    Args:
        api: the client (a manager's token).
        team: the team's id or name.
        rounds: only these rounds (keys or names); None: every round with our lineage.
        labelers: only these labelers (logins); None: all.
        gold: per round key, per-labeler gold scores to fill the gold columns (None: those the rounds kept on their
            first-pass jobs; NaN where a round has none).
    """
    facts = await collect_job_facts(api, team, rounds)
    if labelers is not None:
        wanted = [fact for fact in facts if (fact.job.labeler_login or fact.lineage.labeler) in labelers]
    else:
        wanted = list(facts)
    objects = await collect_objects(api, wanted)
    return build_scorecard(facts, objects, labelers, gold)


def _dataset_of(fact: JobFacts) -> int:
    """The job's dataset (the server's, else the lineage's)."""
    return fact.job.dataset_id if fact.job.dataset_id is not None else fact.lineage.dataset


def _labeler_figures(
    labeler: str, jobs: Sequence[JobFacts], objects: Mapping[int, Sequence[str | None]]
) -> tuple[object, ...]:
    """One labeler's figures in one round, in SCORECARD_COLUMNS order from `jobs` to `review_latency_seconds`."""
    first_pass = [fact for fact in jobs if fact.lineage.cycle == 0]
    first_images = [image for fact in first_pass for image in _images(fact)]
    accepted = sum(image.review_status == ReviewStatus.ACCEPTED for image in first_images)
    timed = [image for fact in jobs for image in _images(fact) if (image.annotation_duration or 0) > 0]
    seconds = float(sum(image.annotation_duration or 0 for image in timed))
    distinct = {image.id for fact in jobs for image in _images(fact)}
    drawn = sum(
        1 for image_id in distinct for login in objects.get(image_id, ()) if login is None or login == labeler
    )
    hours = seconds / _SECONDS_PER_HOUR
    latencies = [
        (fact.job.review_finished_at - fact.job.annotation_finished_at).total_seconds()
        for fact in jobs
        if fact.job.review_finished_at is not None and fact.job.annotation_finished_at is not None
    ]
    return (
        len(jobs),
        len(jobs) - len(first_pass),
        max(fact.lineage.cycle for fact in jobs),
        len(first_images),
        accepted,
        accepted / len(first_images) if first_images else np.nan,
        len(timed),
        drawn,
        seconds,
        len(timed) / hours if hours else np.nan,
        drawn / hours if hours else np.nan,
        float(np.mean(latencies)) if latencies else np.nan,
    )


def _images(fact: JobFacts) -> list[ImageStat]:
    """The job's per-image statistics (empty when the reply left them out)."""
    return list(fact.stats.images.images) if fact.stats.images is not None else []


def _recorded_gold(facts: Sequence[JobFacts]) -> dict[str, pd.DataFrame]:
    """Per round, the gold scores its first-pass jobs keep (`steps.gold.record_gold_scores`)."""
    by_round: dict[str, list[tuple[LabelingJobInfo, JobLineage]]] = defaultdict(list)
    for fact in facts:
        by_round[fact.lineage.round].append((fact.job, fact.lineage))
    return {round_key: recorded_gold_scores(jobs) for round_key, jobs in by_round.items()}


def _with_consensus(frame: pd.DataFrame, facts: Sequence[JobFacts]) -> pd.DataFrame:
    """The frame with CONSENSUS_COLUMNS from each consensus round's kept figures (NaN elsewhere)."""
    found: dict[tuple[str, str], tuple[int, float]] = {}
    for fact in facts:
        kept = fact.job.custom_data.get(CONSENSUS_KEY)
        per_labeler = kept.get("per_labeler") if isinstance(kept, dict) else None
        if isinstance(per_labeler, dict):
            for login, agreement in per_labeler.items():
                if isinstance(agreement, dict) and {"images", "f1"} <= agreement.keys():
                    found[(fact.lineage.round, login)] = (int(agreement["images"]), float(agreement["f1"]))
    keys = list(zip(frame["round_key"], frame["labeler"], strict=True))
    images = [found[key][0] if key in found else pd.NA for key in keys]
    f1 = [found[key][1] if key in found else np.nan for key in keys]
    return frame.assign(
        consensus_images=pd.array(images, dtype="Int64"), consensus_f1=pd.array(f1, dtype="float64")
    )


def _with_gold(frame: pd.DataFrame, gold: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The frame with GOLD_COLUMNS from each round's gold scores (NaN for a round or labeler without them)."""
    parts = [
        scores.loc[:, ["labeler", *GOLD_COLUMNS]].assign(round_key=round_key)
        for round_key, scores in gold.items()
        if not scores.empty
    ]
    if not parts:
        return frame.assign(**{column: np.nan for column in GOLD_COLUMNS}).astype({"gold_images": "Int64"})
    merged = frame.merge(pd.concat(parts, ignore_index=True), on=["round_key", "labeler"], how="left")
    return merged.astype({"gold_images": "Int64", **{column: "float64" for column in GOLD_COLUMNS[1:]}})
