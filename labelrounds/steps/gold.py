"""Gold checks: reference images hidden in every first-pass job, scored per labeler, removed when the round ends.

A gold source is a dataset of the round's project whose images carry reference annotations. Each first-pass share
(one labeler's job in one dataset) gets `GoldSpec.count_for(images)` gold images, chosen deterministically from the
share key, copied into the share's dataset under a neutral name derived from a keyed digest of the round key, the
gold image, the dataset and the labeler (so a re-run finds its copies by name and never copies twice, and the
selection leaves them out). The copies go into the job's `entityIds` next to its planned images, without changing
the share key. After the first gate each
labeler's annotations of their copies are scored against the references (`labelrounds.quality`), then the copies
are removed: the server drops them from the jobs, so rework, the later gates and the report never see them.
`remove_gold_copies` is idempotent and also runs when the round fails. The scores are kept on the labeler's
first-pass jobs (`customData`, beside the lineage: `record_gold_scores`), so scorecards and re-runs read them from
the server after the copies are gone.

Optional policy `gold.min_f1`: a labeler whose gold F1 is under it has every round image of their first-pass jobs
rejected (`jobs.reject`, so the report counts them all as reworked) and relabeled by another labeler (`relabelers`:
the rework labeler if it passed, else the passing labeler with the best gold F1), in a rework job (cycle 1, parent =
the first-pass job) that replaces that job's ordinary rework; the relabeling jobs are found again by their lineage
on a re-run (`create_relabel_jobs`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from labelrounds.client import AmbiguousWriteError, Filter, SuperviselyClient
from labelrounds.client.models import AnnotationInfo, DatasetInfo, ImageInfo, LabelingJobInfo, RejectMode
from labelrounds.planning import summarize_plan
from labelrounds.quality import score_many
from labelrounds.round_spec import GoldSpec, RoundSpec
from labelrounds.steps.errors import RoundError, UnresolvedWriteError
from labelrounds.steps.lineage import (
    JobLineage,
    create_round_jobs,
    list_round_jobs,
    records_frame,
)
from labelrounds.steps.report import LABELER_GOLD_COLUMNS
from labelrounds.steps.rework import planned_rework
from labelrounds.steps.targets import RoundTarget, resolve_datasets

#: Columns of the gold plan: one row per gold image of a first-pass share.
GOLD_PLAN_COLUMNS: tuple[str, ...] = (
    "dataset_id",
    "labeler",
    "share_key",
    "gold_dataset_id",
    "gold_image_id",
    "copy_name",
)
#: Per-labeler gold figures: the report's gold columns.
GOLD_SCORE_COLUMNS = LABELER_GOLD_COLUMNS
#: The customData key, beside the lineage, under which a first-pass job keeps its labeler's gold scores.
GOLD_SCORES_KEY = "labelrounds_gold"


@dataclass(frozen=True)
class GoldSet:
    """The gold source as validated: its dataset and its annotated images (id → name) by id."""

    dataset: DatasetInfo
    image_names: dict[int, str]


async def gold_source_problems(
    api: SuperviselyClient,
    gold: GoldSpec,
    target: RoundTarget,
    class_names: Iterable[str],
    labelers: Iterable[str] = (),
) -> tuple[list[str], GoldSet | None]:
    """Check the gold source against the server without writing; return every problem and the gold set.

    Refused: a source that is missing, one of the round's datasets, empty, without annotated images, with classes
    the round does not label, or holding a picture of the round (an annotated gold image with the same `hash` as a
    round dataset's image: a labeler would label it twice, once scored, and the gold check would no longer be
    hidden). The round's own gold copies (named by `copy_name` for these labelers, left by a killed run) are not
    round pictures. The count per job is checked against the plan by `gold_count_problems`.

    Args:
        api: the client.
        gold: the round's gold parameters.
        target: the resolved round.
        class_names: the classes the round labels.
        labelers: the round's labeler logins (to recognise its own gold copies).
    """
    try:
        (dataset,) = await resolve_datasets(api, target.project, [gold.source])
    except RoundError as error:
        return [f"gold source: {error}"], None
    where = f"gold source dataset {dataset.name!r} (id {dataset.id})"
    if dataset.id in target.dataset_ids:
        return [
            f"{where} is one of the round's datasets: its images would be both gold and round images"
        ], None
    images = await api.list_images(dataset.id)
    if not images:
        return [f"{where} is empty"], None
    annotations = await api.list_annotations(dataset.id)
    annotated = {info.image_id for info in annotations if info.annotation.objects or info.annotation.tags}
    if not annotated:
        return [f"{where} has no annotated image"], None
    unknown = sorted(_classes_of(annotations) - set(class_names))
    names = {image.id: image.name for image in images if image.id in annotated}
    gold_set = GoldSet(dataset=dataset, image_names=dict(sorted(names.items())))
    problems = []
    if unknown:
        problems.append(f"{where} has objects of classes the round does not label: {', '.join(unknown)}")
    hashes = {image.hash: image for image in images if image.id in annotated and image.hash}
    problems += await _round_picture_problems(api, target, gold_set, hashes, list(labelers), where)
    return problems, gold_set


async def _round_picture_problems(
    api: SuperviselyClient,
    target: RoundTarget,
    gold_set: GoldSet,
    gold_by_hash: Mapping[str, ImageInfo],
    labelers: list[str],
    where: str,
) -> list[str]:
    """The annotated gold images whose picture (`hash`) is also a round image, one line for all of them."""
    if not gold_by_hash:
        return []
    same: list[str] = []
    for round_dataset in target.datasets:
        own_copies = {
            copy_name(target.round_key, image_id, round_dataset.id, login, name)
            for image_id, name in gold_set.image_names.items()
            for login in labelers
        }
        for image in await api.list_images(round_dataset.id, [Filter.in_("hash", sorted(gold_by_hash))]):
            if image.name not in own_copies and image.hash in gold_by_hash:
                gold_image = gold_by_hash[image.hash]
                same.append(
                    f"{gold_image.name!r} (id {gold_image.id}) = {image.name!r} (id {image.id}) of dataset "
                    f"{round_dataset.name!r}"
                )
    if not same:
        return []
    shown = "; ".join(same[:5]) + (f"; and {len(same) - 5} more" if len(same) > 5 else "")
    return [
        f"{where} holds {len(same)} picture(s) of the round (same image hash as a round image): {shown}; a "
        "labeler would label them twice, once scored: remove them from the gold source or from the round"
    ]


def gold_count_problems(gold: GoldSpec, gold_set: GoldSet, plan: pd.DataFrame) -> list[str]:
    """A job of the plan would get more gold images than the gold set holds (empty when none would); pure."""
    largest_job = int(summarize_plan(plan)["images"].max()) if len(plan) else 0
    wanted = gold.count_for(largest_job)
    held = len(gold_set.image_names)
    if wanted > held:
        return [
            f"each job should get {wanted} gold images but gold source dataset {gold_set.dataset.name!r} "
            f"has {held} annotated"
        ]
    return []


def without_gold_copies(
    selected: pd.DataFrame, gold_set: GoldSet, round_key: str, labelers: Iterable[str]
) -> pd.DataFrame:
    """The selected images (`planning.IMAGE_COLUMNS`) without any copy of this round's gold (left by a killed run)."""
    logins = list(labelers)
    names = {
        copy_name(round_key, image_id, int(dataset_id), login, source)
        for dataset_id in selected["dataset_id"].unique()
        for image_id, source in gold_set.image_names.items()
        for login in logins
    }
    return selected[~selected["image_name"].isin(names)].reset_index(drop=True)


