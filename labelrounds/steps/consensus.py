"""Consensus rounds: blind replicas of the round's images, agreement per image, a merged label or an adjudicator.

Each replica is a child dataset of a round dataset (`<round name> replica <n>`, customData
`labelrounds_consensus = {round, replica, source}`) holding copies of the images under their own names (names are
unique in a dataset, so a re-run finds its copies by name and never copies twice). Image `p` of the round's
selection (sorted by dataset, then id) goes in replica `r` to labeler `(p + r) mod L`: with at most L replicas, no
labeler sees an image twice, and each replica job holds only its labeler's copies (one job per replica dataset and
labeler, found again by lineage like every job of a round). After a replica's gate the replicas' annotations are
read back (`annotations.list`), and each image's agreement is the mean pairwise F1 of its replicas
(`labelrounds.quality.consensus`). With dynamic overlap the images under the threshold get one more replica, up
to the maximum; then the agreeing images get the merged annotation written onto the originals
(`annotations.bulk.add` replaces an image's annotation whole, so a re-run writes it again, never twice), and the
rest go to one adjudication job per dataset for the adjudicator, over the originals, with the disagreement in the
job's description. At the end the figures are kept on the first replica's jobs (customData, beside the lineage)
so a re-run of a finished round changes nothing, and the replica images are removed unless kept for audit (the
server refuses to remove a dataset that jobs are built on, which keeps the jobs' history: the replica datasets
stay, empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labelrounds.client import AmbiguousWriteError, Filter, SuperviselyClient
from labelrounds.client.models import Annotation, DatasetInfo, LabelingJobInfo
from labelrounds.planning import job_name, share_key
from labelrounds.quality.consensus import agreement_tables, agreement_with_consensus, merge_many
from labelrounds.round_spec import ConsensusSpec, RoundSpec
from labelrounds.steps.errors import RoundError, UnresolvedWriteError
from labelrounds.steps.lineage import (
    JobLineage,
    JobSettings,
    PlannedJob,
    create_or_adopt,
    create_round_jobs,
    list_round_jobs,
    records_frame,
)
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import LABELING_ROLES, find_users, team_roles

#: customData key of replica datasets (their lineage) and of the first replica's jobs (the round's figures).
CONSENSUS_KEY = "labelrounds_consensus"
#: Columns of the agreement frame: one row per image of the round.
AGREEMENT_COLUMNS: tuple[str, ...] = ("dataset_id", "image_id", "image_name", "replicas", "agreement")
#: Most characters of an adjudication job's description (the disagreement summary is cut to fit).
DESCRIPTION_LIMIT = 4000


class LabelerAgreement(BaseModel):
    """One labeler's agreement with the consensus: images compared and mean F1 of their replica against it."""

    model_config = ConfigDict(frozen=True)

    images: int = Field(ge=0)
    f1: float = Field(ge=0, le=1)


class ConsensusFigures(BaseModel):
    """What a consensus round did: images, labels (cost), agreement, merged and adjudicated images."""

    model_config = ConfigDict(frozen=True)

    images: int = Field(ge=0)
    labels: int = Field(ge=0, description="Replica images labeled plus adjudicated images.")
    first_pass_labels: int = Field(ge=0, description="Replica images of the first pass (images x overlap).")
    replicas: int = Field(ge=0, description="Replicas made (the dynamic ones included).")
    mean_agreement: float = Field(ge=0, le=1)
    merged: int = Field(ge=0)
    adjudicated: int = Field(ge=0)
    per_labeler: dict[str, LabelerAgreement] = Field(default_factory=dict)
    job_ids: list[int] = Field(default_factory=list, description="Every replica and adjudication job.")

    @property
    def labels_per_image(self) -> float:
        """Labels per image of the round (1.0 is a single pass)."""
        return self.labels / self.images if self.images else 0.0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"consensus: {self.images} images, {self.labels_per_image:.2f} labels per image over {self.replicas} "
            f"replicas, mean agreement {self.mean_agreement:.3f}; {self.merged} merged, {self.adjudicated} "
            "adjudicated"
        )


