"""Split images: list the round's datasets, select the images to label, and plan who labels which.

"Not yet labeled" means: no labeling job of the project covers the image, except the jobs of this very round,
whatever those jobs' status (archived ones included, since archived work is finished work). This keeps a round's
selection stable when it is re-run while its own jobs progress, and it does not depend on `labelsCount`, which
tag-only labeling never changes. It costs one `jobs.list` plus one `jobs.info` per other job of those datasets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.client.models import DatasetInfo, ProjectMeta
from labelrounds.planning import IMAGE_COLUMNS, plan_split, repeated_categorical
from labelrounds.round_spec import ImageSelection, RoundSpec
from labelrounds.steps.errors import EmptySelectionError, TargetNotFoundError
from labelrounds.steps.lineage import JobLineage
from labelrounds.steps.targets import RoundTarget

_EMPTY_AFTER_MODE = {
    ImageSelection.NOT_YET_LABELED: "every image is already covered by another labeling job of the project",
    ImageSelection.EXPLICIT: "none of the explicit image ids passes the include/exclude tag filters",
}

#: Columns of the listed-images frame: IMAGE_COLUMNS, plus each image's tag ids when listed with tags.
LISTED_COLUMNS: tuple[str, ...] = (*IMAGE_COLUMNS, "tag_ids")


async def list_images(
    api: SuperviselyClient,
    datasets: Sequence[DatasetInfo],
    *,
    with_tags: bool = True,
    with_names: bool = True,
) -> pd.DataFrame:
    """Every image of the datasets (all pages, one listing per dataset), columns LISTED_COLUMNS.

    One dataset after another (the server answers one request at a time anyway). Each listing is decoded straight
    into columns (`list_image_columns`, no model per image), turned into arrays before the next dataset is listed
    (ids stop being Python ints), and the frame takes the arrays over without building rows. The listing asks
    only for ids and names, and tags `with_tags` (without, the frame has no `tag_ids` column). Without
    `with_names` the frame has no `image_name` column: a million names kept as Python strings cost ~75 MB, and
    only gold checks and consensus rounds read them (see `needs_image_names`).
    """
    columns_wanted = [
        column
        for column in LISTED_COLUMNS
        if (with_tags or column != "tag_ids") and (with_names or column != "image_name")
    ]
    parts: dict[str, list[Any]] = {column: [] for column in columns_wanted}  # arrays, and names of datasets
    for dataset in datasets:
        columns = await api.list_image_columns(dataset.id, fields=("tags",) if with_tags else ())
        count = len(columns)
        parts["dataset_id"].append(np.full(count, dataset.id, dtype="int64"))
        parts["dataset_name"].append(dataset.name)
        parts["image_id"].append(np.array(columns.ids, dtype="int64"))
        if with_names:
            parts["image_name"].append(_objects(columns.names))
        if with_tags:
            parts["tag_ids"].append(_objects(columns.tag_ids))
        del columns  # this dataset's Python lists go before the next listing
    counts = [len(ids) for ids in parts["image_id"]]
    # Each column is joined and its datasets' arrays dropped before the next, so only one column exists twice.
    joined = {
        column: repeated_categorical(parts.pop(column), counts)
        if column == "dataset_name"  # one code per image, not one pointer to the dataset's name
        else _joined(parts.pop(column), column)
        for column in columns_wanted
    }
    return pd.DataFrame(joined, columns=columns_wanted, copy=False)


def needs_image_names(spec: RoundSpec) -> bool:
    """Whether a round reads its images' names after selecting them: gold checks and consensus rounds do."""
    return spec.gold is not None or spec.consensus is not None


async def images_in_other_jobs(
    api: SuperviselyClient, team_id: int, project_id: int, dataset_ids: Iterable[int], round_key: str
) -> set[int]:
    """Ids of the images covered by any job of these datasets that does not belong to the round."""
    wanted = set(dataset_ids)
    jobs = await api.list_jobs(team_id, [Filter.eq("projectId", project_id)], show_disabled=True)
    others = [
        job
        for job in jobs
        if job.dataset_id in wanted
        and ((lineage := JobLineage.of(job)) is None or lineage.round != round_key)
    ]
    detailed = await asyncio.gather(*(api.get_job(job.id) for job in others))
    return {entity_id for job in detailed if job is not None for entity_id in job.entity_ids()}