def _classes_of(annotations: Iterable[AnnotationInfo]) -> set[str]:
    """Every object class the annotations use."""
    return {label.class_title for info in annotations for label in info.annotation.objects}


def _digest(*parts: object, key: str) -> str:
    """A keyed 16-hex-digit digest of the parts (derivable by anyone who knows the key, meaningless otherwise)."""
    text = "|".join(str(part) for part in parts).encode()
    return hashlib.blake2b(text, key=key.encode()[:64], digest_size=8).hexdigest()


def copy_name(round_key: str, gold_image_id: int, dataset_id: int, labeler: str, source_name: str) -> str:
    """The neutral name of one gold copy for one labeler's job in one dataset: a digest keyed by the round key,
    with the source's file extension (e.g. `3f9a….jpeg`)."""
    return (
        _digest(gold_image_id, dataset_id, labeler, key=round_key) + PurePosixPath(source_name).suffix.lower()
    )


def plan_gold(gold: GoldSpec, gold_set: GoldSet, plan: pd.DataFrame, round_key: str) -> pd.DataFrame:
    """Which gold images each first-pass share gets and their copies' names (GOLD_PLAN_COLUMNS); pure."""
    rows = []
    ids = list(gold_set.image_names)
    for share in summarize_plan(plan).itertuples(index=False):
        chosen = sorted(ids, key=lambda image_id, key=str(share.share_key): _digest(image_id, key=key))
        for image_id in chosen[: gold.count_for(int(share.images))]:
            rows.append(
                (
                    int(share.dataset_id),
                    str(share.labeler),
                    str(share.share_key),
                    gold_set.dataset.id,
                    image_id,
                    copy_name(
                        round_key,
                        image_id,
                        int(share.dataset_id),
                        str(share.labeler),
                        gold_set.image_names[image_id],
                    ),
                )
            )
    return pd.DataFrame.from_records(rows, columns=list(GOLD_PLAN_COLUMNS))