@dataclass(frozen=True)
class ReplicaDataset:
    """One replica dataset of one round dataset."""

    source: DatasetInfo
    replica: int
    dataset: DatasetInfo


# --- pure planning ------------------------------------------------------------------------------------------------


def replica_dataset_name(round_name: str, replica: int) -> str:
    """The name of replica `replica` (from 0) of a round dataset, e.g. `lemons-1 replica 2`."""
    return f"{round_name} replica {replica + 1}"


def replica_labelers(selected: pd.DataFrame, logins: Sequence[str], replica: int) -> dict[int, str]:
    """The labeler of each selected image in replica `replica`: image `p` (by dataset, then id) goes to labeler
    `(p + replica) mod L`, so replicas 0..L-1 of one image have distinct labelers; pure."""
    if not logins:
        raise RoundError("a consensus round needs labelers")
    ordered = selected.sort_values(["dataset_id", "image_id"])["image_id"]
    return {
        int(image_id): logins[(position + replica) % len(logins)] for position, image_id in enumerate(ordered)
    }


def images_for_next_replica(
    agreement: pd.DataFrame, consensus: ConsensusSpec, replicas_done: int
) -> list[int]:
    """The images that get replica `replicas_done`: those under the threshold with every replica so far, while the
    maximum overlap allows one more (none with a fixed overlap); pure."""
    if replicas_done >= consensus.most_replicas:
        return []
    flagged = agreement[
        (agreement["replicas"] == replicas_done) & (agreement["agreement"] < consensus.agreement_threshold)
    ]
    return sorted(int(image_id) for image_id in flagged["image_id"])


def disagreement_summary(rows: pd.DataFrame, limit: int = DESCRIPTION_LIMIT) -> str:
    """The adjudication job's description: each image's agreement and replicas, lowest first, cut to `limit`."""
    head = (
        f"Consensus adjudication: {len(rows)} images whose replicas disagree (agreement = mean pairwise F1)."
    )
    lines = [head]
    for row in rows.sort_values(["agreement", "image_id"]).itertuples(index=False):
        lines.append(
            f"- {row.image_name} (id {row.image_id}): agreement {row.agreement:.2f} over {row.replicas}"
        )
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    return text[: limit - 20].rsplit("\n", 1)[0] + "\n- … (more images)"


# --- validation ---------------------------------------------------------------------------------------------------


async def adjudicator_problems(
    api: SuperviselyClient, spec: RoundSpec, team_id: int, team_name: str
) -> list[str]:
    """The adjudicator is a labeler or the reviewer of the round, or a team member who may label (else a problem)."""
    if spec.consensus is None:
        return []
    login = spec.consensus.adjudicator
    people = {labeler.login.lower() for labeler in spec.labelers} | {spec.reviewer.login.lower()}
    if login.lower() in people:
        return []
    role = (await team_roles(api, team_id, [login])).get(login)
    if role is None:
        return [f"consensus.adjudicator {login!r} is not in team {team_name!r} nor a person of the round"]
    if role not in LABELING_ROLES:
        return [
            f"consensus.adjudicator {login!r} is {role or 'without a role'} in team {team_name!r} and cannot label"
        ]
    return []


async def adjudicator_id(
    api: SuperviselyClient, consensus: ConsensusSpec, user_ids: Mapping[str, int]
) -> int:
    """The adjudicator's user id (from the round's people, else looked up)."""
    if consensus.adjudicator in user_ids:
        return user_ids[consensus.adjudicator]
    found = await find_users(api, [consensus.adjudicator])
    if consensus.adjudicator not in found:
        raise RoundError(f"consensus.adjudicator {consensus.adjudicator!r} does not exist")
    return found[consensus.adjudicator].id


# --- replicas -----------------------------------------------------------------------------------------------------