def select_images(
    images: pd.DataFrame, spec: RoundSpec, meta: ProjectMeta | None = None, taken: set[int] | None = None
) -> pd.DataFrame:
    """The images the round labels (pure): tag filters, then the selection mode; columns IMAGE_COLUMNS.

    `image_name` is kept when the listing has it (see `list_images`'s `with_names`).

    Args:
        images: listed images (LISTED_COLUMNS; `tag_ids` needed only with include/exclude tags).
        spec: the round's parameters (selection, explicit ids, include/exclude tags).
        meta: the project meta, needed to resolve tag names when include/exclude tags are given.
        taken: images covered by other jobs (see `images_in_other_jobs`), needed for not_yet_labeled.

    Raises:
        TargetNotFoundError: explicit ids outside the datasets, or unknown filter tags.
        EmptySelectionError: nothing left to label.
    """
    if images.empty:
        raise EmptySelectionError("nothing to label: the round's datasets have no images")
    selected = _apply_tag_filters(images, spec, meta)
    if selected.empty:
        raise EmptySelectionError(
            f"nothing to label: none of {len(images)} images passes the include/exclude tag filters"
        )
    if spec.image_selection is ImageSelection.EXPLICIT:
        unknown = sorted(set(spec.image_ids) - set(images["image_id"]))
        if unknown:
            shown = ", ".join(map(str, unknown[:20])) + (" ..." if len(unknown) > 20 else "")
            raise TargetNotFoundError(f"{len(unknown)} image ids are not in the round's datasets: {shown}")
        selected = selected[selected["image_id"].isin(spec.image_ids)]
    elif spec.image_selection is ImageSelection.NOT_YET_LABELED:
        if taken is None:
            raise ValueError("select_images needs `taken` for the not_yet_labeled selection")
        selected = selected[~selected["image_id"].isin(taken)]
    if selected.empty:
        raise EmptySelectionError(f"nothing to label: {_EMPTY_AFTER_MODE[spec.image_selection]}")
    kept = [column for column in IMAGE_COLUMNS if column in selected.columns]
    return selected.loc[:, kept].reset_index(drop=True)


async def select_round_images(
    api: SuperviselyClient, target: RoundTarget, spec: RoundSpec, meta: ProjectMeta | None = None
) -> pd.DataFrame:
    """List the round's datasets and select the images to label (read-only); see `select_images`.

    The images' names are kept only when the round reads them (`needs_image_names`).

    Args:
        api: the client.
        target: the resolved team, project and datasets.
        spec: the round's parameters.
        meta: the project meta if already fetched; fetched here when the tag filters need it.
    """
    filters_by_tag = bool(spec.include_images_with_tags or spec.exclude_images_with_tags)
    images = await list_images(
        api, target.datasets, with_tags=filters_by_tag, with_names=needs_image_names(spec)
    )
    if meta is None and filters_by_tag:
        meta = await api.get_project_meta(target.project.id)
    taken = None
    if spec.image_selection is ImageSelection.NOT_YET_LABELED:
        taken = await images_in_other_jobs(
            api, target.team.id, target.project.id, target.dataset_ids, target.round_key
        )
    return select_images(images, spec, meta, taken)


def plan_round(selected: pd.DataFrame, target: RoundTarget, spec: RoundSpec) -> pd.DataFrame:
    """The round's plan over already selected images (see `planning.plan_split`)."""
    return plan_split(
        selected, spec.labelers, spec.split_strategy, target.round_key, round_name=spec.round_name
    )


async def split_images(api: SuperviselyClient, target: RoundTarget, spec: RoundSpec) -> pd.DataFrame:
    """List, select and plan: one row per (image, job share), columns `planning.PLAN_COLUMNS`.

    Raises:
        TargetNotFoundError: explicit ids outside the datasets, or unknown filter tags.
        EmptySelectionError: nothing to label.
    """
    return plan_round(await select_round_images(api, target, spec), target, spec)


def _objects(values: Sequence[Any]) -> np.ndarray:
    """An object array of the values (a plain constructor would turn a list of tuples into a 2-D array)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _joined(arrays: list[np.ndarray], column: str) -> np.ndarray:
    """The datasets' arrays of one column end to end (typed empty when there are no datasets)."""
    if not arrays:
        return np.empty(0, dtype=object if column in ("image_name", "tag_ids") else "int64")
    return np.concatenate(arrays)


def _apply_tag_filters(images: pd.DataFrame, spec: RoundSpec, meta: ProjectMeta | None) -> pd.DataFrame:
    """Keep images carrying any include tag (when some are given) and none of the exclude tags."""
    if not spec.include_images_with_tags and not spec.exclude_images_with_tags:
        return images
    if meta is None:
        raise ValueError("select_images needs the project meta to filter by tags")
    round_tags = {tag.name for tag in spec.tags}
    unknown = [
        name
        for name in [*spec.include_images_with_tags, *spec.exclude_images_with_tags]
        if meta.get_tag(name) is None and name not in round_tags
    ]
    if unknown:
        raise TargetNotFoundError(
            f"filter tags are neither in the project meta nor in the round: {', '.join(unknown)}"
        )
    include = _tag_ids(meta, spec.include_images_with_tags)
    exclude = _tag_ids(meta, spec.exclude_images_with_tags)
    keep = [
        (not spec.include_images_with_tags or bool(include & set(tags))) and not (exclude & set(tags))
        for tags in images["tag_ids"]
    ]
    return images[keep]


def _tag_ids(meta: ProjectMeta, names: Sequence[str]) -> set[int]:
    """Server ids of the named tags that exist in the meta (a tag only the round defines has none yet)."""
    return {tag.id for name in names if (tag := meta.get_tag(name)) is not None and tag.id is not None}
