"""Pure planning functions: round and share keys, job names, and the split of images across labelers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from labelrounds.round_spec import ROUND_NAME_MAX_LENGTH, ROUND_NAME_PATTERN, LabelerSpec, SplitStrategy

# Supervisely does not document a maximum job name length; 100 characters stays well inside what the web UI shows.
JOB_NAME_MAX_LENGTH = 100
JOB_NAME_SEPARATOR = " / "

#: Columns of an images frame (one row per image, as `steps.split` lists them); `image_name` only when listed.
IMAGE_COLUMNS: tuple[str, ...] = ("dataset_id", "dataset_name", "image_id", "image_name")
#: Columns an images frame must have to be planned (the plan holds no image names).
PLANNED_IMAGE_COLUMNS: tuple[str, ...] = ("dataset_id", "dataset_name", "image_id")
#: Columns of a plan frame (one row per image and the job share it belongs to).
PLAN_COLUMNS: tuple[str, ...] = (
    "round_key",
    "share_key",
    "job_name",
    "cycle",
    "labeler",
    "dataset_id",
    "dataset_name",
    "image_id",
)


class PlanningError(ValueError):
    """The inputs of a plan are inconsistent (no images, duplicate image ids, no labelers, ...)."""


def round_key(round_name: str, project_id: int) -> str:
    """The identity of a round inside one project, stored in each job's customData: `<round name>@<project id>`."""
    if not re.fullmatch(ROUND_NAME_PATTERN, round_name) or len(round_name) > ROUND_NAME_MAX_LENGTH:
        raise PlanningError(f"round name {round_name!r} is not slug-safe (letters, digits, '.', '_', '-')")
    if project_id <= 0:
        raise PlanningError(f"project id must be positive, got {project_id}")
    return f"{round_name}@{project_id}"


def share_key(dataset_id: int, image_ids: Iterable[int], cycle: int = 0) -> str:
    """A digest of a job's content, order-insensitive: `d<dataset>-c<cycle>-n<count>-<hash of the image ids>`.

    Within a round the shares of one cycle are disjoint, so the key is unique per job of the round.
    """
    ordered = sorted(set(image_ids))
    digest = hashlib.sha256(",".join(map(str, ordered)).encode()).hexdigest()[:12]
    return f"d{dataset_id}-c{cycle}-n{len(ordered)}-{digest}"