async def ensure_replica_dataset(
    api: SuperviselyClient, target: RoundTarget, source: DatasetInfo, round_name: str, replica: int
) -> DatasetInfo:
    """Make replica `replica` of a round dataset exist once (found by name among its children); return it.

    Raises:
        RoundError: a child dataset has the replica's name but belongs to another round.
        UnresolvedWriteError: the creation's outcome stayed unknown and no such dataset exists.
    """
    name = replica_dataset_name(round_name, replica)
    lineage = {"round": target.round_key, "replica": replica, "source": source.id}
    found = await _child_named(api, target, source, name)
    if found is None:
        try:
            found = await api.create_dataset(
                target.project.id,
                name,
                description=f"Consensus replica {replica + 1} of round {target.round_key} (labelrounds)",
                parent_id=source.id,
                custom_data={CONSENSUS_KEY: lineage},
            )
        except AmbiguousWriteError:
            found = await _child_named(api, target, source, name)
            if found is None:
                raise UnresolvedWriteError(
                    f"creating replica dataset {name!r} had an unknown outcome and no such dataset exists; "
                    "run the round again"
                ) from None
    if found.custom_data.get(CONSENSUS_KEY) != lineage:
        raise RoundError(
            f"dataset {found.name!r} (id {found.id}) under {source.name!r} is not this round's replica"
        )
    return found


async def _child_named(
    api: SuperviselyClient, target: RoundTarget, source: DatasetInfo, name: str
) -> DatasetInfo | None:
    """The child dataset of `source` named `name`, or None."""
    children = await api.list_datasets(target.project.id, parent_id=source.id)
    return next((child for child in children if child.name == name), None)


async def _images_by_name(api: SuperviselyClient, dataset_id: int, names: list[str]) -> dict[str, int]:
    """Image id by name of the dataset's images named in `names`."""
    if not names:
        return {}
    return {image.name: image.id for image in await api.list_images(dataset_id, [Filter.in_("name", names)])}


async def ensure_replica_copies(
    api: SuperviselyClient, replica: DatasetInfo, originals: pd.DataFrame
) -> dict[int, int]:
    """Make a copy of each original image (`image_id`, `image_name`) exist once in the replica, under the original's
    name; return copy id by original id. A lost `images.bulk.add` reply is reconciled by listing again.

    Raises:
        UnresolvedWriteError: a copy's outcome stayed unknown and no such image exists; re-running is safe.
    """
    names = [str(name) for name in originals["image_name"]]
    existing = await _images_by_name(api, replica.id, names)
    needed = originals[[name not in existing for name in names]]
    if len(needed):
        try:
            copies = await api.copy_images(
                replica.id, [int(i) for i in needed["image_id"]], [str(n) for n in needed["image_name"]]
            )
            existing.update((copy.name, copy.id) for copy in copies)
        except AmbiguousWriteError:
            existing = await _images_by_name(api, replica.id, names)
            lost = sorted(set(needed["image_name"]) - set(existing))
            if lost:
                raise UnresolvedWriteError(
                    f"copying {len(lost)} images into replica dataset {replica.name!r} had an unknown outcome and "
                    "no such image exists; run the round again (it reuses the copies that exist)"
                ) from None
    return {
        int(image_id): existing[str(name)]
        for image_id, name in zip(originals["image_id"], names, strict=True)
    }