async def _copies_by_name(api: SuperviselyClient, dataset_id: int, names: list[str]) -> dict[str, int]:
    """Image id by name of the dataset's images named in `names`."""
    if not names:
        return {}
    return {image.name: image.id for image in await api.list_images(dataset_id, [Filter.in_("name", names)])}


async def ensure_gold_copies(
    api: SuperviselyClient, target: RoundTarget, gold_plan: pd.DataFrame
) -> pd.DataFrame:
    """Make each planned gold copy exist once; return the gold plan with `copy_id` (NA: no copy for that share).

    Shares whose first-pass job exists already get no new copy (the job keeps whatever gold it holds), so a
    re-run never copies twice; copies found by name are reused; a lost `images.bulk.add` reply is reconciled by
    listing again.

    Raises:
        UnresolvedWriteError: a copy's outcome stayed unknown and no such image exists; re-running is safe.
    """
    jobs = await list_round_jobs(api, target.team.id, target.project.id, target.round_key)
    with_job = {(lineage.dataset, lineage.labeler) for _, lineage in jobs if lineage.cycle == 0}
    found: dict[tuple[int, str], int] = {}
    for dataset_id, rows in gold_plan.groupby("dataset_id", sort=False):
        names = list(rows["copy_name"])
        existing = await _copies_by_name(api, int(dataset_id), names)
        needed = rows[
            [
                name not in existing and (int(dataset_id), labeler) not in with_job
                for name, labeler in zip(rows["copy_name"], rows["labeler"], strict=True)
            ]
        ]
        if len(needed):
            try:
                copies = await api.copy_images(
                    int(dataset_id), [int(i) for i in needed["gold_image_id"]], list(needed["copy_name"])
                )
                existing.update((copy.name, copy.id) for copy in copies)
            except AmbiguousWriteError:
                existing = await _copies_by_name(api, int(dataset_id), names)
                lost = sorted(set(needed["copy_name"]) - set(existing))
                if lost:
                    raise UnresolvedWriteError(
                        f"copying {len(lost)} gold images into dataset {dataset_id} had an unknown outcome and "
                        "no such image exists; run the round again (it reuses the copies that exist)"
                    ) from None
        found.update(((int(dataset_id), name), image_id) for name, image_id in existing.items())
    copied = gold_plan.copy()
    copied["copy_id"] = pd.array(
        [found.get((int(d), n)) for d, n in zip(copied["dataset_id"], copied["copy_name"], strict=True)],
        dtype="Int64",
    )
    return copied


def hidden_entities(gold_copies: pd.DataFrame | None) -> dict[tuple[int, str], list[int]]:
    """The gold copy ids to add to each first-pass job, by (dataset id, labeler)."""
    if gold_copies is None or "copy_id" not in gold_copies.columns:
        return {}
    present = gold_copies.dropna(subset=["copy_id"])
    return {
        (int(dataset_id), str(labeler)): sorted(int(i) for i in rows["copy_id"])
        for (dataset_id, labeler), rows in present.groupby(["dataset_id", "labeler"], sort=False)
    }