def job_name(
    round_name: str, dataset_name: str, labeler: str, cycle: int = 0, parent_job_id: int | None = None
) -> str:
    """The deterministic, human-readable name of a round's job, at most JOB_NAME_MAX_LENGTH characters.

    `round / dataset / labeler` for the first cycle, `round / dataset / labeler / rework <cycle> of #<parent>` for a
    rework job. A name that would be too long is cut and ends with a digest of the full name, so it stays distinct.
    """
    parts = [round_name, dataset_name, labeler]
    if cycle:
        parts.append(f"rework {cycle}" + (f" of #{parent_job_id}" if parent_job_id is not None else ""))
    full = JOB_NAME_SEPARATOR.join(parts)
    if len(full) <= JOB_NAME_MAX_LENGTH:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: JOB_NAME_MAX_LENGTH - len(digest) - 1]}~{digest}"


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` items into integer quotas proportional to `weights` (largest remainder method).

    Exact arithmetic; each quota is the floor or the ceiling of its exact share; ties go to the earlier weight.
    """
    if total < 0:
        raise PlanningError(f"cannot apportion a negative total ({total})")
    if not weights:
        raise PlanningError("cannot apportion without weights")
    exact_weights = [Fraction(weight) for weight in weights]
    if any(weight <= 0 for weight in exact_weights):
        raise PlanningError("weights must be positive")
    weight_sum = sum(exact_weights)
    exact = [total * weight / weight_sum for weight in exact_weights]
    quotas = [int(share) for share in exact]  # floor: every share is non-negative
    leftover = total - sum(quotas)
    by_remainder = sorted(range(len(exact)), key=lambda index: (-(exact[index] - quotas[index]), index))
    for index in by_remainder[:leftover]:
        quotas[index] += 1
    return quotas


def plan_split(
    images: pd.DataFrame,
    labelers: Sequence[LabelerSpec],
    strategy: SplitStrategy,
    round_key: str,
    *,
    round_name: str,
) -> pd.DataFrame:
    """Assign every image to exactly one job share; one row per (image, share), columns PLAN_COLUMNS.

    Images are ordered by (dataset id, image id) and cut into one contiguous run per labeler, in the given labeler
    order, sized by `apportion` (equal weights for `even`, so sizes differ by at most one image). A run that spans
    several datasets becomes one share per dataset, because a job belongs to one dataset. Labelers whose quota is
    zero get no share. The same inputs always give the same plan. The text columns (round key, share key, job
    name, labeler, dataset name) are categoricals; ids are int64 arrays shared with `images` when already so.

    Args:
        images: one row per image with PLANNED_IMAGE_COLUMNS (other columns, names included, are ignored).
        labelers: who labels, in order; only `login` and `weight` are used.
        strategy: even or weighted.
        round_key: the round's key (see `round_key`), copied into every row.
        round_name: the round's name, used for job names.

    Raises:
        PlanningError: no images, duplicate image ids, missing columns, no or duplicate labelers.
    """
    ordered = _checked_images(images)
    logins = _checked_logins(labelers)
    weights = (
        [1.0] * len(logins) if strategy is SplitStrategy.EVEN else [labeler.weight for labeler in labelers]
    )
    # Built column-wise, and the text columns as categoricals (one small code per row, each distinct text once):
    # a million rows as Python rows, or as object columns, cost several hundred MB (issue 14's memory target).
    count = len(ordered)
    labeler = np.repeat(np.arange(len(logins)), apportion(count, weights))
    dataset_ids = ordered["dataset_id"].to_numpy()
    image_ids = ordered["image_id"].to_numpy()
    # A share is a run of one labeler within one dataset (labelers' runs are contiguous, and no login repeats).
    boundary = np.ones(count, dtype=bool)
    boundary[1:] = (dataset_ids[1:] != dataset_ids[:-1]) | (labeler[1:] != labeler[:-1])
    starts = np.flatnonzero(boundary)
    sizes = np.diff(np.append(starts, count))
    dataset_names = ordered["dataset_name"].iloc[starts].to_numpy()  # the shares' rows only
    shares = [
        (
            share_key(int(dataset_ids[start]), image_ids[start : start + size].tolist()),
            job_name(round_name, str(dataset_names[position]), logins[labeler[start]]),
            logins[labeler[start]],
            str(dataset_names[position]),
        )
        for position, (start, size) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True))
    ]
    share_keys, job_names, share_labelers, share_datasets = (
        list(texts) for texts in zip(*shares, strict=True)
    )
    return pd.DataFrame(
        {
            "round_key": repeated_categorical([round_key] * len(shares), sizes),
            "share_key": repeated_categorical(share_keys, sizes),
            "job_name": repeated_categorical(job_names, sizes),
            "cycle": np.zeros(count, dtype="int64"),
            "labeler": repeated_categorical(share_labelers, sizes),
            "dataset_id": dataset_ids,
            "dataset_name": repeated_categorical(share_datasets, sizes),
            "image_id": image_ids,
        },
        columns=list(PLAN_COLUMNS),
        copy=False,
    )


def repeated_categorical(values: Sequence[str], sizes: Sequence[int] | np.ndarray) -> pd.Categorical:
    """A categorical of each value repeated `sizes` times, in order: one small code per row, each text once."""
    categories = list(dict.fromkeys(values))  # distinct, in order of first use
    position = {value: index for index, value in enumerate(categories)}
    codes = np.repeat(
        np.array([position[value] for value in values], dtype=np.int32), np.asarray(sizes, dtype=np.int64)
    )
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))


#: Columns of a plan summary (one row per share), in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "share_key",
    "round_key",
    "job_name",
    "cycle",
    "labeler",
    "dataset_id",
    "dataset_name",
    "images",
    "image_ids",
)


def summarize_plan(plan: pd.DataFrame) -> pd.DataFrame:
    """One row per share of a plan, in order of first appearance: SUMMARY_COLUMNS.

    `image_ids` holds each share's image ids, ascending, as an int64 array (views of one sorted copy of the plan's
    ids: no Python int per image).
    """
    # A categorical's codes: no hashing of a million texts.
    codes, _ = pd.factorize(plan["share_key"], sort=False)
    shares = int(codes.max()) + 1 if len(codes) else 0
    # Factorized codes number shares by first appearance, so their first rows come in the same order.
    first_rows = np.unique(codes, return_index=True)[1]
    head = plan.iloc[first_rows]
    summary = pd.DataFrame(
        {
            column: head[column].to_numpy() if column != "cycle" else head[column].to_numpy(dtype="int64")
            for column in SUMMARY_COLUMNS[:-2]
        }
    )
    summary["images"] = np.bincount(codes, minlength=shares).astype("int64")
    summary["image_ids"] = _sorted_ids_per_share(plan["image_id"].to_numpy(dtype="int64"), codes, shares)
    return summary


def _sorted_ids_per_share(image_ids: np.ndarray, codes: np.ndarray, shares: int) -> np.ndarray:
    """Each share's image ids, ascending, by share code (one sort of the whole column), as an object array."""
    per_share = np.empty(shares, dtype=object)
    if not shares:
        return per_share
    order = np.lexsort((image_ids, codes))
    bounds = np.cumsum(np.bincount(codes, minlength=shares))[:-1]
    for position, ids in enumerate(np.split(image_ids[order], bounds)):
        per_share[position] = ids  # one by one: equal-length arrays would otherwise become a 2-D block
    return per_share


def _checked_images(images: pd.DataFrame) -> pd.DataFrame:
    """The PLANNED_IMAGE_COLUMNS of the images, integer ids and string names, sorted by dataset then image id."""
    missing = [column for column in PLANNED_IMAGE_COLUMNS if column not in images.columns]
    if missing:
        raise PlanningError(f"images frame lacks columns: {', '.join(missing)}")
    if images.empty:
        raise PlanningError("no images to plan")
    # Sorted ids, not a hash table: a million ids cost one 8 MB copy instead of ~40 MB.
    ids = np.sort(images["image_id"].to_numpy(dtype="int64"))
    repeated = np.unique(ids[1:][ids[1:] == ids[:-1]]).tolist()
    del ids
    if repeated:
        raise PlanningError(f"image ids listed twice: {', '.join(map(str, repeated[:10]))}")
    ordered = images.loc[:, list(PLANNED_IMAGE_COLUMNS)].astype({"dataset_id": "int64", "image_id": "int64"})
    if not _is_text(ordered["dataset_name"]):
        ordered["dataset_name"] = ordered["dataset_name"].astype(str)
    if _in_dataset_then_image_order(ordered["dataset_id"].to_numpy(), ordered["image_id"].to_numpy()):
        return ordered.reset_index(drop=True)  # listings come in this order: no sorted copy of a million rows
    return ordered.sort_values(["dataset_id", "image_id"], kind="stable", ignore_index=True)


def _is_text(column: pd.Series) -> bool:
    """Whether every value is a string (a categorical's categories checked, not its rows), in one C pass."""
    values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else column
    return bool(pd.api.types.infer_dtype(values, skipna=False) == "string")


def _in_dataset_then_image_order(dataset_ids: np.ndarray, image_ids: np.ndarray) -> bool:
    """Whether the rows are already sorted by dataset id, then image id."""
    later_dataset = dataset_ids[1:] > dataset_ids[:-1]
    same_dataset = dataset_ids[1:] == dataset_ids[:-1]
    return bool(np.all(later_dataset | (same_dataset & (image_ids[1:] >= image_ids[:-1]))))


def _checked_logins(labelers: Sequence[LabelerSpec]) -> list[str]:
    """The labelers' logins in order; refuses an empty or repeated list."""
    logins = [labeler.login for labeler in labelers]
    if not logins:
        raise PlanningError("no labelers to plan for")
    if len({login.lower() for login in logins}) != len(logins):
        raise PlanningError(f"duplicate labelers in {logins}")
    return logins