async def ensure_replica(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    selected: pd.DataFrame,
    user_ids: Mapping[str, int],
    replica: int,
    image_ids: Iterable[int],
) -> pd.DataFrame:
    """Make replica `replica` of the given selected images exist once: its datasets, copies and one job per
    labeler; return the jobs frame (`lineage.JOB_COLUMNS`).

    Args:
        api: the client (a manager's token).
        target: the resolved round.
        spec: the round (labelers, reviewer, classes, tags).
        selected: the round's selected images (`planning.IMAGE_COLUMNS`).
        user_ids: user id by login of the labelers and the reviewer.
        replica: the replica's index (0 for the first).
        image_ids: the original images this replica holds (every selected image for the first-pass replicas).
    """
    logins = [labeler.login for labeler in spec.labelers]
    labeler_of = replica_labelers(selected, logins, replica)
    wanted = set(int(i) for i in image_ids)
    planned: list[PlannedJob] = []
    for dataset_id, originals in selected[selected["image_id"].isin(wanted)].groupby("dataset_id", sort=True):
        source = next(dataset for dataset in target.datasets if dataset.id == int(dataset_id))
        dataset = await ensure_replica_dataset(api, target, source, spec.round_name, replica)
        copies = await ensure_replica_copies(api, dataset, originals.sort_values("image_id"))
        by_labeler: dict[str, list[int]] = {}
        for original, copy in copies.items():
            by_labeler.setdefault(labeler_of[original], []).append(copy)
        for login in logins:
            if login not in by_labeler:
                continue
            entity_ids = sorted(by_labeler[login])
            planned.append(
                PlannedJob(
                    lineage=JobLineage(
                        round=target.round_key,
                        dataset=dataset.id,
                        labeler=login,
                        share=share_key(dataset.id, entity_ids),
                        cycle=0,
                    ),
                    name=job_name(spec.round_name, f"{source.name} replica {replica + 1}", login),
                    dataset_name=dataset.name,
                    entity_ids=entity_ids,
                    user_id=user_ids[login],
                    reviewer_id=user_ids[spec.reviewer.login],
                )
            )
    return await create_round_jobs(api, target, spec, planned)


# --- agreement and merge ------------------------------------------------------------------------------------------


async def replica_datasets(
    api: SuperviselyClient, target: RoundTarget, round_name: str
) -> list[ReplicaDataset]:
    """Every replica dataset of the round that exists, by round dataset then replica."""
    found = []
    for source in target.datasets:
        for child in await api.list_datasets(target.project.id, parent_id=source.id):
            lineage = child.custom_data.get(CONSENSUS_KEY)
            if isinstance(lineage, dict) and lineage.get("round") == target.round_key:
                if child.name == replica_dataset_name(round_name, int(lineage.get("replica", -1))):
                    found.append(
                        ReplicaDataset(source=source, replica=int(lineage["replica"]), dataset=child)
                    )
    return sorted(found, key=lambda item: (item.source.id, item.replica))


async def read_replicas(
    api: SuperviselyClient, target: RoundTarget, spec: RoundSpec, selected: pd.DataFrame, replicas: int
) -> dict[int, dict[str, dict[str, Any]]]:
    """Each selected image's replicas among the first `replicas`: original image id → labeler login → that
    labeler's annotation (wire JSON). A copy's original is found by name in its round dataset, its labeler from
    the replica job that holds it.
    """
    datasets = [
        replica
        for replica in await replica_datasets(api, target, spec.round_name)
        if replica.replica < replicas
    ]
    replica_ids = {replica.dataset.id for replica in datasets}
    holder: dict[int, str] = {}
    for job, lineage in await list_round_jobs(api, target.team.id, target.project.id, target.round_key):
        info = await api.get_job(job.id) if lineage.dataset in replica_ids else None
        if info is not None:
            holder.update((entity, lineage.labeler) for entity in info.entity_ids())
    original_by_name = {
        (int(dataset_id), str(name)): int(image_id)
        for dataset_id, name, image_id in zip(
            selected["dataset_id"], selected["image_name"], selected["image_id"], strict=True
        )
    }
    found: dict[int, dict[str, dict[str, Any]]] = {}
    for replica in datasets:
        names = {image.id: image.name for image in await api.list_images(replica.dataset.id)}
        for info in await api.list_annotations(replica.dataset.id):
            original = original_by_name.get((replica.source.id, names.get(info.image_id, "")))
            labeler = holder.get(info.image_id)
            if original is not None and labeler is not None:
                found.setdefault(original, {})[labeler] = info.annotation.to_wire()
    return found