async def score_gold(api: SuperviselyClient, gold_copies: pd.DataFrame) -> pd.DataFrame:
    """Each labeler's gold precision, recall and F1: their annotations of their copies against the references.

    Returns:
        One row per labeler with copies (`labeler` + GOLD_SCORE_COLUMNS), in order of first appearance.
    """
    present = gold_copies.dropna(subset=["copy_id"])
    if present.empty:
        return pd.DataFrame(columns=["labeler", *GOLD_SCORE_COLUMNS])
    references: dict[int, AnnotationInfo] = {}
    for gold_dataset_id, rows in present.groupby("gold_dataset_id"):
        ids = sorted({int(i) for i in rows["gold_image_id"]})
        references.update(
            (info.image_id, info) for info in await api.get_annotations(int(gold_dataset_id), ids)
        )
    drawn: dict[int, AnnotationInfo] = {}
    for dataset_id, rows in present.groupby("dataset_id"):
        ids = sorted(int(i) for i in rows["copy_id"])
        drawn.update((info.image_id, info) for info in await api.get_annotations(int(dataset_id), ids))
    rows_out = []
    for labeler, rows in present.groupby("labeler", sort=False):
        score = score_many(
            (references[int(gold)].annotation.to_wire(), drawn[int(copy)].annotation.to_wire())
            for gold, copy in zip(rows["gold_image_id"], rows["copy_id"], strict=True)
        )
        rows_out.append((str(labeler), score.images, score.precision, score.recall, score.f1))
    return pd.DataFrame.from_records(rows_out, columns=["labeler", *GOLD_SCORE_COLUMNS])


async def remove_gold_copies(api: SuperviselyClient, gold_plan: pd.DataFrame | None) -> int:
    """Remove every gold copy of the plan still in the datasets (found by name); return how many. Idempotent."""
    if gold_plan is None or gold_plan.empty:
        return 0
    ids: list[int] = []
    for dataset_id, rows in gold_plan.groupby("dataset_id"):
        ids += (await _copies_by_name(api, int(dataset_id), list(rows["copy_name"]))).values()
    if ids:
        await api.remove_images(ids)
    return len(ids)


async def score_and_record_gold(
    api: SuperviselyClient, target: RoundTarget, gold_copies: pd.DataFrame
) -> pd.DataFrame:
    """Score the gold copies (`score_gold`) and keep the scores on the first-pass jobs; a re-run whose copies are
    gone (an earlier run scored and removed them) gets the scores kept then.

    Returns:
        One row per labeler (`labeler` + GOLD_SCORE_COLUMNS).
    """
    scores = await score_gold(api, gold_copies)
    jobs = await list_round_jobs(api, target.team.id, target.project.id, target.round_key)
    if scores.empty:
        return recorded_gold_scores(jobs)
    await record_gold_scores(api, jobs, scores)
    return scores


async def record_gold_scores(
    api: SuperviselyClient, jobs: Sequence[tuple[LabelingJobInfo, JobLineage]], scores: pd.DataFrame
) -> int:
    """Keep each labeler's gold scores on their first-pass jobs of the round (`customData`, the lineage kept);
    return how many jobs changed. Idempotent: a job that already holds the same scores is left alone."""
    by_labeler = {
        str(row["labeler"]): {
            column: int(row[column]) if column == "gold_images" else float(row[column])
            for column in GOLD_SCORE_COLUMNS
        }
        for row in scores.to_dict("records")
    }
    changed = 0
    for job, lineage in jobs:
        wanted = by_labeler.get(lineage.labeler)
        if lineage.cycle != 0 or wanted is None or job.custom_data.get(GOLD_SCORES_KEY) == wanted:
            continue
        await api.edit_job(job.id, custom_data={**job.custom_data, GOLD_SCORES_KEY: wanted})
        changed += 1
    return changed