def agreement_frame(
    replicas: Mapping[int, Mapping[str, Mapping[str, Any]]], selected: pd.DataFrame, iou: float
) -> pd.DataFrame:
    """One row per selected image (AGREEMENT_COLUMNS): its replicas and their agreement; pure. An image with fewer
    than two replicas read back (one was lost) cannot be judged: agreement 0, so it goes to the adjudicator."""
    tables = agreement_tables({int(i): replicas.get(int(i), {}) for i in selected["image_id"]}, iou)
    per_image = tables.per_image.rename(columns={"mean_f1": "agreement"})
    per_image.loc[per_image["replicas"] < 2, "agreement"] = 0.0
    frame = selected.loc[:, ["dataset_id", "image_id", "image_name"]].merge(
        per_image, on="image_id", how="left"
    )
    return frame.loc[:, list(AGREEMENT_COLUMNS)].astype({"replicas": "int64", "agreement": "float64"})


async def measure_agreement(
    api: SuperviselyClient, target: RoundTarget, spec: RoundSpec, selected: pd.DataFrame, replicas: int
) -> pd.DataFrame:
    """Read the first `replicas` replicas of the round and measure each image's agreement (AGREEMENT_COLUMNS)."""
    consensus = _consensus(spec)
    return agreement_frame(
        await read_replicas(api, target, spec, selected, replicas), selected, consensus.iou
    )


async def merge_agreeing(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    selected: pd.DataFrame,
    replicas: int,
    agreement: pd.DataFrame,
) -> dict[str, LabelerAgreement]:
    """Write the merged annotation onto every original image at or above the threshold (replacing its annotation,
    so a re-run writes the same labels, never twice); return each labeler's agreement with the consensus."""
    consensus = _consensus(spec)
    drawn = await read_replicas(api, target, spec, selected, replicas)
    agreeing = agreement[agreement["agreement"] >= consensus.agreement_threshold]
    ids = [int(i) for i in agreeing["image_id"]]
    merged = merge_many([list(drawn[i].values()) for i in ids], consensus.iou) if ids else []
    merged_by_image = dict(zip(ids, merged, strict=True))
    for dataset_id, rows in agreeing.groupby("dataset_id"):
        await api.upload_annotations(
            int(dataset_id),
            {int(i): Annotation.model_validate(merged_by_image[int(i)]) for i in rows["image_id"]},
        )
    scores: dict[str, list[float]] = {}
    for image_id, result in merged_by_image.items():
        for login, annotation in drawn[image_id].items():
            scores.setdefault(login, []).append(agreement_with_consensus(annotation, result, consensus.iou))
    return {
        login: LabelerAgreement(images=len(values), f1=sum(values) / len(values))
        for login, values in sorted(scores.items())
    }


async def ensure_adjudication(
    api: SuperviselyClient,
    target: RoundTarget,
    spec: RoundSpec,
    user_ids: Mapping[str, int],
    agreement: pd.DataFrame,
) -> pd.DataFrame:
    """One job per round dataset for the adjudicator over the originals still under the threshold, the
    disagreement in its description; created once (found by lineage); the jobs frame (empty when none)."""
    consensus = _consensus(spec)
    under = agreement[agreement["agreement"] < consensus.agreement_threshold]
    if under.empty:
        return records_frame([])
    adjudicator = await adjudicator_id(api, consensus, user_ids)
    records = []
    for dataset_id, rows in under.groupby("dataset_id", sort=True):
        source = next(dataset for dataset in target.datasets if dataset.id == int(dataset_id))
        entity_ids = sorted(int(i) for i in rows["image_id"])
        job = PlannedJob(
            lineage=JobLineage(
                round=target.round_key,
                dataset=source.id,
                labeler=consensus.adjudicator,
                share=share_key(source.id, entity_ids),
                cycle=0,
            ),
            name=job_name(spec.round_name, f"{source.name} adjudication", consensus.adjudicator),
            dataset_name=source.name,
            entity_ids=entity_ids,
            user_id=adjudicator,
            reviewer_id=user_ids[spec.reviewer.login],
        )
        settings = JobSettings.from_spec(spec).model_copy(update={"description": disagreement_summary(rows)})
        records += await create_or_adopt(
            api,
            team_id=target.team.id,
            project_id=target.project.id,
            round_key=target.round_key,
            planned=[job],
            settings=settings,
        )
    return records_frame(records)


# --- the end: figures kept, replicas removed ----------------------------------------------------------------------


def consensus_figures(
    spec: RoundSpec,
    agreement: pd.DataFrame,
    per_labeler: Mapping[str, LabelerAgreement],
    job_ids: Iterable[int],
) -> ConsensusFigures:
    """The round's figures from the final agreement frame and the labelers' agreement with the consensus; pure."""
    consensus = _consensus(spec)
    under = int((agreement["agreement"] < consensus.agreement_threshold).sum())
    replicas = int(agreement["replicas"].sum())
    return ConsensusFigures(
        images=len(agreement),
        labels=replicas + under,
        first_pass_labels=len(agreement) * consensus.overlap,
        replicas=int(agreement["replicas"].max()) if len(agreement) else 0,
        mean_agreement=float(agreement["agreement"].mean()) if len(agreement) else 1.0,
        merged=len(agreement) - under,
        adjudicated=under,
        per_labeler=dict(per_labeler),
        job_ids=sorted(int(i) for i in job_ids),
    )


def _first_replica_jobs(
    jobs: Sequence[tuple[LabelingJobInfo, JobLineage]], replicas: Sequence[ReplicaDataset]
) -> list[LabelingJobInfo]:
    """The round's jobs over its first replica datasets (where the figures are kept)."""
    first = {replica.dataset.id for replica in replicas if replica.replica == 0}
    return [job for job, lineage in jobs if lineage.dataset in first]


async def record_consensus(
    api: SuperviselyClient, target: RoundTarget, spec: RoundSpec, figures: ConsensusFigures
) -> int:
    """Keep the figures on the first replica's jobs (customData, the lineage kept); return how many changed.
    Idempotent: a job that holds the same figures is left alone."""
    wanted = figures.model_dump(mode="json")
    replicas = await replica_datasets(api, target, spec.round_name)
    jobs = await list_round_jobs(api, target.team.id, target.project.id, target.round_key)
    changed = 0
    for job in _first_replica_jobs(jobs, replicas):
        if job.custom_data.get(CONSENSUS_KEY) != wanted:
            await api.edit_job(job.id, custom_data={**job.custom_data, CONSENSUS_KEY: wanted})
            changed += 1
    return changed


async def recorded_consensus(
    api: SuperviselyClient, target: RoundTarget, spec: RoundSpec
) -> ConsensusFigures | None:
    """The figures an earlier run kept (`record_consensus`), or None when the round's consensus is not done."""
    replicas = await replica_datasets(api, target, spec.round_name)
    jobs = await list_round_jobs(api, target.team.id, target.project.id, target.round_key)
    for job in _first_replica_jobs(jobs, replicas):
        try:
            return ConsensusFigures.model_validate(job.custom_data.get(CONSENSUS_KEY))
        except ValidationError:
            continue
    return None


async def remove_replica_images(api: SuperviselyClient, target: RoundTarget, spec: RoundSpec) -> int:
    """Remove every image of the round's replica datasets (none with `keep_replicas`); return how many. Idempotent.

    The replica datasets themselves stay: the server refuses to remove a dataset that jobs are built on.
    """
    if _consensus(spec).keep_replicas:
        return 0
    ids: list[int] = []
    for replica in await replica_datasets(api, target, spec.round_name):
        ids += [image.id for image in await api.list_images(replica.dataset.id)]
    if ids:
        await api.remove_images(ids)
    return len(ids)


def _consensus(spec: RoundSpec) -> ConsensusSpec:
    """The round's consensus parameters; a RoundError for a round without them."""
    if spec.consensus is None:
        raise RoundError(f"round {spec.round_name!r} is not a consensus round")
    return spec.consensus