def recorded_gold_scores(jobs: Iterable[tuple[LabelingJobInfo, JobLineage]]) -> pd.DataFrame:
    """The gold scores kept on a round's first-pass jobs (`record_gold_scores`): one row per labeler."""
    rows: dict[str, dict[str, object]] = {}
    for job, lineage in jobs:
        kept = job.custom_data.get(GOLD_SCORES_KEY)
        if lineage.cycle == 0 and isinstance(kept, dict) and set(GOLD_SCORE_COLUMNS) <= kept.keys():
            rows.setdefault(lineage.labeler, {column: kept[column] for column in GOLD_SCORE_COLUMNS})
    return pd.DataFrame.from_records(
        [{"labeler": labeler, **values} for labeler, values in rows.items()],
        columns=["labeler", *GOLD_SCORE_COLUMNS],
    )


def relabelers(scores: pd.DataFrame, min_f1: float, rework_labeler: str | None) -> dict[str, str]:
    """Who relabels the round images of each labeler whose gold F1 is under `min_f1` (failing → relabeler); pure.

    The relabeler is `rework_labeler` when it passed, else the passing labeler with the best gold F1 (then the
    first login). Nobody is relabeled when nobody passed; a labeler without gold scores neither fails nor passes.
    """
    f1 = {str(row.labeler): float(row.gold_f1) for row in scores.itertuples(index=False) if row.gold_images}
    failing = sorted(login for login, value in f1.items() if value < min_f1)
    passing = sorted(
        (login for login, value in f1.items() if value >= min_f1), key=lambda login: (-f1[login], login)
    )
    if not failing or not passing:
        return {}
    relabeler = rework_labeler if rework_labeler in passing else passing[0]
    return dict.fromkeys(failing, relabeler)


async def create_relabel_jobs(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    scores: pd.DataFrame,
    user_ids: Mapping[str, int],
    gold_copies: pd.DataFrame | None,
) -> pd.DataFrame:
    """Create (or find) the relabeling jobs of the `gold.min_f1` policy: each first-pass job of a failing labeler
    has all its images rejected, then one rework job over all its round images (never a gold copy) goes to the
    labeler `relabelers` picks; idempotent (rejecting twice changes nothing, the jobs are found by lineage).

    Args:
        api: the client (a manager's token).
        target: the resolved round.
        spec: the round (`gold.min_f1`, `rework_labeler`, the reviewer, job settings).
        jobs: the first pass's jobs (`lineage.JOB_COLUMNS`), after its gate.
        scores: each labeler's gold scores (`score_and_record_gold`).
        user_ids: user id by login of the labelers and the reviewer.
        gold_copies: the gold plan with `copy_id` (its copies are left out even if a job still lists them).

    Returns:
        The relabeling jobs (JOB_COLUMNS, cycle 1, `parent_job_id` the relabeled job); empty when nobody failed.

    Raises:
        RoundConflictError: a cycle-1 job of one of these parents exists with other content.
        UnresolvedWriteError: a creation's outcome stayed unknown; re-running is safe.
    """
    if spec.gold is None or spec.gold.min_f1 is None:
        return records_frame([])
    chosen = relabelers(scores, spec.gold.min_f1, spec.rework_labeler)
    parents = jobs[[str(labeler) in chosen for labeler in jobs["labeler"]]]
    if parents.empty:
        return records_frame([])
    gold_ids = (
        set() if gold_copies is None else {int(i) for i in gold_copies.get("copy_id", pd.Series()).dropna()}
    )
    detailed = await asyncio.gather(*(api.get_job(int(job_id)) for job_id in parents["job_id"]))
    planned = []
    for (_, parent), job in zip(parents.iterrows(), detailed, strict=True):
        if job is None:
            raise RoundError(f"job {parent['job_id']} disappeared before its relabeling could be planned")
        images = sorted(set(job.entity_ids()) - gold_ids)
        if job.rejected_images_count < job.images_count:
            await api.reject_job(job.id, RejectMode.ALL)
        if images:
            relabeler = spec.model_copy(update={"rework_labeler": chosen[str(parent["labeler"])]})
            planned.append(planned_rework(parent, images, relabeler, user_ids))
    return await create_round_jobs(api, target, spec, planned)
